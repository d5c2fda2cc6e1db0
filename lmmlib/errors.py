"""The errors and warnings of lmmlib: one family each.

Every error says what went wrong and what to do about it.  They all derive from
:class:`LmmlibError`, so ``except lmmlib.LmmlibError`` catches any of them; every
warning derives from :class:`LmmlibWarning`, so
``warnings.simplefilter("error", lmmlib.LmmlibWarning)`` turns them all into errors.

>>> import warnings, lmmlib
>>> issubclass(lmmlib.BoundaryWarning, lmmlib.LmmlibWarning), issubclass(lmmlib.InputError, ValueError)
(True, True)
"""
import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent)


class LmmlibError(Exception):
    """Base class of every error raised by lmmlib."""


class InputError(LmmlibError, ValueError):
    """The data, the formula or the arguments cannot be used as given (the message says why and what to do).

    Example
    -------
    >>> import pandas as pd, lmmlib
    >>> lmmlib.fit_mixed(pd.DataFrame({"y": [1.0]}), "y ~ 1 + (1 | school)")
    Traceback (most recent call last):
    ...
    lmmlib.errors.InputError: the grouping variable of 'y ~ 1 + (1 | school)' needs column 'school' ...
    """


class ConvergenceError(LmmlibError, RuntimeError):
    """The optimizer did not reach a point that passes the checks of an optimum."""


class LmmlibWarning(UserWarning):
    """Base class of every warning issued by lmmlib."""


class BoundaryWarning(LmmlibWarning):
    """An estimate sits on the boundary of the parameter space (a singular fit)."""


class ConvergenceWarning(LmmlibWarning):
    """The optimum passed the gradient check, but the Hessian there is not positive definite."""


class NestingWarning(LmmlibWarning):
    """A grouping factor's labels could mean a nested or a crossed design; the model takes it as crossed."""


class DroppedRowsWarning(LmmlibWarning):
    """Rows with missing values in the model's columns were left out."""


def warn(message: str, category: type[LmmlibWarning]) -> None:
    """Issue *message* as a warning of *category*, attributed to the first caller outside lmmlib.

    However deep inside the package the problem is found, the warning names the line of
    the user's code (or notebook cell) that asked for the fit.
    """
    frame, level = sys._getframe(1), 2    # level 1 is this function
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
