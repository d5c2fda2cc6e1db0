"""The design matrices and the marginal covariance that a fitted mixed model implies.

For group i the Laird-Ware model says y_i ~ N(X_i beta, V_i) with
V_i = Z_i Psi Z_i' + sigma^2 I.  These functions build X_i, Z_i and V_i from a
fit and the rows of any group (or any rows at all, e.g. a grid of predictor
values), so the chapters can show the matrices with numbers in them.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", "school")
>>> V = lmmlib.marginal_covariance(fit, hsb[hsb.school == 1224].head(3))
>>> V.shape
(3, 3)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import patsy

from .checks import require_frame
from .errors import InputError
from .fitting import MixedFit


def _design(side: str, rows: pd.DataFrame, fit: MixedFit) -> pd.DataFrame:
    try:
        return patsy.dmatrix(side, rows, NA_action="raise", return_type="dataframe")
    except patsy.PatsyError as error:
        raise InputError(f"the rows lack what the model {fit.formula!r} (random ~{fit.random}) needs: "
                         f"{error}") from None


def fixed_design(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """X, the fixed-effects regressors of *fit* for *rows* (columns: the fit's fixed terms)."""
    require_frame(rows, "fixed_design")
    x = _design(fit.formula.split("~", 1)[1], rows, fit)
    if list(x.columns) != list(fit.fixed.index):
        raise InputError(f"the rows give fixed terms {list(x.columns)}, the fit has {list(fit.fixed.index)}; "
                         "a factor may have levels missing from these rows")
    return x


def design_matrices(fit: MixedFit, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """X (fixed-effects regressors) and Z (random-effects regressors) of *fit* for *rows*.

    Both keep the index of *rows*; their columns are the fit's fixed terms and random terms.
    """
    return fixed_design(fit, rows), _design(fit.random, rows, fit)


def marginal_covariance(fit: MixedFit, rows: pd.DataFrame) -> pd.DataFrame:
    """V = Z Psi Z' + sigma^2 I for *rows*, treated as members of one group.

    For two rows in different groups the model's covariance is zero; pass the rows
    of a single group to get that group's V_i.
    """
    _, z = design_matrices(fit, rows)
    zm = z.to_numpy()
    v = zm @ fit.random_cov.to_numpy() @ zm.T + fit.residual_sd ** 2 * np.eye(len(rows))
    return pd.DataFrame(v, index=rows.index, columns=rows.index)


def marginal_variance(fit: MixedFit, rows: pd.DataFrame) -> pd.Series:
    """Var(y) = z' Psi z + sigma^2 for each row: how the composite error's variance depends on z.

    >>> import lmmlib, pandas as pd
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", "school")
    >>> variance = float(marginal_variance(fit, pd.DataFrame({"x": [0.0]})).iloc[0])
    >>> bool(abs(variance - fit.random_sd.iloc[0] ** 2 - fit.residual_sd ** 2) < 1e-9)
    True
    """
    _, z = design_matrices(fit, rows)
    zm = z.to_numpy()
    values = np.einsum("ij,jk,ik->i", zm, fit.random_cov.to_numpy(), zm) + fit.residual_sd ** 2
    return pd.Series(values, index=rows.index, name="variance")


def predict_fixed(fit: MixedFit, rows: pd.DataFrame) -> pd.Series:
    """The fixed part X beta_hat of *fit* for *rows*: the fitted mean for a typical group (b_i = 0).

    >>> import lmmlib, pandas as pd
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ cses", "school", random="1 + cses")
    >>> round(float(predict_fixed(fit, pd.DataFrame({"cses": [0.0]})).iloc[0]), 3)
    12.636
    """
    x = fixed_design(fit, rows)
    return pd.Series(x.to_numpy() @ fit.fixed["estimate"].to_numpy(), index=rows.index, name="fitted")
