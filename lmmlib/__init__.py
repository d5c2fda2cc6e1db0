"""lmmlib: the helper library of the textbook *Linear Mixed Models in Python*.

Functions take a pandas DataFrame and return a DataFrame or a small result object.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school", method="REML")
>>> fit.fixed.columns.tolist()
['estimate', 'se', 'z']
"""
from .data import find_nels88, load_hsb, load_nels88
from .display import fixed_decimals, setup_notebook
from .display import fixed_decimals, setup_notebook
from .errors import (ConvergenceError, DataFileMismatchError, DataFileMissingError, InputError,
                     LmmlibError)
from .fitting import (BoundaryWarning, MethodComparison, MixedFit, compare_ml_reml, fit_mixed,
                      intraclass_correlation)
from .lecture_tables import reproduce
from .published import compare_with_published, published_values

__all__ = [
    "load_hsb", "load_nels88", "find_nels88",
    "fit_mixed", "compare_ml_reml", "intraclass_correlation", "MixedFit", "MethodComparison",
    "published_values", "compare_with_published", "reproduce", "fixed_decimals", "setup_notebook",
    "BoundaryWarning", "LmmlibError", "InputError", "DataFileMissingError",
    "DataFileMismatchError", "ConvergenceError",
]
