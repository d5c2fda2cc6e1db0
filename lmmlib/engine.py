"""A compact profiled-likelihood fitter for two-level linear mixed models.

The model is y = X beta + Z b + e with one grouping factor, b_i ~ N(0, Psi) for
each group and e ~ N(0, sigma^2 I).  Following Bates, Maechler, Bolker and Walker
(2015, section 3), Psi is written as sigma^2 Lambda Lambda' with Lambda a lower-
triangular q x q matrix filled from a parameter vector theta.  For a given theta,
beta and sigma^2 have closed forms, so the optimizer searches over theta only:

* per group, L_i L_i' = Lambda' Z_i'Z_i Lambda + I (a q x q Cholesky factor);
* R_ZX,i = L_i^-1 Lambda' Z_i'X_i,  c_i = L_i^-1 Lambda' Z_i'y;
* R_X'R_X = X'X - sum_i R_ZX,i'R_ZX,i,  R_X' c_beta = X'y - sum_i R_ZX,i' c_i;
* beta_hat = R_X^-1 c_beta and the penalised residual sum of squares
  r^2 = y'y - sum_i |c_i|^2 - |c_beta|^2;
* -2 log L (ML)   = sum_i log|L_i|^2 + n (1 + log(2 pi r^2 / n)),
  -2 log L_R (REML) = sum_i log|L_i|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p))).

Only the per-group cross-products Z_i'Z_i, Z_i'X_i, Z_i'y and the totals X'X,
X'y, y'y enter, so they are computed once and every evaluation works on small
stacked arrays, never on the rows.  theta is unconstrained (the sign of each
diagonal element of Lambda is irrelevant), which keeps quasi-Newton methods from
stalling at a zero diagonal; a final Nelder-Mead pass checks for a better point.

>>> import lmmlib
>>> from lmmlib.engine import fit_lmm
>>> fit = fit_lmm(lmmlib.load_hsb(), "mathach ~ 1", "school", method="REML")
>>> round(float(fit.random_sd["Intercept"]), 3), round(fit.loglik, 2)
(2.935, -23558.4)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy.optimize import minimize

from .errors import ConvergenceError, InputError
from .fitting import (GRADIENT_TOLERANCE, BoundaryWarning, MixedFit, _boundary_messages, _check_method,
                      _model_frame)


@dataclass(frozen=True)
class CrossProducts:
    """The sufficient statistics of the model: per-group and total cross-products."""

    ztz: np.ndarray      # (m, q, q)
    ztx: np.ndarray      # (m, q, p)
    zty: np.ndarray      # (m, q)
    xtx: np.ndarray      # (p, p)
    xty: np.ndarray      # (p,)
    yty: float
    n: int

    @classmethod
    def from_arrays(cls, y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray) -> "CrossProducts":
        codes, _ = pd.factorize(groups)
        m, q, p = codes.max() + 1, z.shape[1], x.shape[1]
        ztz = np.zeros((m, q, q))
        ztx = np.zeros((m, q, p))
        zty = np.zeros((m, q))
        np.add.at(ztz, codes, z[:, :, None] * z[:, None, :])
        np.add.at(ztx, codes, z[:, :, None] * x[:, None, :])
        np.add.at(zty, codes, z * y[:, None])
        return cls(ztz, ztx, zty, x.T @ x, x.T @ y, float(y @ y), len(y))


def lambda_from_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """Lower-triangular Lambda filled column by column from theta (q (q + 1) / 2 values), as lme4 does.

    >>> lambda_from_theta(np.array([1.0, 0.5, 2.0]), 2).tolist()
    [[1.0, 0.0], [0.5, 2.0]]
    """
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    lam = np.zeros((q, q))
    lam[rows[order], cols[order]] = theta
    return lam


def identity_theta(q: int) -> np.ndarray:
    """theta for Lambda = I, the optimizer's starting point."""
    return np.array([1.0 if r == c else 0.0 for c in range(q) for r in range(c, q)])


@dataclass(frozen=True)
class _Solution:
    deviance: float
    beta: np.ndarray
    sigma2: float
    rx: np.ndarray
    lam: np.ndarray


