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
    """Test the random part of *smaller* against that of *larger* (a nested model).

    Checks that both fits use the same data (rows and groups), the same method and,
    because the REML likelihood depends on the fixed-effects design, the same fixed
    effects when the method is REML; that the random terms of *smaller* are a subset
    of those of *larger*; and computes G^2, its degrees of freedom (the number of
    variance-covariance parameters removed), the naive chi-square p-value and the
    boundary-corrected one (:func:`mixture_pvalue`).

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
    if larger.method == "REML" and list(larger.fixed.index) != list(smaller.fixed.index):
        problems.append("REML likelihoods of models with different fixed effects cannot be compared "
                        f"({list(larger.fixed.index)} vs {list(smaller.fixed.index)}); refit both by ML")
    if not set(smaller.random_cov.index) < set(larger.random_cov.index):
        problems.append(f"the random terms {list(smaller.random_cov.index)} are not a proper subset of "
                        f"{list(larger.random_cov.index)}: the models are not nested; check which fit is larger")
    if problems:
        raise InputError("likelihood_ratio_test: " + "; ".join(problems))
    removed = covariance_parameter_names(larger) - covariance_parameter_names(smaller)
    g2 = 2 * (larger.loglik - smaller.loglik)
    if g2 < -1e-6:
        raise InputError(f"the larger model has the lower log-likelihood (G^2 = {g2:.4g}): "
                         "one of the fits stopped short of its optimum")
    g2 = max(g2, 0.0)
    df = len(removed)
    return LikelihoodRatioTest(
        loglik_larger=larger.loglik, loglik_smaller=smaller.loglik, g2=g2, df=df,
        p_naive=float(stats.chi2.sf(g2, df)), p_boundary=mixture_pvalue(g2, df),
        method=larger.method, removed=tuple(sorted(removed)),
    )
