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

import numpy as np
import pandas as pd

from .display import DisplaysAsTable
from .errors import InputError
from .fitting import MixedFit
from .model_frame import same_partition


def mixture_pvalue(g2: float, df: int) -> float:
    """P-value of *g2* under the 50:50 mixture of chi-square(df - 1) and chi-square(df).

    chi-square(0) is a point mass at zero, so for df = 1 this is half the naive p-value.
    """
    from scipy import stats
    if df < 1:
        raise InputError(f"a boundary-corrected test needs df >= 1, not {df}")
    if g2 < 0:
        raise InputError(f"G^2 must be non-negative; got {g2} (is the larger model's fit short of its optimum?)")
    lower = float(stats.chi2.sf(g2, df - 1)) if df > 1 else float(g2 <= 0)
    return 0.5 * lower + 0.5 * float(stats.chi2.sf(g2, df))


@dataclass(frozen=True, repr=False)
class LikelihoodRatioTest(DisplaysAsTable):
    """Result of :func:`likelihood_ratio_test`; shows itself as its one-row table."""

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

    def title(self) -> str:
        return f"Likelihood-ratio test ({self.method}) of removing {', '.join(self.removed)}"


def covariance_parameter_names(fit: MixedFit, qualified: bool = False) -> set[str]:
    """Names of the free variance-covariance parameters of the random part of *fit*, and of its error
    structures: the serial correlation (``phi(CAR(1) in 'age')``) and the ratios of residual SDs by
    stratum (``delta(group=patient)``) when it has them.

    A covariance is a parameter only between correlated random effects (one block of Psi).  With
    several grouping factors (or *qualified*), each name says its factor: ``var(Intercept | school)``.
    """
    errors = getattr(fit.model, "errors", None)
    structured = set() if errors is None else set(errors.names)
    components = fit.random_components
    several = len(components) > 1 or qualified
    names = set()
    for group, cov, pairs in components:
        effects = list(cov.index)
        where = f" | {group}" if several else ""
        names |= {f"var({effects[row]}{where})" if row == col else f"cov({effects[col]},{effects[row]}{where})"
                  for row, col in pairs}
    return structured | names


def likelihood_ratio_test(larger: MixedFit, smaller: MixedFit) -> LikelihoodRatioTest:
    """Test *smaller* against *larger*, a model that contains it.

    *smaller* must keep a subset of the fixed terms and a subset of the random terms
    of *larger*, and leave out at least one; the data are compared, not only the
    names: both fits must have the same response values in the same rows and groups,
    and the smaller model's X and Z columns must lie in the span of the larger
    model's.  Both must use the same method; under REML the fixed terms must be identical,
    because the restricted likelihood depends on the fixed-effects design (use ML
    to compare fixed effects).  The degrees of freedom are the number of parameters
    left out.  Besides the naive chi-square p-value, ``p_boundary`` gives the
    boundary-corrected one (:func:`mixture_pvalue`) when only random terms (or the
    CAR(1) correlation of the errors, which is 0 on its boundary) are removed, the naive
    one when only fixed terms, an AR(1) correlation (0 inside its range) or ratios of
    residual SDs by stratum (1 inside their range) are removed, and NaN when both kinds
    are removed (test them one at a time).

    >>> import lmmlib
    >>> data = lmmlib.examples.two_level_data()
    >>> full = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
    >>> reduced = lmmlib.fit_mixed(data, "y ~ x + (1 | group)")
    >>> test = lmmlib.likelihood_ratio_test(full, reduced)
    >>> test.df, bool(test.g2 > 0)
    (2, True)
    """
    from scipy import stats
    problems = []
    if larger.method != smaller.method:
        problems.append(f"one fit is {larger.method}, the other {smaller.method}")
    fixed_large, fixed_small = set(larger.fixed.index), set(smaller.fixed.index)
    qualified = len(larger.random_components) > 1 or len(smaller.random_components) > 1
    covariance_large = covariance_parameter_names(larger, qualified)
    covariance_small = covariance_parameter_names(smaller, qualified)
    random_large, random_small = (sorted(f"{name} | {group}" if qualified else name
                                         for group, cov, _ in fit.random_components for name in cov.index)
                                  for fit in (larger, smaller))
    if larger.method == "REML" and fixed_large != fixed_small:
        problems.append("REML likelihoods of models with different fixed effects cannot be compared "
                        f"({sorted(fixed_large)} vs {sorted(fixed_small)}); refit both by ML")
    elif not (fixed_small <= fixed_large and covariance_small <= covariance_large) or (
            fixed_small == fixed_large and covariance_small == covariance_large):
        problems.append(f"the second model (fixed {sorted(fixed_small)}, random {random_small}) is not "
                        f"nested in the first (fixed {sorted(fixed_large)}, random {random_large}); "
                        "check which fit is the larger one")
    if not problems:             # the data only matter for fits that could otherwise be compared
        problems = same_data_problems(larger, smaller)
    if problems:
        raise InputError("likelihood_ratio_test: " + "; ".join(problems))
    removed_random = covariance_large - covariance_small
    removed_fixed = {f"fixed({term})" for term in fixed_large - fixed_small}
    g2 = 2 * (larger.loglik - smaller.loglik)
    if g2 < -1e-6:
        raise InputError(f"the larger model has the lower log-likelihood (G^2 = {g2:.4g}): "
                         "one of the fits stopped short of its optimum")
    g2 = max(g2, 0.0)
    df = len(removed_random) + len(removed_fixed)
    p_naive = float(stats.chi2.sf(g2, df))
    # phi of CAR(1) errors is 0 on the boundary of [0, 1); phi of AR(1) errors is inside (-1, 1), and a ratio
    # of SDs is 1 inside (0, infinity)
    interior = {name for name in removed_random if name.startswith("delta(")
                or name.startswith("phi(") and larger.correlation.structure.lower < 0}
    if removed_random and removed_fixed:
        p_boundary = float("nan")
    elif removed_random and interior:
        p_boundary = p_naive if removed_random == interior else float("nan")
    elif removed_random:
        p_boundary = mixture_pvalue(g2, df)
    else:
        p_boundary = p_naive
    return LikelihoodRatioTest(
        loglik_larger=larger.loglik, loglik_smaller=smaller.loglik, g2=g2, df=df,
        p_naive=p_naive, p_boundary=p_boundary, method=larger.method,
        removed=tuple(sorted(removed_random | removed_fixed)),
    )


