"""Explained variance at each level of a two-level model, and the reduction in each variance component.

Two ways of saying how much a model's predictors explain, both computed from the
variance components of two fits of the same data:

* :func:`explained_variance` -- Snijders & Bosker's R^2 (Snijders & Bosker 1994;
  *Multilevel Analysis*, 2nd ed. 2012, section 7.1) for random-intercept models: the
  proportional reduction in the error of predicting an individual outcome (level 1)
  and the mean outcome of a group of ``n`` (level 2), against the empty model
  ``y ~ 1 + (1 | group)``.  With sigma^2 the residual variance and tau^2 the
  random-intercept variance, F the fitted model and 0 the empty one,

      R^2_1 = 1 - (sigma^2_F + tau^2_F) / (sigma^2_0 + tau^2_0),
      R^2_2 = 1 - (sigma^2_F / n + tau^2_F) / (sigma^2_0 / n + tau^2_0).

* :func:`variance_reduction` -- the proportional reduction in each variance component,
  (baseline - fit) / baseline, as Raudenbush & Bryk (2002, chapter 4) report it for
  sigma^2 and for each random-effect variance.

Both can be negative.  A predictor that varies only within groups lowers sigma^2 and
often *raises* the estimated tau^2 (the variance of a group mean is tau^2 + sigma^2 / n,
and the model keeps that sum about where it was), so its proportional reduction in
tau^2 is negative.  Snijders & Bosker's R^2 cannot decrease when a predictor is added to
a correctly specified model in the population, so a negative or falling estimate
points to chance (few groups) or to a misspecified model; it is reported as it is,
never clipped, and :func:`explained_variance` warns when it happens.

>>> import lmmlib
>>> data = lmmlib.examples.two_level_data()
>>> empty = lmmlib.fit_mixed(data, "y ~ 1 + (1 | group)")
>>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 | group)")
>>> print(lmmlib.explained_variance(fit, empty).round(3).to_string())  # doctest: +NORMALIZE_WHITESPACE
         n  baseline    fit     R2
level
level 1  1     6.646  2.409  0.637
level 2  8     1.943  1.377  0.291
>>> print(lmmlib.variance_reduction(fit, empty).round(3).to_string())  # doctest: +NORMALIZE_WHITESPACE
           baseline    fit  reduction
component
Intercept     1.271  1.229      0.033
residual      5.375  1.180      0.780
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import require_single_factor_independent_errors
from .errors import InputError, LmmlibWarning, warn
from .fitting import MixedFit

#: An R^2 above -NEGLIGIBLE is zero up to rounding (a within-group predictor in balanced data
#: leaves the level-2 R^2 at exactly 0); below it, explained_variance warns.
NEGLIGIBLE = 1e-8


def explained_variance(fit: MixedFit, baseline: MixedFit, group_size: float | None = None) -> pd.DataFrame:
    """Snijders & Bosker's explained variance at level 1 and level 2 of a random-intercept model.

    Parameters
    ----------
    fit
        A random-intercept model, ``y ~ predictors + (1 | group)``.
    baseline
        The empty model ``y ~ 1 + (1 | group)`` of the same response, rows and groups,
        fitted by the same method.
    group_size
        The representative group size ``n`` of the level-2 R^2.  Default: the harmonic
        mean of the group sizes, m / sum(1 / n_i), the value Snijders & Bosker suggest
        for groups of unequal size (it is the group size itself for balanced data).

    Returns
    -------
    DataFrame indexed by ``level`` ("level 1", "level 2"), with columns ``n`` (the
    number of level-1 units whose mean is predicted: 1 at level 1), ``baseline`` and
    ``fit`` (the variance of the prediction error, sigma^2 / n + tau^2, under each
    model) and ``R2`` = 1 - fit / baseline.

    Both fits must use the same method (ML or REML; the variances, and so the R^2,
    differ slightly between the two).  For a model with random slopes Snijders &
    Bosker compute R^2 from the random-intercept model with the same fixed part
    (their formulas for random slopes depend on the predictors' values); refit it
    with ``(1 | group)`` and pass that fit -- a random-slope fit is refused rather
    than given a number that means something else.  A negative R^2 is returned as it
    is, with a warning (see the module's description).
    """
    _check_pair(fit, baseline, "explained_variance")
    for role, candidate in (("fit", fit), ("baseline", baseline)):
        if list(candidate.random_cov.index) != ["Intercept"]:
            suggestion = f"{candidate.model.formula.fixed} + (1 | {candidate.group})"
            raise InputError(
                f"explained_variance: the {role} {candidate.formula!r} has random terms "
                f"{list(candidate.random_cov.index)}; Snijders & Bosker's R^2 is defined for random-intercept "
                f"models. Compute it from the random-intercept model with the same fixed part, "
                f"{suggestion!r}, as they recommend for random-slope models")
    if list(baseline.fixed.index) != ["Intercept"]:
        raise InputError(
            f"explained_variance: the baseline must be the empty model '{baseline.model.formula.response} ~ 1 + "
            f"(1 | {baseline.group})', not {baseline.formula!r} (fixed terms {list(baseline.fixed.index)}); for the "
            "reduction in each variance component against another model use variance_reduction")
    sizes = np.bincount(fit.model.design.group_codes)
    if group_size is None:
        group_size = len(sizes) / float(np.sum(1.0 / sizes))
    elif isinstance(group_size, bool) or not isinstance(group_size, (int, float, np.integer, np.floating)) \
            or not np.isfinite(group_size) or group_size < 1:
        raise InputError(f"explained_variance: group_size must be a number of at least 1 (the size of a "
                         f"representative group), not {group_size!r}")
    n = np.array([1.0, float(group_size)])
    before = baseline.residual_sd ** 2 / n + float(baseline.random_cov.iloc[0, 0])
    after = fit.residual_sd ** 2 / n + float(fit.random_cov.iloc[0, 0])
    table = pd.DataFrame({"n": n, "baseline": before, "fit": after, "R2": 1 - after / before},
                         index=pd.Index(["level 1", "level 2"], name="level"))
    if n[1] == int(n[1]):
        table["n"] = table["n"].astype(int)
    negative = table.index[table["R2"] < -NEGLIGIBLE].tolist()
    if negative:
        warn(f"explained_variance: R^2 is negative at {' and '.join(negative)} "
             f"({', '.join(f'{r:.4g}' for r in table.loc[negative, 'R2'])}): {fit.formula!r} predicts worse than "
             "the empty model. In the population it cannot, so this is chance or a sign of a misspecified "
             "model (Snijders & Bosker 2012, section 7.1)", LmmlibWarning)
    return table


def variance_reduction(fit: MixedFit, baseline: MixedFit) -> pd.DataFrame:
    """Proportional reduction in each variance component, (baseline - fit) / baseline.

    One row per component: the variance of each random effect (named as in
    ``random_cov``: ``Intercept``, a slope's term) and ``residual`` (sigma^2), with
    columns ``baseline``, ``fit`` and ``reduction``.  Covariances are left out: a
    proportional change of a covariance has no meaning as variance explained.

    The two fits must be of the same response, rows and groups, by the same method, and
    have the same random part (the same random-effect columns with the same values):
    an intercept variance means something else when a random slope is added, or when
    the slope's variable is centred differently, so such comparisons are refused.  The
    fixed parts may differ in any way.  Reductions can be negative -- a level-1
    predictor often raises the intercept variance -- and are returned as they are.

    >>> import lmmlib
    >>> data = lmmlib.examples.two_level_data()
    >>> before = lmmlib.fit_mixed(data, "y ~ 1 + (1 + x | group)")
    >>> after = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
    >>> lmmlib.variance_reduction(after, before).index.tolist()
    ['Intercept', 'x', 'residual']
    """
    _check_pair(fit, baseline, "variance_reduction")
    names_fit, names_base = list(fit.random_cov.index), list(baseline.random_cov.index)
    z_fit, z_base = fit.model.design.z, baseline.model.design.z
    if names_fit != names_base or z_fit.shape != z_base.shape or not np.allclose(z_fit, z_base, rtol=1e-12,
                                                                                   atol=1e-12):
        detail = (f"random effects {names_base} and {names_fit}" if names_fit != names_base
                  else "random effects with the same names but other values (a variable centred differently?)")
        raise InputError(
            f"variance_reduction: the fits have different random parts ({detail}); a variance component means "
            f"the same thing in two models only when their random parts are identical. Refit {fit.formula!r} "
            f"with the random part of {baseline.formula!r}")
    before = np.append(np.diag(baseline.random_cov.to_numpy()), baseline.residual_sd ** 2)
    after = np.append(np.diag(fit.random_cov.to_numpy()), fit.residual_sd ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(before > 0, (before - after) / before, np.nan)
    return pd.DataFrame({"baseline": before, "fit": after, "reduction": reduction},
                        index=pd.Index([*names_fit, "residual"], name="component"))


def _check_pair(fit: MixedFit, baseline: MixedFit, caller: str) -> None:
    """Refuse two fits that cannot be compared: not fits, other methods, or other data."""
    for role, candidate in (("fit", fit), ("baseline", baseline)):
        require_single_factor_independent_errors(candidate, caller)
        if not isinstance(candidate, MixedFit):
            raise InputError(f"{caller}: the {role} must be a fit of lmmlib.fit_mixed, not "
                             f"{type(candidate).__name__}")
    if fit.method != baseline.method:
        raise InputError(f"{caller}: the fit is {fit.method} and the baseline {baseline.method}; variance "
                         "components from different methods are not comparable. Fit both by the same method "
                         f"(method={fit.method!r} or method={baseline.method!r})")
    problems = fit.model.same_data_problems(baseline.model)
    if problems:
        raise InputError(f"{caller}: the two fits were not made from the same data ({'; '.join(problems)}); "
                         "fit both models to the same rows, e.g. drop rows with missing values in any "
                         "variable of either model before fitting")
