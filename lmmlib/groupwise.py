"""Group-by-group operations: centring within groups, one OLS fit per group, level-2 columns.

>>> import lmmlib
>>> data = lmmlib.examples.two_level_data()
>>> data["treated"] = (data["group"] > "g15").astype(int)
>>> fits = lmmlib.ols_by_group(data, "y ~ x", group="group", keep=["treated"])
>>> fits.columns.tolist()
['group', 'treated', 'term', 'estimate', 'se', 'lower', 'upper', 'df', 'n', 'r2']
>>> len(fits) == 2 * 30
True
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .checks import plain, require_columns, require_frame, require_group_sizes, require_numeric
from .errors import InputError
from .model_frame import regression_matrices


def center_within_groups(data: pd.DataFrame, column: str, group: str) -> pd.DataFrame:
    """Return a copy of *data* with the group mean of *column* and the centred column added.

    The new columns are ``f"{column}_groupmean"`` (the mean of *column* in the row's
    group) and ``f"{column}_centered"`` (*column* minus that mean), so a level-1
    variable is split into its between-group and within-group parts.

    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": [1, 1, 2, 2], "x": [1.0, 3.0, 10.0, 14.0]})
    >>> center_within_groups(d, "x", "g")[["x_groupmean", "x_centered"]].values.tolist()
    [[2.0, -1.0], [2.0, 1.0], [12.0, -2.0], [12.0, 2.0]]
    """
    require_frame(data, "center_within_groups")
    require_columns(data, [column, group], "center_within_groups")
    require_numeric(data, [column], "center_within_groups")
    if data[column].isna().any():
        raise InputError(f"center_within_groups: column {column!r} has missing values; "
                         "drop or impute them first, so every group mean is defined")
    result = data.copy()
    result[f"{column}_groupmean"] = data.groupby(group)[column].transform("mean")
    result[f"{column}_centered"] = data[column] - result[f"{column}_groupmean"]
    return result


def describe_by_group(data: pd.DataFrame, column: str, group: str) -> pd.DataFrame:
    """Number of rows, mean, standard deviation (n - 1), minimum and maximum of *column* per group.

    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": [1, 1, 2, 2, 2], "y": [1.0, 3.0, 2.0, 4.0, 9.0]})
    >>> describe_by_group(d, "y", "g")["mean"].tolist()
    [2.0, 5.0]
    """
    require_frame(data, "describe_by_group")
    require_columns(data, [column, group], "describe_by_group")
    require_numeric(data, [column], "describe_by_group")
    table = data.groupby(group)[column].agg(["size", "mean", "std", "min", "max"])
    return table.rename(columns={"size": "n", "std": "sd"})


def level2_columns(data: pd.DataFrame, group: str) -> list[str]:
    """Columns whose value never varies within a group: the group-level (level-2) variables.

    >>> import lmmlib
    >>> import pandas as pd
    >>> lmmlib.level2_columns(pd.DataFrame({"g": [1, 1, 2], "size": [9, 9, 4], "x": [0.1, 0.2, 0.3]}), "g")
    ['size']
    """
    require_frame(data, "level2_columns")
    require_columns(data, [group], "level2_columns")
    per_group = data.groupby(group).nunique(dropna=False)
    return [c for c in data.columns if c != group and (per_group[c] <= 1).all()]


def ols_by_group(data: pd.DataFrame, formula: str, group: str, keep: Sequence[str] = (),
                 level: float = 0.95) -> pd.DataFrame:
    """Fit the same least-squares regression separately in every group.

    Returns one row per group and coefficient with columns: the group, the
    level-2 columns named in *keep*, ``term``, ``estimate``, ``se``, ``lower`` and
    ``upper`` (a *level* confidence interval from the t distribution), ``df``
    (residual degrees of freedom), ``n`` (rows in the group) and ``r2``.

    Every group needs more rows than coefficients (and a design of full rank);
    otherwise InputError names the groups concerned.

    >>> import lmmlib
    >>> data = lmmlib.examples.two_level_data()
    >>> one = lmmlib.ols_by_group(data[data.group == "g01"], "y ~ 1", group="group")
    >>> bool(abs(one.loc[0, "estimate"] - data[data.group == "g01"].y.mean()) < 1e-12)
    True
    """
    from scipy import stats  # imported here: scipy.stats takes a third of a second to import
    require_frame(data, "ols_by_group")
    require_columns(data, [group, *keep], "ols_by_group")
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level!r}")
    y, x = regression_matrices(formula, data, "ols_by_group")
    require_group_sizes(data, group, x.shape[1] + 1, f"ols_by_group({formula!r})")
    not_constant = [c for c in keep if (data.groupby(group)[c].nunique(dropna=False) > 1).any()]
    if not_constant:
        raise InputError(f"keep= takes group-level columns only; {not_constant} vary within groups")
    rows = []
    critical_cache: dict[int, float] = {}
    for key, index in data.groupby(group, sort=True).indices.items():
        xg, yg = x.to_numpy()[index], y.to_numpy()[index, 0]
        if np.linalg.matrix_rank(xg) < xg.shape[1]:
            raise InputError(f"ols_by_group: in group {plain(key)!r} the columns of {formula!r} are collinear "
                             "(e.g. a predictor constant within the group); drop that term or the group")
        coef = np.linalg.lstsq(xg, yg, rcond=None)[0]
        df = len(index) - xg.shape[1]
        residual_ss = float(((yg - xg @ coef) ** 2).sum())
        se = np.sqrt(residual_ss / df * np.diag(np.linalg.inv(xg.T @ xg)))
        total_ss = float(((yg - yg.mean()) ** 2).sum())
        r2 = 1 - residual_ss / total_ss if total_ss > 0 else np.nan
        critical = critical_cache.setdefault(df, float(stats.t.ppf(0.5 + level / 2, df)))
        context = {c: data[c].iloc[index[0]] for c in keep}
        for term, b, s in zip(x.columns, coef, se):
            rows.append({group: key, **context, "term": term, "estimate": b, "se": s,
                         "lower": b - critical * s, "upper": b + critical * s,
                         "df": df, "n": len(index), "r2": r2})
    return pd.DataFrame(rows)
