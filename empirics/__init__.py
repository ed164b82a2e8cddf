"""ktiw.empirics: torch models trained on the theory's distributions, many seeds at once."""
