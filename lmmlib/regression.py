"""Ordinary least squares with the tables that regression software prints.

:func:`fit_ols` checks its input and returns a statsmodels result; the other
functions lay that result out as an analysis-of-variance table, the fit
statistics and the coefficient table, in the form SAS's PROC REG and GLM print
them (which is how the clustered-data lecture shows its regressions).

>>> import pandas as pd
>>> d = pd.DataFrame({"y": [1.0, 3.0, 2.0, 5.0, 4.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0]})
>>> regression_anova(fit_ols(d, "y ~ x"))["DF"].tolist()
[1, 3, 4]
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .checks import require_frame
from .errors import InputError
from .model_frame import regression_matrices


def fit_ols(data: pd.DataFrame, formula: str):
    """Least-squares fit of *formula* (statsmodels), with clear errors for unusable input."""
    require_frame(data, "fit_ols")
    y, x = regression_matrices(formula, data, "fit_ols")
    fit = sm.OLS(y, x).fit()
    if fit.df_resid < 1:
        raise InputError(f"fit_ols: {formula!r} leaves no residual degrees of freedom "
                         f"({int(fit.nobs)} rows, {int(fit.df_model) + 1} coefficients)")
    return fit


def regression_anova(fit) -> pd.DataFrame:
    """Model, Error and Corrected Total rows: DF, Sum of Squares, Mean Square, F, Pr > F."""
    model_df = int(round(fit.df_model))
    error_df = int(round(fit.df_resid))
    model_ms = fit.ess / model_df if model_df else np.nan
    f_value = model_ms / fit.mse_resid if model_df else np.nan
    p_value = float(stats.f.sf(f_value, model_df, error_df)) if model_df else np.nan
    return pd.DataFrame({
        "DF": [model_df, error_df, model_df + error_df],
        "Sum of Squares": [fit.ess, fit.ssr, fit.centered_tss],
        "Mean Square": [model_ms, fit.mse_resid, np.nan],
        "F": [f_value, np.nan, np.nan],
        "Pr > F": [p_value, np.nan, np.nan],
    }, index=pd.Index(["Model", "Error", "Corrected Total"], name="Source"))


def fit_statistics(fit) -> pd.Series:
    """Root MSE, R-Square, Dependent Mean, Adj R-Sq and Coeff Var (100 x Root MSE / mean)."""
    root_mse = float(np.sqrt(fit.mse_resid))
    mean = float(np.mean(fit.model.endog))
    return pd.Series({
        "Root MSE": root_mse, "R-Square": float(fit.rsquared), "Dependent Mean": mean,
        "Adj R-Sq": float(fit.rsquared_adj) if fit.df_model else 0.0, "Coeff Var": 100 * root_mse / mean,
    })


def coefficient_table(fit) -> pd.DataFrame:
    """Estimate, Std. Error, DF, t and Pr > |t| for every coefficient."""
    return pd.DataFrame({
        "Estimate": fit.params, "Std. Error": fit.bse, "DF": int(round(fit.df_resid)),
        "t": fit.tvalues, "Pr > |t|": fit.pvalues,
    })


def ml_f_test(fit) -> pd.Series:
    """The overall F test with the error variance estimated by maximum likelihood (SSE / n).

    Mixed-model software fitting the fixed-effects ANOVA by ML divides by n instead
    of n - p, which inflates F by n / (n - p); the degrees of freedom stay those of
    the least-squares test.
    """
    if not fit.df_model:
        raise InputError("ml_f_test needs a model with at least one term besides the intercept")
    sigma2_ml = fit.ssr / fit.nobs
    f_value = fit.ess / fit.df_model / sigma2_ml
    return pd.Series({"Num DF": int(round(fit.df_model)), "Den DF": int(round(fit.df_resid)),
                      "F": f_value, "p": float(stats.f.sf(f_value, fit.df_model, fit.df_resid))})
