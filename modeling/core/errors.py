"""The errors the torch core raises for bad input. The CLIs print them as one line and exit non-zero."""


class ModelingError(Exception):
    """Base class: a problem with what the caller asked for, not a bug."""


class ConfigError(ModelingError):
    """An unknown preset, an unknown or badly typed override, or inconsistent sizes."""


class ShardError(ModelingError):
    """A manifest or shard that cannot be found, read or trusted."""


class CheckpointError(ModelingError):
    """A checkpoint folder that is missing, incomplete, or of the wrong stage."""
