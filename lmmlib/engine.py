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
one small block per group, never on the rows.  The group is the *last* axis of
these arrays (G has shape (q, q, m)), so that entry (j, k) of every block is one
contiguous vector of length m; ``np.einsum`` then multiplies all m blocks at once
with loops over those vectors, which stays fast when there are many groups.

The gradient is analytic.  As a matrix D with dDeviance = sum_jk D_jk dLambda_jk:

* log-determinants: 2 sum_i G_i Lambda A_i^-1;
* r^2 (by the envelope theorem, since r^2 is a minimum over beta and u):
  -2 sum_i (Z_i'r_i) u_i' with u_i = d_i - C_i beta and Z_i'r_i = g_i - F_i beta - G_i Lambda u_i,
  multiplied by (n or n - p) / r^2;
* REML's log|W|: -2 sum_i (F_i W^-1 C_i' - G_i Lambda C_i W^-1 C_i').

theta is unconstrained: flipping the sign of a column of Lambda leaves Psi
unchanged, so no bounds are needed and a quasi-Newton method cannot stall on a
bound at zero.  The same symmetry makes the gradient vanish wherever a whole
column is zero, minimum or not, so :func:`bfgs` checks which way the deviance
goes before it stops at such a point.  After the optimum is found, the columns
are flipped so that the diagonal is non-negative, as lme4 reports theta.

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

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class CrossProducts:
    """The sufficient statistics of the model: per-group and total cross-products.

    ``ztz``, ``ztx`` and ``zty`` have one block per group along their last axis,
    in the order of ``groups`` (the distinct group labels in order of first
    appearance): ``ztz[:, :, k]`` is G_k for the group ``groups[k]``.

    >>> cp = CrossProducts.from_arrays(np.array([1.0, 2.0, 4.0]), np.ones((3, 1)), np.ones((3, 1)),
    ...                                np.array(["a", "a", "b"]))
    >>> cp.zty.tolist(), cp.n, cp.groups.tolist()
    ([[3.0, 4.0]], 3, ['a', 'b'])
    """

    ztz: np.ndarray      # (q, q, m)
    ztx: np.ndarray      # (q, p, m)
    zty: np.ndarray      # (q, m)
    xtx: np.ndarray      # (p, p)
    xty: np.ndarray      # (p,)
    yty: float
    n: int
    groups: np.ndarray   # (m,)
    blocks: tuple[int, ...] | None = None   # sizes of the diagonal blocks of Lambda; None: one block of size q
    reml_offset: float = 0.0   # 2 log|det S| when X was replaced by X S: REML's log|X'V^-1X| is reported for X

    @classmethod
    def from_arrays(cls, y: np.ndarray, x: np.ndarray, z: np.ndarray, groups: np.ndarray,
                    blocks: tuple[int, ...] | None = None) -> CrossProducts:
        """Accumulate the cross-products group by group; *groups* holds one label per row.

        >>> y, ones = np.array([1.0, 2.0, 4.0, 8.0]), np.ones((4, 1))
        >>> CrossProducts.from_arrays(y, ones, ones, np.array([7, 9, 7, 9])).zty.ravel().tolist()
        [5.0, 10.0]
        """
        codes, labels = pd.factorize(groups)
        return cls.from_codes(y, x, z, codes, np.asarray(labels), blocks=blocks)

    @classmethod
    def from_codes(cls, y: np.ndarray, x: np.ndarray, z: np.ndarray, codes: np.ndarray,
                   labels: np.ndarray, z_in_x: tuple[int, ...] | None = None,
                   blocks: tuple[int, ...] | None = None, reml_offset: float = 0.0) -> CrossProducts:
        """As :meth:`from_arrays`, with the groups given as codes 0..m-1 (one per row) and their labels.

        One weighted bincount per entry; one buffer, reused, holds the row-wise
        products, so the memory used beyond the inputs is one column whatever the
        number of entries.  *z_in_x* gives, when Z is made of columns of X, the
        column of X that each column of Z is: those entries of Z_i'X_i are then
        copied from Z_i'Z_i rather than summed again.

        >>> x = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 5.0]])
        >>> groups, y = np.array([0, 0, 1, 1]), np.arange(4.0)
        >>> shared = CrossProducts.from_codes(y, x, x[:, 1:], groups, np.array(["a", "b"]), z_in_x=(1,))
        >>> np.array_equal(shared.ztx, CrossProducts.from_arrays(y, x, x[:, 1:], groups).ztx)
        True
        """
        m, q, p = len(labels), z.shape[1], x.shape[1]
        buffer = np.empty(len(codes))

        def per_group(first: np.ndarray, second: np.ndarray) -> np.ndarray:
            return np.bincount(codes, weights=np.multiply(first, second, out=buffer), minlength=m)

        ztz, ztx, zty = np.empty((q, q, m)), np.empty((q, p, m)), np.empty((q, m))
        for a in range(q):
            for b in range(a, q):
                ztz[a, b] = ztz[b, a] = per_group(z[:, a], z[:, b])
        z_column_of = {} if z_in_x is None else {c: b for b, c in enumerate(z_in_x)}
        for a in range(q):
            for c in range(p):
                ztx[a, c] = ztz[a, z_column_of[c]] if c in z_column_of else per_group(z[:, a], x[:, c])
            zty[a] = per_group(z[:, a], y)
        return cls(ztz, ztx, zty, x.T @ x, x.T @ y, float(y @ y), len(y), labels,
                   None if blocks is None or len(blocks) == 1 else tuple(blocks), reml_offset)

    @property
    def q(self) -> int:
        return self.ztz.shape[0]

    @property
    def structure(self) -> tuple[int, ...]:
        """The sizes of the blocks of correlated random effects: ``(q,)`` for one unstructured Psi."""
        return (self.q,) if self.blocks is None else self.blocks

    @property
    def p(self) -> int:
        return self.xtx.shape[0]


@cache
def theta_positions(blocks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of Lambda for each element of theta: the lower triangle of each diagonal block
    of Lambda (sizes *blocks*), column by column (lme4's order).

    One block of size q is an unstructured Psi; blocks of size 1 are uncorrelated
    random effects (lme4's ``||``).  Computed once per structure (the arrays are
    read-only), as every evaluation needs them.

    >>> [list(map(int, index)) for index in theta_positions((2,))]
    [[0, 1, 1], [0, 0, 1]]
    >>> [list(map(int, index)) for index in theta_positions((1, 1))]
    [[0, 1], [0, 1]]
    """
    rows, cols = np.tril_indices(sum(blocks))
    block_of = np.repeat(np.arange(len(blocks)), blocks)
    keep = block_of[rows] == block_of[cols]
    rows, cols = rows[keep], cols[keep]
    order = np.lexsort((rows, cols))
    rows, cols = rows[order], cols[order]
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


def lambda_from_theta(theta: np.ndarray, blocks: tuple[int, ...]) -> np.ndarray:
    """Lower-triangular (block-diagonal) Lambda filled column by column from theta.

    >>> lambda_from_theta(np.array([1.0, 0.5, 2.0]), (2,)).tolist()
    [[1.0, 0.0], [0.5, 2.0]]
    """
    q = sum(blocks)
    lam = np.zeros((q, q))
    lam[theta_positions(blocks)] = theta
    return lam


def identity_theta(blocks: tuple[int, ...]) -> np.ndarray:
    """theta for Lambda = I, the optimizer's starting point (as in lme4)."""
    rows, cols = theta_positions(blocks)
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
    u: np.ndarray          # spherical conditional modes u_i (q, m); b_i = Lambda u_i
    a_inverse: np.ndarray  # A_i^-1 (q, q, m)


@dataclass(frozen=True)
class _Solve:
    """The penalised least-squares solution for one Lambda (any square factor, not only triangular)."""

    g_lam: np.ndarray      # G_i Lambda (q, q, m)
    a_inv: np.ndarray      # A_i^-1 (q, q, m)
    c: np.ndarray          # C_i = A_i^-1 Lambda' F_i (q, p, m)
    d: np.ndarray          # d_i = A_i^-1 Lambda' g_i (q, m)
    w: np.ndarray          # W = X'X - sum_i B_i'C_i (p, p)
    beta: np.ndarray
    r2: float              # penalised residual sum of squares
    logdet_a: float        # sum_i log|A_i|


def inverse_and_logdet(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of positive definite q x q matrices, shape (q, q, m).

    For q = 1 and q = 2 (random intercepts, or an intercept and one slope) the
    closed forms are used: they are a few operations on vectors of length m.

    >>> inverse, logdet = inverse_and_logdet(np.array([[[2.0], [1.0]], [[1.0], [3.0]]]))
    >>> np.round(inverse[:, :, 0], 2).tolist(), np.round(logdet, 4).tolist()
    ([[0.6, -0.2], [-0.2, 0.4]], [1.6094])
    """
    q = a.shape[0]
    if q == 1:
        return 1.0 / a, np.log(a[0, 0])
    if q == 2:
        det = a[0, 0] * a[1, 1] - a[0, 1] * a[1, 0]
        return np.array([[a[1, 1], -a[0, 1]], [-a[1, 0], a[0, 0]]]) / det, np.log(det)
    stacked = np.moveaxis(a, -1, 0)                       # (m, q, q) for numpy.linalg
    return np.moveaxis(np.linalg.inv(stacked), 0, -1), np.linalg.slogdet(stacked)[1]


def _solve(lam: np.ndarray, cp: CrossProducts) -> _Solve:
    # in the einsum strings, m is the group: "ijm,jkm->ikm" multiplies the q x q blocks group by group
    g_lam = np.einsum("ijm,jk->ikm", cp.ztz, lam)                     # G_i Lambda
    a = np.einsum("ji,jkm->ikm", lam, g_lam) + np.eye(cp.q)[:, :, None]
    a_inv, logdet_a = inverse_and_logdet(a)
    b = np.einsum("ji,jkm->ikm", lam, cp.ztx)                         # B_i = Lambda' F_i
    c = np.einsum("ijm,jkm->ikm", a_inv, b)
    lg = lam.T @ cp.zty                                               # column i is Lambda' g_i
    d = np.einsum("ijm,jm->im", a_inv, lg)
    w = cp.xtx - np.einsum("jim,jkm->ik", b, c)
    rhs = cp.xty - np.einsum("jim,jm->i", b, d)
    beta = np.linalg.solve(w, rhs)
    r2 = cp.yty - float(np.vdot(lg, d)) - float(rhs @ beta)
    return _Solve(g_lam=g_lam, a_inv=a_inv, c=c, d=d, w=w, beta=beta, r2=r2,
                  logdet_a=float(np.sum(logdet_a)))


def evaluate(theta: np.ndarray, cp: CrossProducts, reml: bool) -> Evaluation:
    """The profiled deviance (-2 log L, or -2 log L_R for REML) at theta, with its gradient."""
    lam = lambda_from_theta(theta, cp.structure)
    s = _solve(lam, cp)
    deviance, dof = _deviance(s, cp, reml)
    u = s.d - np.einsum("ijm,j->im", s.c, s.beta)
    ztr = cp.zty - np.einsum("ijm,j->im", cp.ztx, s.beta) - np.einsum("ijm,jm->im", s.g_lam, u)
    grad = 2.0 * np.einsum("ijm,jkm->ik", s.g_lam, s.a_inv) - 2.0 * (dof / s.r2) * (ztr @ u.T)
    if reml:
        e = cp.ztx - np.einsum("ijm,jkm->ikm", s.g_lam, s.c)          # F_i - G_i Lambda C_i
        e_w = np.einsum("ijm,jk->ikm", e, np.linalg.inv(s.w))
        grad -= 2.0 * np.einsum("ikm,jkm->ij", e_w, s.c)
    return Evaluation(deviance=float(deviance), gradient=grad[theta_positions(cp.structure)], beta=s.beta,
                      sigma2=s.r2 / dof, lam=lam, w=s.w, u=u, a_inverse=s.a_inv)


def profiled_deviance(lam: np.ndarray, cp: CrossProducts, reml: bool) -> float:
    """The profiled deviance at any square factor Lambda of Psi / sigma^2 (not only a triangular one)."""
    return _deviance(_solve(np.asarray(lam, dtype=float), cp), cp, reml)[0]


def _deviance(s: _Solve, cp: CrossProducts, reml: bool) -> tuple[float, int]:
    """The profiled deviance of a penalised least-squares solution, and its degrees of freedom (n or n - p)."""
    dof = cp.n - cp.p if reml else cp.n
    deviance = s.logdet_a + dof * (1.0 + np.log(2.0 * np.pi * s.r2 / dof))
    if reml:
        deviance += float(np.linalg.slogdet(s.w)[1]) - cp.reml_offset
    return float(deviance), dof


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
        deviance += float(np.linalg.slogdet(s.w)[1]) - cp.reml_offset
    return float(deviance)


@dataclass(frozen=True)
class Optimum:
    """The minimum of the profiled deviance and the checks made there."""

    theta: np.ndarray
    evaluation: Evaluation
    gradient_norm: float              # of the log-likelihood, |d log L / d theta|
    hessian_positive_definite: bool   # of the deviance in theta, by differences of the gradient
    attempts: pd.DataFrame            # one row per optimizer pass


def minimize_deviance(cp: CrossProducts, reml: bool) -> Optimum:
    """Minimise the profiled deviance over theta.

    BFGS (:func:`bfgs`) runs from Lambda = I; if it stops before its tolerance, a
    second pass, started afresh from its answer, looks for a better point (a
    quasi-Newton method's curvature estimate can stall it on a flat ridge).
    The Hessian is then computed once, from forward differences of the
    gradient, and Newton steps with it polish the answer until the next step
    would move theta by less than 1e-10 of its size.  The gradient norm and
    the Hessian's definiteness are reported for the caller to judge.
    """
    rows, best = [], None
    for name in ("bfgs from Lambda = I", "bfgs restarted"):
        search = bfgs(cp, reml, identity_theta(cp.structure) if best is None else best.theta)
        if best is None or search.evaluation.deviance <= best.evaluation.deviance:
            best = search
        rows.append({"optimizer": name, "deviance": search.evaluation.deviance, "evaluations": search.evaluations})
        if search.converged:
            break          # a restart only when the first pass did not reach its tolerance
    with np.errstate(all="ignore"):
        hessian = deviance_hessian(best.theta, cp, reml, best.evaluation.gradient)
    theta, evaluation, steps = _newton_polish(best.theta, best.evaluation, hessian, cp, reml)
    rows.append({"optimizer": "newton polish", "deviance": evaluation.deviance, "evaluations": steps})
    flipped = _nonnegative_diagonal(theta, cp.structure)
    if not np.array_equal(flipped, theta):
        theta, evaluation = flipped, evaluate(flipped, cp, reml)
    deviances = np.array([row["deviance"] for row in rows])
    attempts = pd.DataFrame({"deviance": deviances, "evaluations": [row["evaluations"] for row in rows],
                             "loglik": -deviances / 2},
                            index=pd.Index([row["optimizer"] for row in rows], name="optimizer"))
    eigenvalues = np.linalg.eigvalsh(hessian)
    return Optimum(
        theta=theta, evaluation=evaluation,
        gradient_norm=float(np.linalg.norm(evaluation.gradient)) / 2,
        hessian_positive_definite=bool(eigenvalues.min() > 1e-8 * max(1.0, eigenvalues.max())),
        attempts=attempts,
    )


@dataclass(frozen=True)
class Search:
    """Where one BFGS pass stopped."""

    theta: np.ndarray
    evaluation: Evaluation
    evaluations: int      # of the deviance and its gradient
    converged: bool       # every element of the gradient fell below the tolerance


def gradient_tolerance(cp: CrossProducts) -> float:
    """BFGS stops when every element of the deviance's gradient is below this.

    1e-3 for up to 10,000 rows, then growing with n, as the rounding noise of a
    deviance that is a sum over n rows does.  The Newton polish of
    :func:`minimize_deviance` goes far below it.
    """
    return 1e-3 * max(1.0, cp.n / 1e4)


def bfgs(cp: CrossProducts, reml: bool, start: np.ndarray, max_iterations: int = 200) -> Search:
    """Minimise the deviance by BFGS from *start*, with the analytic gradient.

    Each iteration moves along -H g, where g is the gradient and H the current
    approximation of the inverse Hessian; H starts as a multiple of I and is
    updated from the change in position s and in gradient y by the BFGS formula
    H <- (I - s y'/y's) H (I - y s'/y's) + s s'/y's (Nocedal and Wright, 2006,
    chapter 6).  The step is shortened, by quadratic interpolation, until the
    deviance falls by at least 1e-4 of what the slope promises (Armijo's rule).
    The first step moves theta by at most 0.5, a modest change for a Lambda
    that starts at I.  A point where the gradient vanishes only because a
    column of Lambda is zero is not accepted unless the deviance rises away
    from it (:func:`_downhill_from_a_zero_column`).
    """
    theta = np.asarray(start, dtype=float)
    with np.errstate(all="ignore"):   # a trial step can make r^2 degenerate; the line search backs off
        current, evaluations, h = evaluate(theta, cp, reml), 1, None
        for _ in range(max_iterations):
            g = current.gradient
            if np.max(np.abs(g), initial=0.0) <= gradient_tolerance(cp):
                away = _downhill_from_a_zero_column(theta, cp, reml)
                evaluations += away.evaluations
                if away.evaluation is None:
                    return Search(theta, current, evaluations, converged=True)
                theta, current, h = away.theta, away.evaluation, None     # a saddle or a maximum: go on
                continue
            direction = -0.5 * g / np.max(np.abs(g)) if h is None else -h @ g
            slope, step = g @ direction, 1.0
            while True:
                trial = evaluate(theta + step * direction, cp, reml)
                evaluations += 1
                if trial.deviance <= current.deviance + 1e-4 * step * slope:   # False if the trial is NaN
                    break
                if step < 1e-10:
                    return Search(theta, current, evaluations, converged=False)
                # the minimum of the parabola through the deviance and slope at 0 and the deviance at step,
                # kept between a tenth and a half of the step
                rise = trial.deviance - current.deviance - slope * step
                shorter = -slope * step ** 2 / (2 * rise) if np.isfinite(rise) else 0.0
                step = min(max(shorter, 0.1 * step), 0.5 * step)
            s, y = step * direction, trial.gradient - g
            if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):      # curvature: keep H positive definite
                if h is None:
                    h = np.eye(len(theta)) * (s @ y) / (y @ y)
                rho = 1.0 / (s @ y)
                v = np.eye(len(theta)) - rho * np.outer(s, y)
                h = v @ h @ v.T + rho * np.outer(s, s)
            theta, current = theta + s, trial
    return Search(theta, current, evaluations, converged=False)


@dataclass(frozen=True)
class _Probe:
    theta: np.ndarray | None
    evaluation: Evaluation | None    # None: no zero column, or the deviance rises away from each
    evaluations: int


def _downhill_from_a_zero_column(theta: np.ndarray, cp: CrossProducts, reml: bool, probe: float = 1e-3) -> _Probe:
    """A nearby point of lower deviance if theta sits where a column of Lambda is (nearly) zero.

    Flipping the sign of a column leaves the deviance unchanged, so where a
    column is zero its gradient is zero too, whether the deviance has a minimum
    there (a variance truly estimated as zero) or a maximum.  Setting the
    column's diagonal element to *probe* and reading the sign of the derivative
    there tells the two apart: a negative derivative means the deviance falls
    away from zero, and the point is returned for the search to go on from.
    """
    lam = lambda_from_theta(theta, cp.structure)
    rows, cols = theta_positions(cp.structure)
    evaluations = 0
    for j in range(cp.q):
        if np.max(np.abs(lam[j:, j])) >= probe:
            continue
        diagonal = np.flatnonzero((rows == j) & (cols == j))[0]
        moved = theta.copy()
        moved[diagonal] = probe
        evaluation = evaluate(moved, cp, reml)
        evaluations += 1
        if evaluation.gradient[diagonal] < 0:
            return _Probe(moved, evaluation, evaluations)
    return _Probe(None, None, evaluations)


def _newton_polish(theta: np.ndarray, current: Evaluation, hessian: np.ndarray, cp: CrossProducts, reml: bool,
                   max_steps: int = 3):
    """Newton steps with a fixed Hessian while they lower the gradient without raising the deviance
    and are not negligibly small.

    Near the optimum the Hessian hardly changes, so one computed at the start
    serves every step.  Returns (theta, its evaluation, number of steps taken).
    """
    if np.linalg.eigvalsh(hessian).min() <= 0:
        return theta, current, 0
    for step in range(max_steps):
        newton = np.linalg.solve(hessian, current.gradient)
        if np.max(np.abs(newton)) <= 1e-10 * max(1.0, np.max(np.abs(theta))):
            return theta, current, step       # a change the arithmetic could not resolve
        trial_theta = theta - newton
        with np.errstate(all="ignore"):
            trial = evaluate(trial_theta, cp, reml)
        if not (np.linalg.norm(trial.gradient) < np.linalg.norm(current.gradient)
                and trial.deviance <= current.deviance + 1e-12 * abs(current.deviance)):
            return theta, current, step
        theta, current = trial_theta, trial
    return theta, current, max_steps


def deviance_hessian(theta: np.ndarray, cp: CrossProducts, reml: bool, gradient: np.ndarray,
                     step: float = 1e-5) -> np.ndarray:
    """Hessian of the deviance in theta, from forward differences of the analytic gradient (symmetrised).

    *gradient* is the gradient at theta; each element of theta then costs one evaluation.
    """
    size = len(theta)
    hessian = np.empty((size, size))
    for k in range(size):
        shift = np.zeros(size)
        shift[k] = step * max(1.0, abs(theta[k]))
        hessian[:, k] = (evaluate(theta + shift, cp, reml).gradient - gradient) / shift[k]
    return (hessian + hessian.T) / 2


def _nonnegative_diagonal(theta: np.ndarray, blocks: tuple[int, ...]) -> np.ndarray:
    """Flip the sign of each column of Lambda whose diagonal element is negative (Psi is unchanged)."""
    rows, cols = theta_positions(blocks)
    signs = np.sign(lambda_from_theta(theta, blocks).diagonal())
    signs[signs == 0] = 1.0
    return theta * signs[cols]
