"""The profiled deviance of a two-level linear mixed model, its gradient, and its minimum.

This module is the numerical core behind :func:`lmmlib.fit_mixed`.  The model is
y = X beta + Z b + e with one grouping factor, b_i ~ N(0, Psi) independently for
each group i and e ~ N(0, sigma^2 I).  Following Bates, Maechler, Bolker and
Walker (2015, section 3), Psi is written sigma^2 Lambda Lambda' with Lambda a
lower-triangular q x q matrix filled from a parameter vector theta.  For a fixed
theta, beta and sigma^2 have closed forms, so the optimizer searches over theta
alone.  With G_i = Z_i'Z_i, F_i = Z_i'X_i and g_i = Z_i'y_i:

* A_i = Lambda' G_i Lambda + I (q x q, positive definite for every theta);
* B_i = Lambda' F_i,  C_i = A_i^-1 B_i,  d_i = A_i^-1 Lambda' g_i;
* W = X'X - sum_i B_i'C_i  (= R_X'R_X in the paper) and
  beta_hat = W^-1 (X'y - sum_i B_i'd_i);
* the penalised residual sum of squares r^2 = y'y - sum_i g_i'Lambda d_i - (X'y - sum_i B_i'd_i)'beta_hat;
* -2 log L (ML)     = sum_i log|A_i| + n (1 + log(2 pi r^2 / n));
* -2 log L_R (REML) = sum_i log|A_i| + log|W| + (n - p)(1 + log(2 pi r^2 / (n - p))).

Only the cross-products G_i, F_i, g_i and the totals X'X, X'y, y'y enter, so they
are computed once (:class:`CrossProducts`) and each evaluation works on arrays with
one small block per group, never on the rows.

The gradient is analytic.  As a matrix D with dDeviance = sum_jk D_jk dLambda_jk:

* log-determinants: 2 sum_i G_i Lambda A_i^-1;
* r^2 (by the envelope theorem, since r^2 is a minimum over beta and u):
  -2 sum_i (Z_i'r_i) u_i' with u_i = d_i - C_i beta and Z_i'r_i = g_i - F_i beta - G_i Lambda u_i,
  multiplied by (n or n - p) / r^2;
* REML's log|W|: -2 sum_i (F_i W^-1 C_i' - G_i Lambda C_i W^-1 C_i').

theta is unconstrained: flipping the sign of a column of Lambda leaves Psi
unchanged, so no bounds are needed and a quasi-Newton method cannot stall on a
bound at zero.  After the optimum is found, the columns are flipped so that the
diagonal is non-negative, as lme4 reports theta.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> groups = np.repeat(np.arange(30), 10)
>>> y = 5 + rng.normal(size=30)[groups] + rng.normal(size=300)
>>> cp = CrossProducts.from_arrays(y, np.ones((300, 1)), np.ones((300, 1)), groups)
>>> optimum = minimize_deviance(cp, reml=True)
>>> optimum.gradient_norm < 1e-6, optimum.hessian_positive_definite
(True, True)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize

#: A diagonal element of Lambda below this (in absolute value) makes the fit singular, as in lme4.
SINGULAR_TOLERANCE = 1e-4


@dataclass(frozen=True)
class CrossProducts:
    """The sufficient statistics of the model: per-group and total cross-products.

    ``ztz``, ``ztx`` and ``zty`` have one block per group, in the order of
    ``groups`` (the distinct group labels in order of first appearance).

    >>> cp = CrossProducts.from_arrays(np.array([1.0, 2.0, 4.0]), np.ones((3, 1)), np.ones((3, 1)),
    ...                                np.array(["a", "a", "b"]))
    >>> cp.zty.tolist(), cp.n, cp.groups.tolist()
    ([[3.0], [4.0]], 3, ['a', 'b'])
    """

    ztz: np.ndarray      # (m, q, q)
    ztx: np.ndarray      # (m, q, p)
    zty: np.ndarray      # (m, q)
    xtx: np.ndarray      # (p, p)
    xty: np.ndarray      # (p,)
    yty: float
    n: int
    groups: np.ndarray   # (m,)

    @classmethod
    def from_arrays(cls, y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray) -> "CrossProducts":
        """Accumulate the cross-products group by group (one weighted bincount per entry).

        One buffer, reused, holds the row-wise products, so the memory used beyond
        the inputs is one column whatever the number of entries.

        >>> y, ones = np.array([1.0, 2.0, 4.0, 8.0]), np.ones((4, 1))
        >>> CrossProducts.from_arrays(y, ones, ones, np.array([7, 9, 7, 9])).zty.ravel().tolist()
        [5.0, 10.0]
        """
        codes, labels = pd.factorize(groups)
        m, q, p = len(labels), z.shape[1], x.shape[1]
        buffer = np.empty(len(codes))

        def per_group(first: np.ndarray, second: np.ndarray) -> np.ndarray:
            return np.bincount(codes, weights=np.multiply(first, second, out=buffer), minlength=m)

        ztz, ztx, zty = np.empty((m, q, q)), np.empty((m, q, p)), np.empty((m, q))
        for a in range(q):
            for b in range(a, q):
                ztz[:, a, b] = ztz[:, b, a] = per_group(z[:, a], z[:, b])
            for c in range(p):
                ztx[:, a, c] = per_group(z[:, a], x[:, c])
            zty[:, a] = per_group(z[:, a], y)
        return cls(ztz, ztx, zty, x.T @ x, x.T @ y, float(y @ y), len(y), np.asarray(labels))

    @property
    def q(self) -> int:
        return self.ztz.shape[1]

    @property
    def p(self) -> int:
        return self.xtx.shape[0]


def theta_positions(q: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of Lambda for each element of theta: the lower triangle, column by column (lme4's order).

    >>> [list(map(int, index)) for index in theta_positions(2)]
    [[0, 1, 1], [0, 0, 1]]
    """
    rows, cols = np.tril_indices(q)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def lambda_from_theta(theta: np.ndarray, q: int) -> np.ndarray:
    """Lower-triangular Lambda filled column by column from theta (q (q + 1) / 2 values).

    >>> lambda_from_theta(np.array([1.0, 0.5, 2.0]), 2).tolist()
    [[1.0, 0.0], [0.5, 2.0]]
    """
    lam = np.zeros((q, q))
    lam[theta_positions(q)] = theta
    return lam