def profiled_deviance(theta: np.ndarray, cp: CrossProducts, reml: bool) -> _Solution:
    """-2 log-likelihood (or restricted log-likelihood) profiled over beta and sigma^2."""
    q, p = cp.ztz.shape[1], cp.xtx.shape[0]
    lam = lambda_from_theta(theta, q)
    inner = np.einsum("ji,mjk,kl->mil", lam, cp.ztz, lam) + np.eye(q)
    chol = np.linalg.cholesky(inner)                                           # (m, q, q)
    rzx = np.linalg.solve(chol, np.einsum("ji,mjp->mip", lam, cp.ztx))         # (m, q, p)
    cu = np.linalg.solve(chol, np.einsum("ji,mj->mi", lam, cp.zty)[..., None])[..., 0]
    rxtrx = cp.xtx - np.einsum("mqi,mqj->ij", rzx, rzx)
    rx = np.linalg.cholesky(rxtrx).T                                           # upper: R_X'R_X
    cbeta = np.linalg.solve(rx.T, cp.xty - np.einsum("mqi,mq->i", rzx, cu))
    beta = np.linalg.solve(rx, cbeta)
    r2 = cp.yty - float(np.sum(cu ** 2)) - float(cbeta @ cbeta)
    logdet_l = 2.0 * float(np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2))))
    dof = cp.n - p if reml else cp.n
    deviance = logdet_l + dof * (1.0 + np.log(2.0 * np.pi * r2 / dof))
    if reml:
        deviance += 2.0 * float(np.sum(np.log(np.abs(np.diag(rx)))))
    return _Solution(deviance=float(deviance), beta=beta, sigma2=r2 / dof, rx=rx, lam=lam)


def _gradient(theta: np.ndarray, cp: CrossProducts, reml: bool, step: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(theta)
    for k in range(len(theta)):
        shift = np.zeros_like(theta)
        shift[k] = step
        grad[k] = (profiled_deviance(theta + shift, cp, reml).deviance
                   - profiled_deviance(theta - shift, cp, reml).deviance) / (2 * step)
    return grad


def fit_lmm(data: pd.DataFrame, formula: str, group: str, random: str = "1", method: str = "REML") -> MixedFit:
    """Fit a two-level linear mixed model by the profiled deviance; returns a :class:`MixedFit`.

    Same arguments and result as :func:`lmmlib.fit_mixed`; ``attempts`` lists the
    optimizer passes and ``gradient_norm`` is the gradient of -2 log L in theta.
    """
    method = _check_method(method)
    reml = method == "REML"
    frame = _model_frame(data, formula, group, random)
    y, x = patsy.dmatrices(formula, frame, NA_action="raise", return_type="dataframe")
    z = patsy.dmatrix(f"~{random}", frame, NA_action="raise", return_type="dataframe")
    if np.linalg.matrix_rank(x.to_numpy()) < x.shape[1]:
        raise InputError(f"the fixed effects of {formula!r} are collinear (the design has rank "
                         f"{np.linalg.matrix_rank(x.to_numpy())} < {x.shape[1]} columns); drop a term")
    cp = CrossProducts.from_arrays(y.to_numpy()[:, 0], x.to_numpy(), z.to_numpy(), frame[group].to_numpy())
    q = z.shape[1]
    start = identity_theta(q)
    objective = lambda t: profiled_deviance(t, cp, reml).deviance  # noqa: E731
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        first = minimize(objective, start, jac=lambda t: _gradient(t, cp, reml), method="BFGS",
                         options={"gtol": 1e-7})
        rows.append({"optimizer": "bfgs", "deviance": first.fun})
        second = minimize(objective, first.x, method="Nelder-Mead",
                          options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000})
        rows.append({"optimizer": "nelder-mead from bfgs", "deviance": second.fun})
    best = first if first.fun <= second.fun else second
    solution = profiled_deviance(best.x, cp, reml)
    gradient = float(np.linalg.norm(_gradient(best.x, cp, reml)))
    # theta is unconstrained, so even a variance on the boundary (a zero column of Lambda)
    # is a stationary point: a gradient that is not small means the optimizers stopped short
    if gradient > GRADIENT_TOLERANCE:
        raise ConvergenceError(f"the {method} fit of {formula} did not converge: gradient norm {gradient:.3g} "
                               f"(accepted: below {GRADIENT_TOLERANCE}); simplify the random part or rescale")
    lam = solution.lam
    names = list(z.columns)
    psi = solution.sigma2 * lam @ lam.T
    random_cov = pd.DataFrame(psi, index=names, columns=names)
    boundary = _boundary_messages(random_cov, solution.sigma2)
    for message in boundary:
        warnings.warn(f"{method} fit of {formula}: {message}", BoundaryWarning, stacklevel=2)
    rx_inverse = np.linalg.inv(solution.rx)
    se = np.sqrt(solution.sigma2 * np.sum(rx_inverse ** 2, axis=1))
    fixed = pd.DataFrame({"estimate": solution.beta, "se": se, "z": solution.beta / se}, index=list(x.columns))
    fixed.index.name = "term"
    attempts = pd.DataFrame(rows).assign(loglik=lambda d: -d["deviance"] / 2, kept=lambda d: d["deviance"] == best.fun)
    return MixedFit(
        formula=formula, group=group, random=random, method=method, n_obs=cp.n, n_groups=cp.ztz.shape[0],
        fixed=fixed, random_cov=random_cov, residual_sd=float(np.sqrt(solution.sigma2)),
        loglik=-solution.deviance / 2, boundary=tuple(boundary),
        attempts=attempts.set_index("optimizer"), gradient_norm=gradient,
    )
