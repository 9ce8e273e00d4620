"""One error type per kind of mistake; the CLI prints their messages without a traceback."""


class QuatonError(Exception):
    """Base of every error quaton raises on purpose; the message says what to change."""


class ConfigError(QuatonError, ValueError):
    """A config is invalid; the message names the dotted key."""


class DataNotFoundError(QuatonError, RuntimeError):
    """A dataset could not be found, read or downloaded."""


class TrainingError(QuatonError, RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


class RunDirError(QuatonError, RuntimeError):
    """A run directory or checkpoint is missing, incomplete or corrupt."""


class OutputPathError(QuatonError, ValueError):
    """An output path cannot be written (read-only, not a directory, no such device); checked before any work."""