def same_data_problems(larger: MixedFit, smaller: MixedFit) -> list[str]:
    """Why two fits cannot be compared as nested models of the same data (empty if they can).

    The response, the rows and the groups of each grouping factor must be identical, and every
    column of the smaller model's X and of its Z for each factor must lie in the span of the
    larger model's (so that a predictor with the same name but other values is caught).
    """
    big, small = _model_parts(larger), _model_parts(smaller)
    if len(big.y) != len(small.y) or not big.index.equals(small.index):
        return [f"the fits were not made from the same data: the models use different rows ({len(big.y)} and "
                f"{len(small.y)})"]
    if not np.array_equal(big.y, small.y):
        return ["the fits were not made from the same data: the responses differ"]
    problems = []
    for factor in small.random:
        if factor not in big.random:
            return [f"the second model's grouping factor {factor!r} is not in the first's ({list(big.random)})"]
        if not same_partition(big.random[factor][0], small.random[factor][0]):
            return [f"the fits were not made from the same data: the rows fall into different groups of {factor!r}"]
    pairs = [("fixed", big.x, small.x)] + [(f"random ({factor})", big.random[factor][1], small.random[factor][1])
                                           for factor in small.random]
    for part, wide, narrow in pairs:
        coefficients = np.linalg.lstsq(wide, narrow, rcond=None)[0]
        left = np.linalg.norm(narrow - wide @ coefficients, axis=0)
        if np.any(left > 1e-8 * np.maximum(np.linalg.norm(narrow, axis=0), 1e-300)):
            problems.append(f"the second model's {part} columns are not in the span of the first's (the same "
                            "names with other values, or a model that is not nested)")
    return problems


@dataclass(frozen=True)
class _Parts:
    index: pd.Index
    y: np.ndarray
    x: np.ndarray
    random: dict          # factor -> (level codes per row, Z columns)


def _model_parts(fit) -> _Parts:
    """The rows, y, X and, per grouping factor, the levels and Z of a one-factor or a multilevel fit."""
    model = fit.model
    if hasattr(model, "groupings"):
        return _Parts(model.frame.index, model.y, model.x,
                      {factor: (model.codes[factor], model.raw_z[factor]) for factor in model.factors})
    design = model.design
    return _Parts(design.frame.index, design.y, design.x, {model.group: (design.group_codes, design.z)})
