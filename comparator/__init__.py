"""ktiw.comparator: holds measured curves against the theory's predictions and gives verdicts."""
