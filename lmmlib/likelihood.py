"""The (restricted) log-likelihood of a mixed model at chosen variance parameters.

A fit reports the maximum.  To see how flat the likelihood is — for instance,
whether a published estimate that differs from ours in the third decimal is a
different optimum or the same ridge — evaluate it at other values of Psi and
sigma, with the fixed effects at their generalised-least-squares estimate:

    ML:   l(Psi, sigma) = -1/2 [ sum_i log|V_i| + r' V^-1 r + n log(2 pi) ]
    REML: l_R = l - 1/2 log|X' V^-1 X| + p/2 log(2 pi)

with V_i = Z_i Psi Z_i' + sigma^2 I and r = y - X beta_hat.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")
>>> abs(loglik_at(fit, fit.random_cov, fit.residual_sd) - fit.loglik) < 1e-6
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .checks import require_single_factor_independent_errors
from .engine import deviance_at
from .errors import InputError
from .fitting import MixedFit


def loglik_at(fit: MixedFit, random_cov, residual_sd: float) -> float:
    """Log-likelihood (ML or REML, as *fit*) of *fit*'s model at Psi = *random_cov* and
    sigma = *residual_sd*, the fixed effects set to their GLS estimate."""
    require_single_factor_independent_errors(fit, "loglik_at")
    model = fit.model
    q = len(fit.random_cov)
    psi = np.atleast_2d(np.asarray(random_cov, dtype=float))
    if psi.shape != (q, q) or not np.allclose(psi, psi.T):
        raise InputError(f"random_cov must be a symmetric {q}x{q} matrix like the fit's Psi")
    if residual_sd <= 0:
        raise InputError(f"residual_sd must be positive, not {residual_sd}")
    inverse = np.linalg.inv(model.scaling)
    internal = inverse @ psi @ inverse.T                  # Psi in the model's internal coordinates
    return -deviance_at(internal, residual_sd ** 2, model.cross_products, reml=fit.method == "REML") / 2


def variance_parameter_se(fit: MixedFit, random_cov=None, residual_sd: float | None = None,
                          step: float = 1e-3) -> pd.DataFrame:
    """Asymptotic standard errors of the variance parameters from the observed information.

    The parameters are the variances and covariances of the random effects and the
    residual variance; their covariance matrix is the inverse of the negative Hessian
    of the (restricted) log-likelihood, computed by central differences of
    :func:`loglik_at` (relative steps *step* and *step*/2, combined by Richardson
    extrapolation).  Because the fixed effects are at their
    GLS estimate, this is the variance-parameter block of the full inverse
    information, as mixed-model software reports it.  Such standard errors are a
    poor basis for tests or intervals (see the random-coefficients chapter).

    By default the information is taken at the fit's estimates; *random_cov* and
    *residual_sd* take it at another point (for instance where another program
    stopped, to compare its standard errors with these).

    >>> import lmmlib
    >>> table = variance_parameter_se(lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)"))
    >>> table.index.tolist()
    ['var(Intercept)', 'var(residual)']
    """
    require_single_factor_independent_errors(fit, "variance_parameter_se")
    names = list(fit.random_cov.index)
    pairs = [(col, row) for row, col in fit.covariance_pairs]
    labels = [f"var({names[k]})" if k == m else f"cov({names[k]},{names[m]})" for k, m in pairs]
    labels.append("var(residual)")
    at_estimate = random_cov is None and residual_sd is None
    psi = np.atleast_2d(np.asarray(fit.random_cov if random_cov is None else random_cov, dtype=float))
    sigma = fit.residual_sd if residual_sd is None else float(residual_sd)
    theta = np.array([psi[k, m] for k, m in pairs] + [sigma ** 2])
    if at_estimate and fit.boundary:
        raise InputError(f"the fit is on the boundary of the parameter space ({'; '.join(fit.boundary)}): "
                         "standard errors from the information matrix are undefined there")

    def loglik(values: np.ndarray) -> float:
        matrix = np.zeros_like(psi)
        for (k, m), value in zip(pairs, values[:-1]):
            matrix[k, m] = matrix[m, k] = value
        return loglik_at(fit, matrix, float(np.sqrt(values[-1])))

    scale = np.maximum(np.abs(theta), 1e-3)
    # Richardson extrapolation removes the h^2 term of the central-difference error
    hessian = (4 * _hessian(loglik, theta, step / 2 * scale) - _hessian(loglik, theta, step * scale)) / 3
    covariance = np.linalg.inv(-hessian)
    return pd.DataFrame({"estimate": theta, "se": np.sqrt(np.diag(covariance))},
                        index=pd.Index(labels, name="parameter"))


def _hessian(function, point: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of a scalar *function* at *point*, one step per coordinate."""
    size = len(point)
    hessian = np.zeros((size, size))
    for a in range(size):
        for b in range(a, size):
            values = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                moved = point.copy()
                moved[a] += sa * steps[a]
                moved[b] += sb * steps[b]
                values.append(function(moved))
            hessian[a, b] = hessian[b, a] = (values[0] - values[1] - values[2] + values[3]) / (4 * steps[a] * steps[b])
    return hessian
