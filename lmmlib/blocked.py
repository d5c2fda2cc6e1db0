"""The profiled deviance of a linear mixed model with several grouping factors, by a blocked Cholesky factor.

With grouping factors k = 1..K (crossed or nested), factor k having m_k levels and q_k random
effects per level, the model is y = X beta + sum_k Z_k b_k + e with b_k = Lambda_k u_k,
u ~ N(0, sigma^2 I), and Lambda = blockdiag(I_{m_k} (x) Lambda_k).  For a given theta the
penalised least-squares problem of Bates et al. (2015) needs the Cholesky factor of

    A = Lambda'Z'Z Lambda + I        (sum_k m_k q_k square)

and of the matrix bordered by [X y].  lme4 factors A with a general sparse Cholesky (CHOLMOD).
This module uses the block structure instead, as MixedModels.jl does: the factors are ordered by
their number of levels, most first (lme4's order of its terms), and

* the first factor's diagonal block Lambda_1'Z_1'Z_1 Lambda_1 + I is block diagonal (a row
  belongs to one level), so its Cholesky factor L_1 is one q_1 x q_1 factor per level;
* the block below it, L_21 = Lambda_2'Z_2'Z_1 Lambda_1 L_1^-T, stays as sparse as Z_2'Z_1
  (a few levels of the other factors meet each level of the first);
* the rest, A_22 - L_21 L_21', is small (the other factors together have far fewer effects)
  and dense -- or, when the first factor is nested in a single second one (children in
  schools), block diagonal again, one q_2 x q_2 block per level of the second factor, so that
  a three-level model costs no more per row than a two-level one;
* the border [X y] gives R = L^-1 Lambda'Z'[X y] and the (p+1) x (p+1) matrix
  [X y]'[X y] - R'R, whose Cholesky factor holds R_X (so log|X'V^-1X|), beta_hat and the
  penalised residual sum of squares r^2, exactly as in the one-factor engine.

-2 log L = log|A| + n (1 + log(2 pi r^2 / n)) by ML; REML adds log|R_X'R_X| and uses n - p.

No CHOLMOD is needed: every operation is a batched small factorisation, a sparse product
(scipy.sparse) or one dense factorisation of the small remainder.  Choosing this over a
general sparse Cholesky is a measurement (see the appendix on how the toolkit fits a model).

>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> plate, sample = np.repeat(np.arange(12), 6), np.tile(np.arange(6), 12)
>>> y = rng.normal(size=12)[plate] + 2 * rng.normal(size=6)[sample] + rng.normal(size=72)
>>> ones = np.ones((72, 1))
>>> cp = BlockedCrossProducts.build(y, ones, [Grouping("plate", plate, ones, (1,)),
...                                            Grouping("sample", sample, ones, (1,))])
>>> [g.name for g in cp.factors], cp.nested
(['plate', 'sample'], False)
>>> factor = cp.factorize(np.array([1.0, 2.0]))            # theta: Lambda of plate, of sample
>>> bool(abs(factor.beta[0] - y.mean()) < 0.5), round(factor.log_det_a, 3) > 0
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
import scipy.sparse as sparse

from .engine import lambda_from_theta, theta_positions


@dataclass(frozen=True)
class Grouping:
    """One grouping factor: its name, the level of each row (codes 0..m-1), its columns of Z (n x q)
    and the sizes of the blocks of correlated effects (``(q,)`` for one unstructured block)."""

    name: str
    codes: np.ndarray
    z: np.ndarray
    blocks: tuple[int, ...]

    @cached_property
    def m(self) -> int:
        return int(self.codes.max()) + 1

    @property
    def q(self) -> int:
        return self.z.shape[1]

    @property
    def size(self) -> int:
        """The number of random effects, m q."""
        return self.m * self.q

    @property
    def n_theta(self) -> int:
        return len(theta_positions(self.blocks)[0])

    def lam(self, theta: np.ndarray) -> np.ndarray:
        return lambda_from_theta(theta, self.blocks)

    def per_level(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """sum over the rows of each level of first[:, a] * second[:, b]: (m, a, b)."""
        out = np.empty((self.m, first.shape[1], second.shape[1]))
        for a in range(first.shape[1]):
            for b in range(second.shape[1]):
                out[:, a, b] = np.bincount(self.codes, weights=first[:, a] * second[:, b], minlength=self.m)
        return out

    def crossing(self, other: Grouping) -> sparse.csr_matrix:
        """Z_self'Z_other as a sparse (m q) x (m' q') matrix (rows in level-major order)."""
        rows, columns, values = [], [], []
        for a in range(self.q):
            for b in range(other.q):
                rows.append(self.codes * self.q + a)
                columns.append(other.codes * other.q + b)
                values.append(self.z[:, a] * other.z[:, b])
        matrix = sparse.coo_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                                   shape=(self.size, other.size))
        return matrix.tocsr()