def identity_theta(q: int) -> np.ndarray:
    """theta for Lambda = I, the optimizer's starting point (as in lme4)."""
    rows, cols = theta_positions(q)
    return (rows == cols).astype(float)


@dataclass(frozen=True)
class Evaluation:
    """Everything the profiled deviance computes at one theta."""

    deviance: float
    gradient: np.ndarray   # d deviance / d theta
    beta: np.ndarray       # GLS estimate of the fixed effects
    sigma2: float          # profiled residual variance r^2 / dof
    lam: np.ndarray        # Lambda
    w: np.ndarray          # X'V^-1X sigma^2
    u: np.ndarray          # spherical conditional modes u_i (m, q); b_i = Lambda u_i
    a_inverse: np.ndarray  # A_i^-1 (m, q, q)


@dataclass(frozen=True)
class _Solve:
    """The penalised least-squares solution for one Lambda (any square factor, not only triangular)."""

    lam: np.ndarray
    a_inv: np.ndarray      # A_i^-1
    c: np.ndarray          # C_i = A_i^-1 Lambda' F_i
    d: np.ndarray          # d_i = A_i^-1 Lambda' g_i
    w: np.ndarray          # W = X'X - sum_i B_i'C_i
    beta: np.ndarray
    r2: float              # penalised residual sum of squares
    logdet_a: float        # sum_i log|A_i|


