"""Input checks shared by the loaders and the fitting functions.

Each check raises :class:`lmmlib.errors.InputError` with a message that names
the offending column or group and says how to fix it.

>>> import pandas as pd
>>> from lmmlib.checks import require_columns
>>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "the model")
Traceback (most recent call last):
...
lmmlib.errors.InputError: the model needs column 'b', which the data do not have (columns: 'a') ...
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from .errors import InputError


def require_frame(data: object, what: str) -> pd.DataFrame:
    """Return *data* if it is a non-empty DataFrame, else raise InputError."""
    if not isinstance(data, pd.DataFrame):
        raise InputError(
            f"{what} needs a pandas DataFrame, not {type(data).__name__}; "
            "wrap your data with pandas.DataFrame(...) first"
        )
    if data.empty:
        raise InputError(f"{what} was given an empty DataFrame (no rows or no columns)")
    return data


def require_columns(data: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise InputError naming every column of *columns* missing from *data*."""
    missing = [c for c in columns if c not in data.columns]
    if missing:
        have = ", ".join(repr(c) for c in list(data.columns)[:12])
        if len(data.columns) > 12:
            have += ", ..."
        names = ", ".join(repr(c) for c in missing)
        noun = "column" if len(missing) == 1 else "columns"
        raise InputError(
            f"{what} needs {noun} {names}, which the data do not have (columns: {have}); "
            "check the spelling or add the column to the DataFrame"
        )


def require_numeric(data: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise InputError if any of *columns* is not numeric or holds infinities."""
    for column in columns:
        series = data[column]
        if is_bool_dtype(series) or not is_numeric_dtype(series):
            raise InputError(
                f"{what} needs column {column!r} to be numeric, but it has dtype "
                f"{series.dtype} (first values: {list(series.head(3))}); convert it, "
                f"e.g. data[{column!r}] = pandas.to_numeric(data[{column!r}]), or code "
                "categories as 0/1 indicators"
            )
        if np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).any():
            raise InputError(f"{what}: column {column!r} holds infinite values; remove or fix them")


def plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (so messages read 2, not np.int64(2))."""
    return value.item() if hasattr(value, "item") else value


def require_group_sizes(data: pd.DataFrame, group: str, min_rows: int, what: str) -> None:
    """Raise InputError naming the groups of *group* that have fewer than *min_rows* rows."""
    sizes = data.groupby(group, observed=True).size()
    small = sizes[sizes < min_rows]
    if len(small):
        listed = ", ".join(f"{plain(g)!r} ({n} row{'s' if n != 1 else ''})" for g, n in small.head(5).items())
        more = f" and {len(small) - 5} more" if len(small) > 5 else ""
        raise InputError(
            f"{what} needs at least {min_rows} rows in every group of {group!r}; "
            f"these have fewer: {listed}{more}; drop them or merge them with other groups"
        )


def require_one_grouping_factor(fit, what: str) -> None:
    """Raise InputError when *fit* has several grouping factors, which *what* does not handle yet."""
    factors = getattr(fit, "factors", ())
    if len(factors) > 1:
        raise InputError(f"{what} handles models with one grouping factor; this fit has {len(factors)} "
                         f"({', '.join(factors)}). Use the fit's own estimates and likelihood-ratio tests between "
                         "ML fits (lmmlib.likelihood_ratio_test)")


def require_single_factor_independent_errors(fit, what: str) -> None:
    """Raise InputError when *fit* has several grouping factors, serially correlated errors or a
    variance by stratum, which *what* does not handle yet.

    Functions that rebuild the likelihood, simulate or predict from Psi and sigma alone would
    silently treat the errors as independent with one variance (:mod:`lmmlib.serial`); they refuse
    instead.
    """
    require_one_grouping_factor(fit, what)
    structures = [estimate.structure.label for estimate in (getattr(fit, "correlation", None),
                                                             getattr(fit, "variance", None)) if estimate is not None]
    if structures:
        raise InputError(f"{what} does not yet handle structured level-1 errors ({'; '.join(structures)}): it "
                         "would treat them as independent with one variance. Fit without correlation= and "
                         "variance= for it, or use likelihood-ratio tests and the fit's own estimates")
