"""ktiw.config: the presets shared by ``ktiw train``, ``predict``, ``sweep`` and ``verify``."""
