"""Parametric-bootstrap likelihood-ratio tests between nested mixed models.

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
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd

from .display import DisplaysAsTable
from .errors import ConvergenceError, ConvergenceWarning, InputError, warn
from .fitting import MixedFit
from .likelihood_ratio import likelihood_ratio_test
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
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) or replicates < 1:
        raise InputError(f"replicates must be a whole number of at least 1, not {replicates!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a non-negative whole number, so that the result can be "
                         f"reproduced; got {seed!r}")
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
