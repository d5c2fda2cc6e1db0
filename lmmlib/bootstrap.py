"""The parametric bootstrap: likelihood-ratio tests between nested mixed models, and
confidence intervals for any parameter (as lme4's ``bootMer`` and ``confint(method = "boot")``).

When the null hypothesis puts a variance on the boundary of the parameter space,
the chi-square reference distribution of G^2 is wrong, and the 50:50 mixture of
:func:`lmmlib.mixture_pvalue` is only a large-sample approximation.  The
parametric bootstrap replaces both by simulation: it draws many response vectors
from the fitted null (smaller) model, refits both models to each, and refers the
observed G^2 to the G^2 values of those replicates.

Only the response changes between replicates; the rows, the groups and the
design matrices X and Z stay as they are, so each replicate is refitted with
:class:`lmmlib.refit.ResponseRefit`, which recomputes only the cross-products
that involve y.

>>> import lmmlib
>>> data = lmmlib.examples.two_level_data()
>>> slope = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
>>> intercept = lmmlib.fit_mixed(data, "y ~ x + (1 | group)")
>>> result = parametric_bootstrap_lrt(slope, intercept, replicates=19, seed=1, progress=False)
>>> result.replicates, len(result.replicate_g2) + result.failed, result.p_bootstrap
(19, 19, 0.05)

:func:`bootstrap_intervals` simulates from one fit, refits it to every replicate and takes
intervals from the replicates' estimates (percentile, basic or normal).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd

from .checks import require_single_factor_independent_errors
from .display import DisplaysAsTable
from .errors import ConvergenceError, ConvergenceWarning, InputError, warn
from .fitting import MixedFit
from .likelihood_ratio import likelihood_ratio_test
from .profile import natural_parameters, variance_parameters
from .progress import ProgressBar
from .refit import Refitted, ResponseRefit

#: A replicate whose larger model ends more than this below the smaller one's maximum
#: (in -2 log L) stopped short of its optimum and is counted as failed.
NEGATIVE_STATISTIC_TOLERANCE = 1e-6


def simulated_responses(fit: MixedFit, seed: int) -> Iterator[np.ndarray]:
    """Endless draws y* = X beta + Z b* + e* from *fit*'s estimates, for the rows its model used.

    b*_i ~ N(0, Psi) independently for every group, e* ~ N(0, sigma^2 I); the
    draws come from ``numpy.random.default_rng(seed)``, so the same seed gives the
    same sequence.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> first = next(simulated_responses(fit, seed=3))
    >>> first.shape, bool(np.array_equal(first, next(simulated_responses(fit, seed=3))))
    ((240,), True)
    """
    require_single_factor_independent_errors(fit, "simulated responses (the parametric bootstrap)")
    design = fit.model.design
    mean = design.x @ fit.fixed["estimate"].to_numpy()
    codes, labels = design.group_codes, design.group_labels
    # a square factor of Psi that also exists when Psi is singular (a variance on the boundary)
    values, vectors = np.linalg.eigh(fit.random_cov.to_numpy())
    factor = vectors * np.sqrt(np.clip(values, 0.0, None))
    rng = np.random.default_rng(seed)
    while True:
        b = rng.standard_normal((len(labels), factor.shape[0])) @ factor.T
        e = fit.residual_sd * rng.standard_normal(len(mean))
        yield mean + np.einsum("nq,nq->n", design.z, b[codes]) + e


@dataclass(frozen=True, eq=False, repr=False)
class BootstrapLikelihoodRatioTest(DisplaysAsTable):
    """Result of :func:`parametric_bootstrap_lrt`.

    ``replicate_g2`` holds the G^2 of every replicate whose two refits passed the
    gradient check, in the order simulated; ``failed`` counts the others, which
    are left out of ``p_bootstrap``.
    """

    g2: float                    # observed statistic 2 (log L_larger - log L_smaller)
    df: int                      # number of parameters removed
    replicate_g2: np.ndarray     # the statistics of the successful replicates
    p_bootstrap: float           # (1 + #{G2* >= G2}) / (1 + number of successful replicates)
    p_naive: float               # chi-square(df)
    p_boundary: float            # 50:50 mixture of chi-square(df - 1) and chi-square(df)
    method: str
    removed: tuple[str, ...]
    replicates: int              # replicates requested
    failed: int                  # replicates left out because a refit failed
    seed: int

    @property
    def p_bootstrap_se(self) -> float:
        """Monte Carlo standard error of the bootstrap p-value, sqrt(p (1 - p) / B)."""
        return float(np.sqrt(self.p_bootstrap * (1 - self.p_bootstrap) / len(self.replicate_g2)))

    def table(self) -> pd.DataFrame:
        """The test as a one-row DataFrame, with the three p-values side by side."""
        return pd.DataFrame([{
            "G2": self.g2, "df": self.df, "replicates": self.replicates, "failed refits": self.failed,
            "p (chi-square)": self.p_naive, "p (50:50 mixture)": self.p_boundary,
            "p (bootstrap)": self.p_bootstrap, "Monte Carlo SE": self.p_bootstrap_se,
        }])

    def title(self) -> str:
        return (f"Parametric-bootstrap likelihood-ratio test ({self.method}, seed {self.seed}) of removing "
                f"{', '.join(self.removed)}")


def _check_replicates_and_seed(replicates, seed) -> None:
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 1:
        raise InputError(f"replicates must be a whole number of at least 1, not {replicates!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative whole number, so that the result can be "
                         f"reproduced; got {seed!r}")


@dataclass(frozen=True)
class Replicate:
    """One bootstrap refit, in the units of the data: what a statistic of
    :func:`bootstrap_intervals` receives."""

    fixed: pd.Series           # the fixed effects by name
    random_cov: pd.DataFrame   # Psi
    residual_sd: float
    loglik: float


#: interval kinds of :func:`bootstrap_intervals`
INTERVAL_KINDS = ("percentile", "basic", "normal")


def bootstrap_intervals(fit: MixedFit, replicates: int = 1000, level: float = 0.95, kind: str = "percentile",
                        seed: int = 2024, statistic: Callable[[Replicate], pd.Series] | None = None,
                        progress: bool = True) -> pd.DataFrame:
    """Parametric-bootstrap confidence intervals, as lme4's ``confint(fit, method = "boot")``.

    Each replicate simulates a response from *fit* (:func:`simulated_responses`) and refits
    the model by its method (:class:`lmmlib.refit.ResponseRefit`, from the estimate).  By
    default the statistics are the parameters of :func:`lmmlib.profile_intervals` (standard
    deviations, correlations, sigma, fixed effects); *statistic* maps a :class:`Replicate`
    to any Series of numbers instead.  Intervals, from the replicates' values t*:

    - ``percentile``: the alpha/2 and 1 - alpha/2 quantiles of t*;
    - ``basic``: 2 t - those quantiles, swapped;
    - ``normal``: t - bias +- z sd(t*), bias = mean(t*) - t.

    Refits that do not pass the gradient check are left out and counted
    (``attrs["failed"]``, with a warning); ``attrs["replicates"]`` holds the values of the
    replicates kept, for plotting.  The same *seed* gives the same numbers; *progress* draws
    a text progress bar on standard error.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> table = bootstrap_intervals(fit, replicates=50, seed=1, progress=False)
    >>> table.columns.tolist(), table.index.tolist(), table.attrs["failed"]
    (['estimate', 'lower', 'upper'], ['sd(Intercept)', 'sigma', 'Intercept', 'x'], 0)
    """
    require_single_factor_independent_errors(fit, "bootstrap_intervals")
    _check_replicates_and_seed(replicates, seed)
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    if kind not in INTERVAL_KINDS:
        raise InputError(f"kind must be one of {', '.join(INTERVAL_KINDS)}, not {kind!r}")
    statistic = _parameters_of(fit) if statistic is None else statistic
    estimate = pd.Series(statistic(_replicate_of_fit(fit)), dtype=float)
    refit = ResponseRefit.of_fit(fit)
    bar = ProgressBar(replicates, "bootstrap") if progress else None
    values = []
    for done, y in enumerate(islice(simulated_responses(fit, seed), replicates), start=1):
        refitted = refit.refit(y)
        if refitted.converged:
            values.append(pd.Series(statistic(_replicate_of(fit, refitted)), dtype=float))
        if bar:
            bar.update(done)
    failed = replicates - len(values)
    if not values:
        raise ConvergenceError(f"all {replicates} bootstrap refits failed; simplify the random part")
    if failed:
        warn(f"{failed} of {replicates} bootstrap refits were left out: they did not reach an optimum "
             "(gradient check)", ConvergenceWarning)
    draws = pd.DataFrame(values).reset_index(drop=True)
    alpha = 1 - level
    low, high = draws.quantile(alpha / 2), draws.quantile(1 - alpha / 2)
    if kind == "percentile":
        lower, upper = low, high
    elif kind == "basic":
        lower, upper = 2 * estimate - high, 2 * estimate - low
    else:
        from scipy import stats
        centre, spread = 2 * estimate - draws.mean(), draws.std(ddof=1)
        z = stats.norm.ppf(1 - alpha / 2)
        lower, upper = centre - z * spread, centre + z * spread
    table = pd.DataFrame({"estimate": estimate, "lower": lower, "upper": upper})
    table.attrs.update(level=level, kind=kind, seed=int(seed), failed=failed, replicates=draws)
    return table


def _parameters_of(fit: MixedFit) -> Callable[[Replicate], pd.Series]:
    """The default statistic: the parameters named as :func:`lmmlib.profile_intervals` names them."""
    parameters = variance_parameters(fit)
    names = [parameter.name for parameter in parameters]

    def values(replicate: Replicate) -> pd.Series:
        variance = natural_parameters(parameters, replicate.random_cov.to_numpy(), replicate.residual_sd)
        return pd.concat([pd.Series(variance, index=names), replicate.fixed])
    return values


def _replicate_of_fit(fit: MixedFit) -> Replicate:
    return Replicate(fixed=fit.fixed["estimate"], random_cov=fit.random_cov, residual_sd=fit.residual_sd,
                     loglik=fit.loglik)


def _replicate_of(fit: MixedFit, refitted: Refitted) -> Replicate:
    """A refit in the units of the data: Psi = T (sigma^2 Lambda Lambda') T' from the internal coordinates."""
    evaluation, scaling = refitted.evaluation, fit.model.scaling
    psi = scaling @ (evaluation.sigma2 * evaluation.lam @ evaluation.lam.T) @ scaling.T
    return Replicate(fixed=pd.Series(refitted.beta, index=fit.fixed.index),
                     random_cov=pd.DataFrame(psi, index=fit.random_cov.index, columns=fit.random_cov.columns),
                     residual_sd=float(np.sqrt(evaluation.sigma2)), loglik=refitted.loglik)


def parametric_bootstrap_lrt(bigger_fit: MixedFit, smaller_fit: MixedFit, replicates: int = 1000,
                             seed: int = 2024, progress: bool = True) -> BootstrapLikelihoodRatioTest:
    """Bootstrap the likelihood-ratio test of *smaller_fit* against *bigger_fit*, both fitted to the same data.

    Each replicate simulates a response from the smaller (null) fit
    (:func:`simulated_responses`), refits both models to it by their method
    (:class:`ResponseRefit`, each started from its own estimate) and records
    G^2* = 2 (log L*_larger - log L*_smaller).  The p-value is
    (1 + #{G^2* >= G^2}) / (1 + B) over the B replicates whose refits passed the
    gradient check; the others are counted in ``failed`` and reported with a
    warning, never used.  The same *seed* gives the same numbers.  *progress*
    draws a text progress bar on standard error.

    The fits must pass the checks of :func:`lmmlib.likelihood_ratio_test` (nested,
    same method, and under REML the same fixed effects).
    """
    require_single_factor_independent_errors(bigger_fit, "parametric_bootstrap_lrt")
    _check_replicates_and_seed(replicates, seed)
    test = likelihood_ratio_test(bigger_fit, smaller_fit)
    bigger, smaller = ResponseRefit.of_fit(bigger_fit), ResponseRefit.of_fit(smaller_fit)
    bar = ProgressBar(replicates, "bootstrap") if progress else None
    statistics = []
    for done, y in enumerate(islice(simulated_responses(smaller_fit, seed), replicates), start=1):
        statistic = replicate_statistic(bigger.refit(y), smaller.refit(y))
        if statistic is not None:
            statistics.append(statistic)
        if bar:
            bar.update(done)
    failed = replicates - len(statistics)
    if not statistics:
        raise ConvergenceError(f"all {replicates} bootstrap replicates failed to refit; "
                               "simplify the random part of the larger model")
    if failed:
        warn(f"{failed} of {replicates} bootstrap replicates were left out: a refit did not reach an optimum "
             "(gradient check) or the larger model ended below the smaller one", ConvergenceWarning)
    replicate_g2 = np.array(statistics)
    replicate_g2.setflags(write=False)
    return BootstrapLikelihoodRatioTest(
        g2=test.g2, df=test.df, replicate_g2=replicate_g2,
        p_bootstrap=(1 + int(np.sum(replicate_g2 >= test.g2))) / (1 + len(replicate_g2)),
        p_naive=test.p_naive, p_boundary=test.p_boundary, method=test.method, removed=test.removed,
        replicates=replicates, failed=failed, seed=int(seed),
    )


def replicate_statistic(bigger: Refitted, smaller: Refitted) -> float | None:
    """G^2 of one replicate, or None if a refit failed its check or the larger model stopped short."""
    if not (bigger.converged and smaller.converged):
        return None
    statistic = 2 * (bigger.loglik - smaller.loglik)
    if statistic < -NEGATIVE_STATISTIC_TOLERANCE:
        return None
    return max(statistic, 0.0)