def batched_cholesky(blocks: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (m, q, q) of positive definite matrices (closed forms for
    q = 1 and 2, where LAPACK's call per matrix would cost more than the arithmetic).

    >>> a = np.array([[[4.0, 2.0], [2.0, 5.0]]])
    >>> batched_cholesky(a).tolist() == np.linalg.cholesky(a).tolist()
    True
    """
    q = blocks.shape[1]
    if q == 1:
        return np.sqrt(blocks)
    if q == 2:
        factor = np.zeros_like(blocks)
        factor[:, 0, 0] = np.sqrt(blocks[:, 0, 0])
        factor[:, 1, 0] = blocks[:, 1, 0] / factor[:, 0, 0]
        factor[:, 1, 1] = np.sqrt(blocks[:, 1, 1] - factor[:, 1, 0] ** 2)
        if not np.isfinite(factor).all():
            raise np.linalg.LinAlgError("a block is not positive definite")
        return factor
    return np.linalg.cholesky(blocks)


def batched_solve_lower(factors: np.ndarray, right: np.ndarray) -> np.ndarray:
    """L^-1 B for a stack of lower-triangular L (m, q, q) and B (m, q, r) (closed forms for q = 1, 2).

    >>> l, b = np.array([[[2.0, 0.0], [1.0, 3.0]]]), np.array([[[2.0], [7.0]]])
    >>> batched_solve_lower(l, b).ravel().tolist()
    [1.0, 2.0]
    """
    q = factors.shape[1]
    if q == 1:
        return right / factors
    if q == 2:
        first = right[:, 0, :] / factors[:, 0, 0, None]
        second = (right[:, 1, :] - factors[:, 1, 0, None] * first) / factors[:, 1, 1, None]
        return np.stack([first, second], axis=1)
    return np.linalg.solve(factors, right)


def sandwich(lam: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """Lambda' S Lambda for every S of a stack (m, q, q), as two matrix products over all the
    stack at once (numpy's broadcasting of a (q, q) matrix over a stack costs several times more).

    >>> lam, stack = np.array([[1.0, 0.0], [2.0, 3.0]]), np.arange(8.0).reshape(2, 2, 2)
    >>> np.array_equal(sandwich(lam, stack), lam.T @ stack @ lam)
    True
    """
    m, q, _ = stack.shape
    right = (stack.reshape(m * q, q) @ lam).reshape(m, q, q)
    return (lam.T @ right.transpose(1, 0, 2).reshape(q, m * q)).reshape(q, m, q).transpose(1, 0, 2)


def block_diagonal(blocks: np.ndarray) -> sparse.bsr_matrix:
    """The sparse block-diagonal matrix of a stack of (m, q, q) blocks."""
    m, q, _ = blocks.shape
    return sparse.bsr_matrix((blocks, np.arange(m), np.arange(m + 1)), shape=(m * q, m * q)).tocsr()


@dataclass(frozen=True)
class SchurPattern:
    """Z_2'Z_1 D Z_1'Z_2 for any block-diagonal D (one q1 x q1 block per level of the first factor)
    as one sparse matrix-vector product: ``weights @ D.ravel()`` gives the entries at the flat
    positions ``positions`` of the remainder's matrix (dense, or its diagonal blocks when nested).

    The entries are bilinear in the columns of Z_2'Z_1 that belong to one level of the first factor,
    so their pattern and coefficients are computed once, and each evaluation of the deviance costs
    one product with a vector of length m1 q1^2 instead of a sparse matrix product."""

    positions: np.ndarray
    weights: sparse.csr_matrix

    @classmethod
    def build(cls, below: sparse.csr_matrix, q1: int, rest_q: int | None) -> SchurPattern:
        """*rest_q*: q of the one remainder factor when nested (diagonal-block layout), else None."""
        csc = below.tocsc()
        csc.sort_indices()
        column = np.repeat(np.arange(csc.shape[1]), np.diff(csc.indptr))
        level = column // q1
        # the entries of each level, side by side: pair every entry with every entry of its level
        counts = np.bincount(level, minlength=csc.shape[1] // q1)
        starts = np.r_[0, np.cumsum(counts)][:-1]
        left = np.repeat(np.arange(csc.nnz), counts[level])
        first_of_level = np.repeat(starts[level], counts[level])
        offset = np.arange(len(left)) - np.repeat(np.cumsum(counts[level]) - counts[level], counts[level])
        right = first_of_level + offset
        rows, row_to, values = csc.indices[left], csc.indices[right], csc.data[left] * csc.data[right]
        coefficient = level[left] * q1 * q1 + (column[left] % q1) * q1 + column[right] % q1
        if rest_q is None:
            flat = rows.astype(np.int64) * csc.shape[0] + row_to
        else:
            flat = (rows // rest_q).astype(np.int64) * rest_q * rest_q + (rows % rest_q) * rest_q + row_to % rest_q
        size = csc.shape[0] ** 2 if rest_q is None else (csc.shape[0] // rest_q) * rest_q * rest_q
        used = np.zeros(size, dtype=bool)
        used[flat] = True
        positions = np.flatnonzero(used)
        number = np.empty(size, dtype=np.int64)
        number[positions] = np.arange(len(positions))
        which = number[flat]
        weights = sparse.csr_matrix((values, (which, coefficient)),
                                    shape=(len(positions), len(counts) * q1 * q1))
        return cls(positions, weights)


@dataclass(frozen=True)
class BlockedCrossProducts:
    """The cross-products of y, X and the Z of every factor, computed once, ordered for the blocked factor.

    ``factors`` are the groupings with the most levels first; the first is factor 1 of the
    module's description, the others together form the remainder.  ``nested`` is True when
    the remainder is one factor in which the first is nested (each level of the first meets
    one level of the second), so that the remainder's block stays block diagonal and is kept
    as one q2 x q2 block per level; otherwise it is one dense matrix.
    """

    factors: tuple[Grouping, ...]
    first_gram: np.ndarray            # (m1, q1, q1): Z_1'Z_1 per level
    first_border: np.ndarray          # (m1, q1, p + 1): Z_1'[X y] per level
    below_first: sparse.csr_matrix    # (Q2, m1 q1): Z_2'Z_1, the remainder's rows
    rest_gram: np.ndarray             # Z_2'Z_2: (Q2, Q2), or (m2, q2, q2) when nested
    rest_border: np.ndarray           # (Q2, p + 1): Z_2'[X y]
    border_gram: np.ndarray           # (p + 1, p + 1): [X y]'[X y]
    schur: SchurPattern
    n: int
    p: int
    nested: bool
    reml_offset: float = 0.0

    @classmethod
    def build(cls, y: np.ndarray, x: np.ndarray, groupings: list[Grouping], reml_offset: float = 0.0
              ) -> BlockedCrossProducts:
        """Order the groupings (most levels first, stably, as lme4 orders its terms) and accumulate
        every cross-product."""
        factors = tuple(sorted(groupings, key=lambda g: -g.m))
        first, rest = factors[0], factors[1:]
        border = np.column_stack([x, y])
        below = sparse.vstack([g.crossing(first) for g in rest]).tocsr()
        nested = len(rest) == 1 and _nested_in(first.codes, rest[0].codes, first.m)
        if nested:
            rest_gram = rest[0].per_level(rest[0].z, rest[0].z)
        else:
            rest_gram = sparse.bmat([[a.crossing(b) for b in rest] for a in rest]).toarray()
        rest_border = np.vstack([g.per_level(g.z, border).reshape(g.size, -1) for g in rest])
        schur = SchurPattern.build(below, first.q, rest[0].q if nested else None)
        return cls(factors, first.per_level(first.z, first.z), first.per_level(first.z, border), below,
                   rest_gram, rest_border, border.T @ border, schur, len(y), x.shape[1], nested, reml_offset)

    @property
    def n_theta(self) -> int:
        return sum(g.n_theta for g in self.factors)

    def layout(self) -> dict[str, object]:
        """The shape of the blocked factor: the first factor and its levels x effects, the rest and
        the size of its block, how that block is kept, the non-zeros of Z_2'Z_1 and the terms of
        the precomputed Schur complement."""
        first, rest = self.factors[0], self.factors[1:]
        return {"first factor": f"{first.name} ({first.m} x {first.q})",
                "rest": ", ".join(f"{g.name} ({g.m} x {g.q})" for g in rest),
                "rest block": (f"{rest[0].m} blocks of {rest[0].q} x {rest[0].q}" if self.nested
                               else f"dense {self.rest_gram.shape[0]} x {self.rest_gram.shape[0]}"),
                "nonzeros of Z2'Z1": self.below_first.nnz, "Schur terms": self.schur.weights.nnz}

    def unexplained_share(self) -> float:
        """The share of y's sum of squares (about its mean when X has an intercept) that X and the Z
        of every factor leave unexplained: 0 when the fixed and random parts reproduce y exactly.

        The projection on Z_1 is made level by level (pseudo-inverses of the q1 x q1 blocks), the
        rest on [X Z_2] after it, by least squares on the normal equations."""
        first = self.factors[0]
        inverse = np.linalg.pinv(self.first_gram, hermitian=True)             # G_1^+ per level
        border = self.first_border
        reduced_border = self.border_gram - np.einsum("mqa,mqr,mrb->ab", border, inverse, border)
        rest = self.rest_gram.copy()
        rest.ravel()[self.schur.positions] -= self.schur.weights @ inverse.ravel()
        cross = self.rest_border - self.below_first @ (inverse @ border).reshape(first.size, -1)
        p = self.p
        if self.nested:                       # the rest is block diagonal too: project level by level
            g = self.factors[1]
            per_level = cross.reshape(g.m, g.q, -1)
            reduced_border = reduced_border - np.einsum(
                "mqa,mqr,mrb->ab", per_level, np.linalg.pinv(rest, hermitian=True), per_level)
            normal, right = reduced_border[:p, :p], reduced_border[:p, p]
        else:
            normal = np.block([[reduced_border[:p, :p], cross[:, :p].T], [cross[:, :p], rest]])
            right = np.r_[reduced_border[:p, p], cross[:, p]]
        solution = scipy.linalg.lstsq(normal, right, cond=1e-12, check_finite=False)[0]
        left = reduced_border[p, p] - right @ solution
        return float(max(left, 0.0) / self.border_gram[p, p])

    def lambdas(self, theta: np.ndarray) -> list[np.ndarray]:
        """Lambda_k of each factor (in the order of ``factors``) from the concatenated theta."""
        cuts = np.cumsum([0] + [g.n_theta for g in self.factors])
        return [g.lam(theta[a:b]) for g, a, b in zip(self.factors, cuts, cuts[1:])]

    def lower_bounds(self) -> np.ndarray:
        """0 for each diagonal element of a Lambda_k, -inf for the others (lme4's bounds)."""
        bounds = []
        for g in self.factors:
            rows, cols = theta_positions(g.blocks)
            bounds.append(np.where(rows == cols, 0.0, -np.inf))
        return np.concatenate(bounds)

    def identity_theta(self) -> np.ndarray:
        return np.where(self.lower_bounds() == 0.0, 1.0, 0.0)

    def factorize(self, theta: np.ndarray) -> BlockedFactor:
        return BlockedFactor.compute(self, np.asarray(theta, dtype=float))

    def deviance(self, theta: np.ndarray, reml: bool) -> float:
        return self.factorize(theta).deviance(reml)


def _nested_in(inner: np.ndarray, outer: np.ndarray, m_inner: int) -> bool:
    """Whether each level of *inner* occurs with one level of *outer* only."""
    parent = np.full(m_inner, -1)
    parent[inner] = outer
    return bool(np.array_equal(parent[inner], outer))


def _lambda_t_rows(matrix: np.ndarray, factors, lambdas) -> np.ndarray:
    """Lambda_2' *matrix* for the remainder's rows (level-major within each factor)."""
    out, start = np.empty_like(matrix), 0
    for g, lam in zip(factors, lambdas):
        rows = matrix[start:start + g.size]
        if g.q == 1:
            np.multiply(rows, lam[0, 0], out=out[start:start + g.size])
        else:
            out[start:start + g.size] = (lam.T @ rows.reshape(g.m, g.q, -1)).reshape(g.size, -1)
        start += g.size
    return out


@dataclass(frozen=True)
class BlockedFactor:
    """The blocked Cholesky factor at one theta and what the deviance and the solution need."""

    cp: BlockedCrossProducts
    lambdas: list[np.ndarray]
    first: np.ndarray          # (m1, q1, q1): L_1
    spread: np.ndarray         # (m1, q1, q1): K_1 = L_1^-1 Lambda_1', so that L_21 = Lambda_2'Z_2'Z_1 K_1'
    rest: np.ndarray           # (Q2, Q2) dense L_22, or (m2, q2, q2) per level when nested
    border_first: np.ndarray   # (m1, q1, p + 1): R_1 = L_1^-1 Lambda_1'Z_1'[X y]
    border_rest: np.ndarray    # (Q2, p + 1): R_2
    border: np.ndarray         # (p + 1, p + 1): lower Cholesky factor of [X y]'[X y] - R'R

    @classmethod
    def compute(cls, cp: BlockedCrossProducts, theta: np.ndarray):
        lams = cp.lambdas(theta)
        g1, rest_g = cp.factors[0], cp.factors[1:]
        lam1 = lams[0]
        # the first factor: one q1 x q1 Cholesky factor L_1 per level
        first = batched_cholesky(sandwich(lam1, cp.first_gram) + np.eye(g1.q))
        spread = batched_solve_lower(first, np.broadcast_to(lam1.T, first.shape))
        border_first = spread @ cp.first_border      # R_1 = K_1 Z_1'[X y]
        d = np.transpose(spread, (0, 2, 1)) @ spread    # Lambda_1 A_1^-1 Lambda_1'
        # the rest: Lambda_2'(Z_2'Z_2 - Z_2'Z_1 D Z_1'Z_2)Lambda_2 + I
        remainder = cp.rest_gram.copy()
        remainder.ravel()[cp.schur.positions] -= cp.schur.weights @ d.ravel()
        d_border = (d @ cp.first_border).reshape(g1.size, -1)
        rhs = cp.rest_border - cp.below_first @ d_border
        rhs = _lambda_t_rows(rhs, rest_g, lams[1:])
        if cp.nested:                   # one q2 x q2 block per level
            lam2, g = lams[1], rest_g[0]
            rest = batched_cholesky(sandwich(lam2, remainder) + np.eye(g.q))
            by_level = rhs.reshape(g.m, g.q, -1)
            border_rest = batched_solve_lower(rest, by_level).reshape(g.size, -1)
        else:                           # one dense block
            half = _lambda_t_rows(remainder, rest_g, lams[1:]).T
            dense = _lambda_t_rows(half, rest_g, lams[1:])
            dense[np.diag_indices_from(dense)] += 1.0
            rest = scipy.linalg.cholesky(dense, lower=True, check_finite=False)
            border_rest = scipy.linalg.solve_triangular(
                rest, rhs, lower=True, check_finite=False)
        # the border [X y]: what R_1 and R_2 leave of [X y]'[X y]
        flat = border_first.reshape(g1.size, -1)
        left = cp.border_gram - flat.T @ flat - border_rest.T @ border_rest
        border = np.linalg.cholesky(left)
        return cls(cp, lams, first, spread, rest, border_first, border_rest,
                   border)

    @cached_property
    def below(self) -> sparse.csr_matrix:
        """L_21 = Lambda_2'Z_2'Z_1 Lambda_1 L_1^-T (rows: the remainder's effects; columns: the first's)."""
        lam_rest = sparse.block_diag([sparse.kron(sparse.identity(g.m), lam)
                                      for g, lam in zip(self.cp.factors[1:], self.lambdas[1:])], format="csr")
        return (lam_rest.T @ self.cp.below_first @ block_diagonal(np.transpose(self.spread, (0, 2, 1)))).tocsr()

    # ------------------------------------------------------------------ the deviance
    @property
    def log_det_a(self) -> float:
        """log|Lambda'Z'Z Lambda + I|."""
        first = np.log(np.diagonal(self.first, axis1=1, axis2=2)).sum()
        rest = (np.log(np.diagonal(self.rest, axis1=1, axis2=2)).sum() if self.cp.nested
                else np.log(np.diag(self.rest)).sum())
        return float(2 * (first + rest))

    @property
    def r2(self) -> float:
        """The penalised residual sum of squares."""
        return float(self.border[-1, -1] ** 2)

    @property
    def log_det_w(self) -> float:
        """log|R_X'R_X| = log|X'V^-1 X| sigma^2 in the internal coordinates."""
        return float(2 * np.log(np.diag(self.border)[:-1]).sum())

    def deviance(self, reml: bool) -> float:
        n, p = self.cp.n, self.cp.p
        if reml:
            d = n - p
            return (self.log_det_a + self.log_det_w - self.cp.reml_offset
                    + d * (1 + np.log(2 * np.pi * self.r2 / d)))
        return self.log_det_a + n * (1 + np.log(2 * np.pi * self.r2 / n))

    # ------------------------------------------------------------------ the solution at this theta
    @property
    def beta(self) -> np.ndarray:
        rx = self.border[:-1, :-1]
        return scipy.linalg.solve_triangular(rx.T, self.border[-1, :-1], lower=False)

    @property
    def w(self) -> np.ndarray:
        """X'V^-1X sigma^2 (R_X'R_X) in the internal coordinates."""
        rx = self.border[:-1, :-1]
        return rx @ rx.T

    def sigma2(self, reml: bool) -> float:
        return self.r2 / (self.cp.n - (self.cp.p if reml else 0))

    def spherical_modes(self) -> tuple[np.ndarray, np.ndarray]:
        """u_1 (m1 q1) and u_2 (Q2) at beta_hat: L' u = L^-1 Lambda'Z'(y - X beta_hat)."""
        beta = np.r_[-self.beta, 1.0]
        first_rhs = self.border_first.reshape(self.cp.factors[0].size, -1) @ beta
        rest_rhs = self.border_rest @ beta
        u_rest = self._solve_rest_transposed(rest_rhs)
        first_rhs = first_rhs - self.below.T @ u_rest
        m1, q1 = self.cp.factors[0].m, self.cp.factors[0].q
        u_first = np.linalg.solve(np.transpose(self.first, (0, 2, 1)), first_rhs.reshape(m1, q1, 1)) \
            if q1 > 1 else first_rhs.reshape(m1, 1, 1) / self.first
        return u_first.ravel(), u_rest

    def _solve_rest_transposed(self, right: np.ndarray) -> np.ndarray:
        if self.cp.nested:
            g = self.cp.factors[1]
            t = np.transpose(self.rest, (0, 2, 1))
            return np.linalg.solve(t, right.reshape(g.m, g.q, 1)).ravel()
        return scipy.linalg.solve_triangular(self.rest, right, lower=True, trans="T", check_finite=False)

    def modes(self) -> list[np.ndarray]:
        """The conditional modes b_k = Lambda_k u_k of each factor, as (m_k, q_k) arrays."""
        u_first, u_rest = self.spherical_modes()
        pieces = [u_first] + _split(u_rest, self.cp.factors[1:])
        return [piece.reshape(g.m, g.q) @ lam.T for piece, g, lam in zip(pieces, self.cp.factors, self.lambdas)]

    def conditional_variances(self) -> list[np.ndarray]:
        """The diagonal blocks of Lambda A^-1 Lambda' per level (times sigma^2 the conditional covariance
        of b given y at the estimates, as lme4's ``condVar``): (m_k, q_k, q_k) arrays per factor."""
        first_g = self.cp.factors[0]
        m1, q1 = first_g.m, first_g.q
        eye = np.broadcast_to(np.eye(q1), self.first.shape)
        inverse_first = batched_solve_lower(self.first, eye)                  # L_1^-1 per level
        # the lower-left block of L^-1: H = -L_22^-1 L_21 L_1^-1 (rows: remainder; columns: first factor)
        if self.cp.nested:
            g = self.cp.factors[1]
            inverse_rest = batched_solve_lower(self.rest, np.broadcast_to(np.eye(g.q), self.rest.shape))
            rest_inverse = block_diagonal(inverse_rest)
            h = -(rest_inverse @ self.below @ block_diagonal(inverse_first))
            rest_blocks = np.transpose(inverse_rest, (0, 2, 1)) @ inverse_rest
            rest_pieces = [rest_blocks]
        else:
            inverse_rest = scipy.linalg.solve_triangular(self.rest, np.eye(len(self.rest)), lower=True,
                                                         check_finite=False)
            h = -((block_diagonal(inverse_first).T @ (self.below.T @ inverse_rest.T)).T)
            full = inverse_rest.T @ inverse_rest
            rest_pieces = [_diagonal_blocks_dense(block, g.m, g.q)
                           for block, g in zip(_split_square(full, self.cp.factors[1:]), self.cp.factors[1:])]
        h = sparse.csr_matrix(h) if sparse.issparse(h) else h
        first_blocks = np.transpose(inverse_first, (0, 2, 1)) @ inverse_first
        first_blocks = first_blocks + _column_block_grams(h, m1, q1)
        blocks = [first_blocks] + rest_pieces
        return [lam @ block @ lam.T for block, lam in zip(blocks, self.lambdas)]


def _split(vector: np.ndarray, factors) -> list[np.ndarray]:
    cuts = np.cumsum([0] + [g.size for g in factors])
    return [vector[a:b] for a, b in zip(cuts, cuts[1:])]


def _split_square(matrix: np.ndarray, factors) -> list[np.ndarray]:
    cuts = np.cumsum([0] + [g.size for g in factors])
    return [matrix[a:b, a:b] for a, b in zip(cuts, cuts[1:])]


def _diagonal_blocks(matrix: sparse.spmatrix, m: int, q: int) -> np.ndarray:
    """The (m, q, q) diagonal blocks of a sparse (m q) x (m q) matrix."""
    coo = matrix.tocoo()
    keep = coo.row // q == coo.col // q
    out = np.zeros((m, q, q))
    np.add.at(out, (coo.row[keep] // q, coo.row[keep] % q, coo.col[keep] % q), coo.data[keep])
    return out


def _diagonal_blocks_dense(matrix: np.ndarray, m: int, q: int) -> np.ndarray:
    reshaped = matrix.reshape(m, q, m, q)
    return reshaped[np.arange(m), :, np.arange(m), :]


def _column_block_grams(h, m: int, q: int) -> np.ndarray:
    """For each level j, H_j'H_j with H_j the q columns of level j of H: (m, q, q)."""
    out = np.empty((m, q, q))
    for a in range(q):
        for b in range(a, q):
            column_a, column_b = h[:, a::q], h[:, b::q]
            if sparse.issparse(h):
                values = np.asarray(column_a.multiply(column_b).sum(axis=0)).ravel()
            else:
                values = np.einsum("ij,ij->j", column_a, column_b)
            out[:, a, b] = out[:, b, a] = values
    return out
