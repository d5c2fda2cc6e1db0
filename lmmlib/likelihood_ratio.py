"""Likelihood-ratio tests between nested mixed models, with the boundary correction.

Testing whether a variance is zero puts the null value on the edge of the
parameter space, where the usual chi-square reference distribution no longer
applies.  For removing ``k`` random terms of which one variance is on the boundary
(e.g. dropping a random slope together with its covariance with the intercept),
the large-sample null distribution of G^2 is a 50:50 mixture of chi-square
distributions with ``df - 1`` and ``df`` degrees of freedom (Self & Liang 1987;
Stram & Lee 1994).

>>> from scipy import stats
>>> round(mixture_pvalue(9.76, df=2), 4), round(float(stats.chi2.sf(9.76, df=2)), 4)
(0.0047, 0.0076)
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from .errors import InputError
from .fitting import MixedFit


def mixture_pvalue(g2: float, df: int) -> float:
    """P-value of *g2* under the 50:50 mixture of chi-square(df - 1) and chi-square(df).

    chi-square(0) is a point mass at zero, so for df = 1 this is half the naive p-value.
    """
    if df < 1:
        raise InputError(f"a boundary-corrected test needs df >= 1, not {df}")
    if g2 < 0:
        raise InputError(f"G^2 must be non-negative; got {g2} (is the larger model's fit short of its optimum?)")
    lower = float(stats.chi2.sf(g2, df - 1)) if df > 1 else float(g2 <= 0)
    return 0.5 * lower + 0.5 * float(stats.chi2.sf(g2, df))


@dataclass(frozen=True)
class LikelihoodRatioTest:
    """Result of :func:`likelihood_ratio_test`."""

    loglik_larger: float
    loglik_smaller: float
    g2: float
    df: int
    p_naive: float
    p_boundary: float
    method: str
    removed: tuple[str, ...]

    def table(self) -> pd.DataFrame:
        """The test as a one-row DataFrame."""
        return pd.DataFrame([{
            "logLik larger": self.loglik_larger, "logLik smaller": self.loglik_smaller,
            "G2": self.g2, "df": self.df, "p (chi-square)": self.p_naive,
            "p (50:50 mixture)": self.p_boundary,
        }])


def covariance_parameter_names(fit: MixedFit) -> set[str]:
    """Names of the variance-covariance parameters of the random part of *fit*."""
    names = list(fit.random_cov.index)
    variances = {f"var({a})" for a in names}
    covariances = {f"cov({names[k]},{names[m]})" for k in range(len(names)) for m in range(k + 1, len(names))}
    return variances | covariances


def likelihood_ratio_test(larger: MixedFit, smaller: MixedFit) -> LikelihoodRatioTest:
    """Test *smaller* against *larger*, a model that contains it.

    *smaller* must keep a subset of the fixed terms and a subset of the random terms
    of *larger*, and leave out at least one.  Both fits must use the same data (rows,
    groups) and the same method; under REML the fixed terms must be identical,
    because the restricted likelihood depends on the fixed-effects design (use ML
    to compare fixed effects).  The degrees of freedom are the number of parameters
    left out.  Besides the naive chi-square p-value, ``p_boundary`` gives the
    boundary-corrected one (:func:`mixture_pvalue`) when only random terms are
    removed, the naive one when only fixed terms are removed (no variance is then
    on the boundary), and NaN when both are removed (test them one at a time).

    >>> import lmmlib
    >>> hsb = lmmlib.load_hsb()
    >>> full = lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1 + cses")
    >>> reduced = lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1")
    >>> test = lmmlib.likelihood_ratio_test(full, reduced)
    >>> round(test.g2, 2), test.df
    (9.76, 2)
    """
    problems = []
    if larger.method != smaller.method:
        problems.append(f"one fit is {larger.method}, the other {smaller.method}")
    if (larger.n_obs, larger.n_groups, larger.group) != (smaller.n_obs, smaller.n_groups, smaller.group):
        problems.append("the fits use different data (numbers of rows or groups, or grouping column)")
    fixed_large, fixed_small = set(larger.fixed.index), set(smaller.fixed.index)
    random_large, random_small = set(larger.random_cov.index), set(smaller.random_cov.index)
    if larger.method == "REML" and fixed_large != fixed_small:
        problems.append("REML likelihoods of models with different fixed effects cannot be compared "
                        f"({sorted(fixed_large)} vs {sorted(fixed_small)}); refit both by ML")
    elif not (fixed_small <= fixed_large and random_small <= random_large) or (
            fixed_small == fixed_large and random_small == random_large):
        problems.append(f"the second model (fixed {sorted(fixed_small)}, random {sorted(random_small)}) is not "
                        f"nested in the first (fixed {sorted(fixed_large)}, random {sorted(random_large)}); "
                        "check which fit is the larger one")
    if problems:
        raise InputError("likelihood_ratio_test: " + "; ".join(problems))
    removed_random = covariance_parameter_names(larger) - covariance_parameter_names(smaller)
    removed_fixed = {f"fixed({term})" for term in fixed_large - fixed_small}
    g2 = 2 * (larger.loglik - smaller.loglik)
    if g2 < -1e-6:
        raise InputError(f"the larger model has the lower log-likelihood (G^2 = {g2:.4g}): "
                         "one of the fits stopped short of its optimum")
    g2 = max(g2, 0.0)
    df = len(removed_random) + len(removed_fixed)
    p_naive = float(stats.chi2.sf(g2, df))
    if removed_random and removed_fixed:
        p_boundary = float("nan")
    elif removed_random:
        p_boundary = mixture_pvalue(g2, df)
    else:
        p_boundary = p_naive
    return LikelihoodRatioTest(
        loglik_larger=larger.loglik, loglik_smaller=smaller.loglik, g2=g2, df=df,
        p_naive=p_naive, p_boundary=p_boundary, method=larger.method,
        removed=tuple(sorted(removed_random | removed_fixed)),
    )
