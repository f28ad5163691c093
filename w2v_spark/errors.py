"""Errors a user can act on. The CLI prints their one-line message and exits non-zero."""


class W2VError(Exception):
    """Base class: the message names the problem and the fix, in one line."""


class ConfigError(W2VError, ValueError):
    """Bad configuration (flags, config file, paths), detected before Spark starts."""


class DataError(W2VError):
    """The input cannot train a model (empty corpus, vocabulary too small, ...)."""


class TrainingError(W2VError):
    """Training went wrong in a way the settings can fix (the loss diverged)."""
