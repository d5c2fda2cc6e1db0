"""Seeded simulations that show what ignoring clustering does to confidence intervals.

>>> table = naive_interval_coverage([0.0, 0.2], n_groups=20, group_size=10, replicates=200, seed=1)
>>> table.columns.tolist()
['icc', 'design effect', 'coverage, OLS ignoring groups', 'coverage, analysis of group means', 'SE ratio']
>>> with_mixed = naive_interval_coverage([0.2], n_groups=20, group_size=10, replicates=20, seed=1, mixed_model=True)
>>> with_mixed.columns.tolist()[-2:]
['coverage, random-intercept mixed model', 'mixed-model refits failed']
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from lmmlib import InputError, MixedModel, ResponseRefit


def naive_interval_coverage(iccs: Sequence[float], n_groups: int = 40, group_size: int = 25,
                            replicates: int = 2000, level: float = 0.95, seed: int = 2024,
                            mixed_model: bool = False) -> pd.DataFrame:
    """Coverage of confidence intervals for a group-level effect when groups are ignored.

    Data are simulated from y_ij = u_i + e_ij with Var(u) = icc and Var(e) = 1 - icc,
    in *n_groups* groups of *group_size*; half the groups have x = 1 (a group-level
    dummy such as school sector), and the true effect of x is 0.  For each icc the
    table gives the share of *replicates* in which the *level* interval covers the
    true value, for

    * OLS on the individual rows, treating them as independent (the naive interval), and
    * a two-sample t interval on the group means (valid here: equal group sizes),

    the design effect ``1 + (group_size - 1) * icc``, and the ratio of the actual
    standard deviation of the estimate to the average naive standard error.

    With *mixed_model* the same simulated data are also fitted, replicate by
    replicate, with a random-intercept model by REML (:class:`lmmlib.ResponseRefit`:
    the design is built once, only y changes), and the table adds the coverage of
    its interval estimate +- t * SE, with t from the t distribution on
    ``n_groups - 2`` degrees of freedom (the between-group degrees of freedom of a
    group-level regressor), and the number of refits that failed the gradient
    check (left out of that coverage).  This takes a few milliseconds per replicate.
    """
    if n_groups < 4 or n_groups % 2:
        raise InputError(f"n_groups must be an even number of at least 4, not {n_groups}")
    if group_size < 2 or replicates < 1:
        raise InputError("group_size must be at least 2 and replicates at least 1")
    if any(not 0 <= icc < 1 for icc in iccs):
        raise InputError(f"each icc must lie in [0, 1); got {list(iccs)}")
    rng = np.random.default_rng(seed)
    half = n_groups // 2
    n = n_groups * group_size
    naive_t = stats.t.ppf(0.5 + level / 2, n - 2)
    means_t = stats.t.ppf(0.5 + level / 2, n_groups - 2)
    refit = _random_intercept_refit(n_groups, group_size) if mixed_model else None
    rows = []
    for icc in iccs:
        u = rng.normal(0, np.sqrt(icc), size=(replicates, n_groups, 1))
        y = u + rng.normal(0, np.sqrt(1 - icc), size=(replicates, n_groups, group_size))
        group_means = y.mean(axis=2)
        treated, control = group_means[:, :half], group_means[:, half:]
        estimate = treated.mean(axis=1) - control.mean(axis=1)
        # naive: pooled residual variance of the individual rows around their arm's mean
        arm = np.concatenate([np.ones(half), np.zeros(half)]).astype(bool)
        resid_ss = (((y[:, arm] - treated.mean(axis=1)[:, None, None]) ** 2).sum(axis=(1, 2))
                    + ((y[:, ~arm] - control.mean(axis=1)[:, None, None]) ** 2).sum(axis=(1, 2)))
        naive_se = np.sqrt(resid_ss / (n - 2) * (2 / (n / 2)))
        pooled_means_var = (treated.var(axis=1, ddof=1) + control.var(axis=1, ddof=1)) / 2
        means_se = np.sqrt(pooled_means_var * 2 / half)
        row = {
            "icc": icc,
            "design effect": 1 + (group_size - 1) * icc,
            "coverage, OLS ignoring groups": float(np.mean(np.abs(estimate) <= naive_t * naive_se)),
            "coverage, analysis of group means": float(np.mean(np.abs(estimate) <= means_t * means_se)),
            "SE ratio": float(estimate.std(ddof=1) / naive_se.mean()),
        }
        if refit is not None:
            covers = [abs(result.beta[1]) <= means_t * result.fixed_se[1]
                      for result in map(refit.refit, y.reshape(replicates, n)) if result.converged]
            row["coverage, random-intercept mixed model"] = float(np.mean(covers)) if covers else np.nan
            row["mixed-model refits failed"] = replicates - len(covers)
        rows.append(row)
    return pd.DataFrame(rows)


def _random_intercept_refit(n_groups: int, group_size: int) -> ResponseRefit:
    """REML refits of y ~ x with a random intercept, x = 1 in the first half of the groups (rows group by group)."""
    group = np.repeat(np.arange(n_groups), group_size)
    layout = pd.DataFrame({"y": np.arange(len(group)) % 3, "x": (group < n_groups // 2).astype(float),
                           "group": group})      # any non-degenerate response: only the design is kept
    return ResponseRefit(MixedModel(layout, "y ~ x + (1 | group)"), reml=True)
