"""What model checking looks at: residuals at both levels, and the conditional modes of the
random effects with their conditional standard deviations.

Residuals come in two kinds and two scales:

- ``conditional``: y - X beta_hat - Z b_hat, the level-1 errors as the fit estimates them;
  ``standardized`` divides them by sigma_hat (times the row's ratio of SDs with a variance by stratum);
- ``marginal``: y - X beta_hat, which still contain the group's random effects and are
  correlated within groups; ``standardized`` multiplies each group's by the inverse of the
  Cholesky factor of its V_i = Z_i Psi Z_i' + sigma^2 I, which makes them independent
  standard normal under the model (the right input to a normal QQ plot).

:func:`conditional_modes` lays the modes out for a caterpillar plot:
``lmmlib.plots.coefficient_intervals(conditional_modes(fit), fit.model.group, term,
reference=0)`` orders the groups by their mode with an interval for each.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)", method="ML")
>>> scaled = residuals(fit, "marginal", "standardized")
>>> round(float((scaled ** 2).sum()), 6) == fit.model.n_obs        # r'V^-1 r = n at the ML optimum
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .checks import require_single_factor_independent_errors
from .errors import InputError
from .fitting import MixedFit

KINDS, SCALES = ("conditional", "marginal"), ("raw", "standardized")


def _row_ratios(fit: MixedFit) -> np.ndarray:
    """Each row's ratio of its residual SD to sigma: the variance-by-stratum ratios, or 1."""
    errors = getattr(fit.model, "errors", None)
    if getattr(fit, "variance", None) is None or errors is None:
        return np.ones(len(fit.residuals))
    ratios = np.empty(len(fit.residuals))
    ratios[errors.order] = fit.variance.ratios.to_numpy()[errors.strata]
    return ratios


def residuals(fit: MixedFit, kind: str = "conditional", scale: str = "raw") -> pd.Series:
    """The residuals of *fit*, one per row it used (indexed like those rows); see the module."""
    if kind == "marginal" and scale == "standardized":
        require_single_factor_independent_errors(fit, "standardized marginal residuals")
    if kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if scale not in SCALES:
        raise InputError(f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if kind == "conditional":
        raw = fit.residuals
        return raw / (fit.residual_sd * _row_ratios(fit)) if scale == "standardized" else raw
    design = fit.model.design
    raw = design.y - design.x @ fit.fixed["estimate"].to_numpy()
    if scale == "raw":
        return pd.Series(raw, index=fit.residuals.index, name="marginal residual")
    psi, sigma2 = fit.random_cov.to_numpy(), fit.residual_sd ** 2
    scaled = np.empty_like(raw)
    for code in range(len(design.group_labels)):
        rows = np.flatnonzero(design.group_codes == code)
        z = design.z[rows]
        factor = np.linalg.cholesky(z @ psi @ z.T + sigma2 * np.eye(len(rows)))
        scaled[rows] = np.linalg.solve(factor, raw[rows])
    return pd.Series(scaled, index=fit.residuals.index, name="standardized marginal residual")


def conditional_modes(fit: MixedFit, level: float = 0.95) -> pd.DataFrame:
    """The conditional modes of the random effects in long form: one row per group and term with
    the ``estimate`` (the mode), its conditional ``se`` and a *level* interval, mode +- z se
    (given the estimated parameters; it ignores their uncertainty)."""
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    group = fit.model.group
    modes = fit.random_effects.rename_axis(group).reset_index().melt(id_vars=group, var_name="term",
                                                                      value_name="estimate")
    se = fit.random_effects_se.rename_axis(group).reset_index().melt(id_vars=group, var_name="term",
                                                                     value_name="se")
    table = modes.merge(se, on=[group, "term"])
    z = stats.norm.ppf(0.5 + level / 2)
    table["lower"], table["upper"] = table["estimate"] - z * table["se"], table["estimate"] + z * table["se"]
    return table
