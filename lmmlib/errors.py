"""Exceptions raised by lmmlib.

Every error says what went wrong and what to do about it.  They all derive
from :class:`LmmlibError`, so ``except lmmlib.LmmlibError`` catches any of them.
"""


class LmmlibError(Exception):
    """Base class of every error raised by lmmlib."""


class InputError(LmmlibError, ValueError):
    """The data or arguments handed to a function cannot be used as given.

    Example
    -------
    >>> import pandas as pd, lmmlib
    >>> lmmlib.fit_mixed(pd.DataFrame({"y": [1.0]}), "y ~ 1", group="school")
    Traceback (most recent call last):
    ...
    lmmlib.errors.InputError: the data have no column 'school' ...
    """


class DataFileMissingError(LmmlibError, FileNotFoundError):
    """A data file that is not shipped with the project could not be found."""


class DataFileMismatchError(LmmlibError):
    """A data file was found but is not the file the project expects."""


class ConvergenceError(LmmlibError, RuntimeError):
    """No optimizer reached a point that passes the optimum checks."""
