"""Partial pooling: each group's own least-squares coefficients against the mixed model's.

A group's coefficient in the mixed model is the fixed effect plus the group's conditional
mode, beta_k + b_ik.  It lies between the group's own least-squares estimate and the fixed
effect, pulled towards the latter the more, the less the group's own estimate can be
trusted.  The pull is measured by the reliability of the group's estimate,

    lambda_ik = psi_k^2 / (psi_k^2 + v_ik),   v_ik = sigma^2 [(Z_i'Z_i)^-1]_kk,

the share of the variance of the group's least-squares coefficient that is true variation
between groups (v_ik is its sampling variance).  For a random intercept alone,
lambda_i = psi^2 / (psi^2 + sigma^2 / n_i): small groups are pulled hardest.

With several random terms the pull is a matrix, A_i = Psi (Psi + sigma^2 (Z_i'Z_i)^-1)^-1
(with the fixed effects taken as known): a coefficient is also moved by the group's
deviations in the other terms when they are correlated, or when its predictor is not
centred within the group.  The reliability above is the scalar guide, term by term; it
equals the diagonal of A_i only when Psi and Z_i'Z_i are diagonal.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")
>>> table = shrinkage(fit)
>>> table.columns.tolist()
['group', 'term', 'n', 'least squares', 'mixed model', 'fixed effect', 'reliability']
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import require_single_factor_independent_errors
from .errors import InputError
from .fitting import MixedFit


def shrinkage(fit: MixedFit) -> pd.DataFrame:
    """One row per group and random term: the group's size ``n``, its ``least squares``
    coefficient (NaN when the group has too few rows to estimate it), its ``mixed model``
    coefficient (fixed effect + conditional mode), the ``fixed effect`` and the
    ``reliability`` of its least-squares coefficient.

    The comparison is defined when every random term is also a fixed term and the fixed part
    has nothing else (no level-2 predictors): then both describe the same within-group line.
    """
    require_single_factor_independent_errors(fit, "shrinkage")
    design, names = fit.model.design, list(fit.random_cov.index)
    extra = sorted(set(design.fixed_names) - set(names))
    missing = sorted(set(names) - set(design.fixed_names))
    if extra or missing:
        differences = ([f"the fixed part also has {extra}"] if extra else []) + \
                      ([f"the fixed part lacks {missing}"] if missing else [])
        raise InputError("shrinkage compares each group's least-squares line with the mixed model's, which needs "
                         f"the same terms in the fixed and the random part; here {' and '.join(differences)}. "
                         "Fit the model whose fixed terms all have random effects (no level-2 predictors)")
    psi = np.diag(fit.random_cov.to_numpy())
    sigma2 = fit.residual_sd ** 2
    fixed = fit.fixed["estimate"].reindex(names).to_numpy()
    modes = fit.random_effects
    rows = []
    for code, label in enumerate(design.group_labels):
        rows_of_group = design.group_codes == code
        z, y = design.z[rows_of_group], design.y[rows_of_group]
        n = int(rows_of_group.sum())
        if n > len(names) and np.linalg.matrix_rank(z) == len(names):
            inverse = np.linalg.inv(z.T @ z)
            ols, variance = inverse @ z.T @ y, sigma2 * np.diag(inverse)
        else:
            ols, variance = np.full(len(names), np.nan), np.full(len(names), np.nan)
        mixed = fixed + modes.loc[label].to_numpy()
        for k, term in enumerate(names):
            rows.append({"group": label, "term": term, "n": n, "least squares": ols[k], "mixed model": mixed[k],
                         "fixed effect": fixed[k], "reliability": psi[k] / (psi[k] + variance[k])})
    return pd.DataFrame(rows)