def inverse_and_logdet(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of positive definite q x q matrices.

    For q = 1 and q = 2 (random intercepts, or an intercept and one slope) the
    closed forms are used: elementwise arithmetic on the stack is many times faster
    than a batched LAPACK call when there are many groups.

    >>> inverse, logdet = inverse_and_logdet(np.array([[[2.0, 1.0], [1.0, 3.0]]]))
    >>> np.round(inverse, 2).tolist(), np.round(logdet, 4).tolist()
    ([[[0.6, -0.2], [-0.2, 0.4]]], [1.6094])
    """
    q = a.shape[-1]
    if q == 1:
        return 1.0 / a, np.log(a[:, 0, 0])
    if q == 2:
        det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
        inverse = np.empty_like(a)
        inverse[:, 0, 0], inverse[:, 1, 1] = a[:, 1, 1] / det, a[:, 0, 0] / det
        inverse[:, 0, 1], inverse[:, 1, 0] = -a[:, 0, 1] / det, -a[:, 1, 0] / det
        return inverse, np.log(det)
    return np.linalg.inv(a), np.linalg.slogdet(a)[1]


def _solve(lam: np.ndarray, cp: CrossProducts) -> _Solve:
    a = lam.T @ cp.ztz @ lam + np.eye(cp.q)
    a_inv, logdet_a = inverse_and_logdet(a)
    b = lam.T @ cp.ztx                                    # (m, q, p)
    c = a_inv @ b                                         # (m, q, p)
    lg = cp.zty @ lam                                     # rows are (Lambda' g_i)'
    d = np.einsum("mij,mj->mi", a_inv, lg)
    w = cp.xtx - np.einsum("mqi,mqj->ij", b, c)
    rhs = cp.xty - np.einsum("mqi,mq->i", b, d)
    beta = np.linalg.solve(w, rhs)
    r2 = cp.yty - float(np.sum(lg * d)) - float(rhs @ beta)
    return _Solve(lam=lam, a_inv=a_inv, c=c, d=d, w=w, beta=beta, r2=r2,
                  logdet_a=float(np.sum(logdet_a)))


def evaluate(theta: np.ndarray, cp: CrossProducts, reml: bool) -> Evaluation:
    """The profiled deviance (-2 log L, or -2 log L_R for REML) at theta, with its gradient."""
    lam = lambda_from_theta(theta, cp.q)
    s = _solve(lam, cp)
    dof = cp.n - cp.p if reml else cp.n
    deviance = s.logdet_a + dof * (1.0 + np.log(2.0 * np.pi * s.r2 / dof))
    u = s.d - s.c @ s.beta
    glam = cp.ztz @ lam                                   # G_i Lambda
    ztr = cp.zty - cp.ztx @ s.beta - np.einsum("mij,mj->mi", glam, u)
    grad = 2.0 * np.sum(glam @ s.a_inv, axis=0) - 2.0 * (dof / s.r2) * np.einsum("mi,mj->ij", ztr, u)
    if reml:
        deviance += float(np.linalg.slogdet(s.w)[1])
        cw = s.c @ np.linalg.inv(s.w)                     # C_i W^-1
        grad -= 2.0 * np.sum(cp.ztx @ cw.transpose(0, 2, 1) - glam @ (cw @ s.c.transpose(0, 2, 1)), axis=0)
    return Evaluation(deviance=float(deviance), gradient=grad[theta_positions(cp.q)], beta=s.beta,
                      sigma2=s.r2 / dof, lam=lam, w=s.w, u=u, a_inverse=s.a_inv)


def deviance_at(psi: np.ndarray, sigma2: float, cp: CrossProducts, reml: bool) -> float:
    """-2 log L (or -2 log L_R) at Psi and sigma^2 given, beta at its GLS estimate (not profiled).

    ML: sum_i log|A_i| + n log(2 pi sigma^2) + r^2 / sigma^2; REML adds log|W| and uses n - p.
    Psi may be singular: Lambda is taken from its eigen-decomposition.
    """
    values, vectors = np.linalg.eigh(np.asarray(psi, dtype=float) / sigma2)
    s = _solve(vectors * np.sqrt(np.clip(values, 0.0, None)), cp)
    dof = cp.n - cp.p if reml else cp.n
    deviance = s.logdet_a + dof * np.log(2.0 * np.pi * sigma2) + s.r2 / sigma2
    if reml:
        deviance += float(np.linalg.slogdet(s.w)[1])
    return float(deviance)


@dataclass(frozen=True)
class Optimum:
    """The minimum of the profiled deviance and the checks made there."""

    theta: np.ndarray
    evaluation: Evaluation
    gradient_norm: float              # of the log-likelihood, |d log L / d theta|
    hessian_positive_definite: bool   # of the deviance in theta, by differences of the gradient
    singular: bool                    # a diagonal element of Lambda is (near) zero
    attempts: pd.DataFrame            # one row per optimizer pass


def minimize_deviance(cp: CrossProducts, reml: bool) -> Optimum:
    """Minimise the profiled deviance over theta.

    BFGS with the analytic gradient runs from Lambda = I; if it stops before its
    tolerance, a second BFGS pass, started afresh from its answer, looks for a
    better point (a quasi-Newton method's curvature estimate can stall it on a
    flat ridge).
    Newton steps with the Hessian from differences of the gradient then polish
    the answer to the precision the arithmetic allows.  The gradient norm and the
    Hessian's definiteness are reported for the caller to judge.
    """
    rows, theta = [], identity_theta(cp.q)
    for name in ("bfgs from Lambda = I", "bfgs restarted"):
        run = bfgs(cp, reml, theta)
        if np.isfinite(run.fun) and (not rows or run.fun <= rows[-1]["deviance"]):
            theta = run.x
        rows.append({"optimizer": name, "deviance": float(run.fun), "evaluations": int(run.nfev)})
        if run.success:
            break          # a restart only when the first pass did not reach its tolerance
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theta, hessian, steps = _newton_polish(theta, cp, reml)
    rows.append({"optimizer": "newton polish", "deviance": evaluate(theta, cp, reml).deviance,
                 "evaluations": steps})
    theta = _nonnegative_diagonal(theta, cp.q)
    evaluation = evaluate(theta, cp, reml)
    attempts = pd.DataFrame(rows).set_index("optimizer")
    attempts["loglik"] = -attempts["deviance"] / 2
    eigenvalues = np.linalg.eigvalsh(hessian)
    return Optimum(
        theta=theta, evaluation=evaluation,
        gradient_norm=float(np.linalg.norm(evaluation.gradient)) / 2,
        hessian_positive_definite=bool(eigenvalues.min() > 1e-8 * max(1.0, eigenvalues.max())),
        singular=bool(np.min(np.abs(np.diag(evaluation.lam)), initial=np.inf) < SINGULAR_TOLERANCE),
        attempts=attempts,
    )


def bfgs(cp: CrossProducts, reml: bool, start: np.ndarray):
    """One BFGS pass over theta with the analytic gradient, from *start*; scipy's OptimizeResult.

    The tolerance on the gradient of the deviance grows with n, as the rounding
    noise in the deviance does.
    """
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        result = evaluate(theta, cp, reml)
        return result.deviance, result.gradient

    with warnings.catch_warnings():
        # a trial step can make r^2 or A_i degenerate; the line search backs off
        warnings.simplefilter("ignore", RuntimeWarning)
        return minimize(objective, start, jac=True, method="BFGS", options={"gtol": 1e-4 * max(1.0, cp.n / 1e4)})


def _newton_polish(theta: np.ndarray, cp: CrossProducts, reml: bool, max_steps: int = 3):
    """Newton steps while they lower the gradient without raising the deviance; returns (theta, Hessian, steps)."""
    current = evaluate(theta, cp, reml)
    hessian = deviance_hessian(theta, cp, reml)
    for step in range(max_steps):
        if np.linalg.eigvalsh(hessian).min() <= 0:
            return theta, hessian, step
        trial_theta = theta - np.linalg.solve(hessian, current.gradient)
        trial = evaluate(trial_theta, cp, reml)
        if not (np.linalg.norm(trial.gradient) < np.linalg.norm(current.gradient)
                and trial.deviance <= current.deviance + 1e-12 * abs(current.deviance)):
            return theta, hessian, step
        theta, current = trial_theta, trial
        hessian = deviance_hessian(theta, cp, reml)
    return theta, hessian, max_steps


def deviance_hessian(theta: np.ndarray, cp: CrossProducts, reml: bool, step: float = 1e-5) -> np.ndarray:
    """Hessian of the deviance in theta, from central differences of the analytic gradient (symmetrised)."""
    size = len(theta)
    hessian = np.empty((size, size))
    for k in range(size):
        shift = np.zeros(size)
        shift[k] = step * max(1.0, abs(theta[k]))
        hessian[:, k] = (evaluate(theta + shift, cp, reml).gradient
                         - evaluate(theta - shift, cp, reml).gradient) / (2 * shift[k])
    return (hessian + hessian.T) / 2


def _nonnegative_diagonal(theta: np.ndarray, q: int) -> np.ndarray:
    """Flip the sign of each column of Lambda whose diagonal element is negative (Psi is unchanged)."""
    rows, cols = theta_positions(q)
    signs = np.sign(lambda_from_theta(theta, q).diagonal())
    signs[signs == 0] = 1.0
    return theta * signs[cols]
