"""The design matrices and the marginal covariance that a fitted mixed model implies.

For group i the Laird-Ware model says y_i ~ N(X_i beta, V_i) with
V_i = Z_i Psi Z_i' + sigma^2 I.  These functions build X_i, Z_i and V_i from a
fit and the rows of any group (or any rows at all, e.g. a grid of predictor
values), coded as the model codes its own rows (:meth:`lmmlib.MixedModel.matrices_for`).

>>> import lmmlib
>>> data = lmmlib.examples.two_level_data()
>>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
>>> marginal_covariance(fit, data[data.group == "g01"].head(3)).shape
(3, 3)
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import require_columns, require_frame, require_one_grouping_factor
from .errors import InputError
from .fitting import MixedFit


def fixed_design(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """X, the fixed-effects regressors of *fit* for *rows* (columns: the fit's fixed terms)."""
    require_frame(rows, "fixed_design")
    require_one_grouping_factor(fit, "fixed_design")
    return fit.model.fixed_matrix(rows)


def random_design(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """Z, the random-effects regressors of *fit* for *rows* (columns: the fit's random terms)."""
    require_frame(rows, "random_design")
    require_one_grouping_factor(fit, "random_design")
    return fit.model.random_matrix(rows)


def design_matrices(fit: MixedFit, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X (fixed-effects regressors) and Z (random-effects regressors) of *fit* for *rows*.

    Both keep the index of *rows*; their columns are the fit's fixed terms and random terms.
    """
    return fixed_design(fit, rows), random_design(fit, rows)


def marginal_covariance(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """V = Z Psi Z' + sigma^2 R for *rows*, treated as members of one group, in their order.

    R = I for independent errors; for serially correlated errors (:mod:`lmmlib.serial`)
    R has phi^|lag|, the lags being the differences of the rows' times (``CAR1``) or of
    their positions (``AR1``: the rows are consecutive occasions); with a variance by stratum
    (``VarIdent``) sigma^2 R becomes sigma^2 S R S, S holding each row's ratio of SDs.  For two rows in
    different groups the model's covariance is zero; pass the rows of a single group to
    get that group's V_i (its correlation matrix: ``lmmlib.marginal_correlation``).
    """
    zm = random_design(fit, rows).to_numpy()
    scale = _error_scale(fit, rows)
    errors = fit.residual_sd ** 2 * scale[:, None] * _error_correlation(fit, rows) * scale[None, :]
    v = zm @ fit.random_cov.to_numpy() @ zm.T + errors
    return pd.DataFrame(v, index=rows.index, columns=rows.index)


def marginal_correlation(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """The correlation matrix of V for *rows* of one group (see :func:`marginal_covariance`).

    >>> import lmmlib
    >>> data = lmmlib.examples.two_level_data()
    >>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 | group)")
    >>> table = marginal_correlation(fit, data[data.group == "g01"].head(3))
    >>> bool(abs(table.iloc[0, 1] - lmmlib.intraclass_correlation(fit)) < 1e-12)
    True
    """
    v = marginal_covariance(fit, rows)
    sd = np.sqrt(np.diag(v.to_numpy()))
    return v / np.outer(sd, sd)


def _error_correlation(fit: MixedFit, rows: pd.DataFrame) -> np.ndarray:
    """R of the level-1 errors of *rows* (one group, in order): I, or phi^|lag| for serial errors."""
    serial = getattr(fit, "correlation", None)
    if serial is None:
        return np.eye(len(rows))
    time = serial.structure.time
    if time is None:
        where = np.arange(len(rows), dtype=float)
    else:
        require_columns(rows, [time], "the covariance of serially correlated errors")
        where = rows[time].to_numpy(dtype=float)
    return serial.phi ** np.abs(where[:, None] - where[None, :])


def _error_scale(fit: MixedFit, rows: pd.DataFrame) -> np.ndarray:
    """Each row's ratio of its residual SD to the reference stratum's: 1 without a variance by stratum."""
    variance = getattr(fit, "variance", None)
    if variance is None:
        return np.ones(len(rows))
    stratum = variance.structure.stratum
    require_columns(rows, [stratum], "the covariance of errors with a variance by stratum")
    ratios = rows[stratum].map(variance.ratios)
    if ratios.isna().any():
        unknown = sorted(set(rows.loc[ratios.isna(), stratum].astype(str)))
        raise InputError(f"the rows have {stratum!r} values the fit did not estimate a variance for: {unknown}; "
                         f"the fit's strata are {list(variance.ratios.index)}")
    return ratios.to_numpy(dtype=float)


def marginal_variance(fit: MixedFit, rows: pd.DataFrame) -> pd.Series:
    """Var(y) = z' Psi z + sigma^2 delta^2 for each row: how the composite error's variance depends on
    z (serially correlated errors do not change it: R has ones on its diagonal; delta is the row's
    ratio of SDs with a variance by stratum, 1 otherwise).

    >>> import lmmlib, pandas as pd
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> variance = float(marginal_variance(fit, pd.DataFrame({"x": [0.0]})).iloc[0])
    >>> bool(abs(variance - fit.random_sd.iloc[0] ** 2 - fit.residual_sd ** 2) < 1e-9)
    True
    """
    zm = random_design(fit, rows).to_numpy()
    values = (np.einsum("ij,jk,ik->i", zm, fit.random_cov.to_numpy(), zm)
              + (fit.residual_sd * _error_scale(fit, rows)) ** 2)
    return pd.Series(values, index=rows.index, name="variance")


def predict_fixed(fit: MixedFit, rows: pd.DataFrame) -> pd.Series:
    """The fixed part X beta_hat of *fit* for *rows*: the fitted mean for a typical group (b_i = 0).

    >>> import lmmlib, pandas as pd
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")
    >>> float(predict_fixed(fit, pd.DataFrame({"x": [0.0]})).iloc[0]) == float(fit.fixed.loc["Intercept", "estimate"])
    True
    """
    x = fixed_design(fit, rows)
    return pd.Series(x.to_numpy() @ fit.fixed["estimate"].to_numpy(), index=rows.index, name="fitted")
