"""Small-sample tests of fixed effects: Satterthwaite's and Kenward and Roger's degrees of freedom.

The z-tests of a fit's summary treat the estimated covariance of the fixed effects,
C(phi) = (X'V(phi)^-1 X)^-1, as known.  With few groups it is not: its uncertainty comes
from the variance parameters phi.  Two corrections refer the test statistics to t and F
distributions instead of the normal and chi-squared ones.

**Satterthwaite** (as lmerTest computes it) keeps C and refers the t statistic of a
contrast l'beta to a t distribution with

    nu = 2 (l'C l)^2 / (g' A g),   g = d(l'C l)/d phi,   A = Cov(phi_hat),

where A is the inverse of half the Hessian of the fit's deviance (REML for a REML fit).
A joint test of several contrasts L beta = 0 uses the F statistic with the denominator
degrees of freedom that lmerTest's ``contest`` derives from the eigen-decomposition of
L C L'.  The derivatives are central differences in the standard deviations, correlations
and sigma (:mod:`lmmlib.profile`); nu does not depend on how phi is parametrised.

**Kenward and Roger** (1997, as pbkrtest computes it) also inflate C, which underestimates
the variance of beta_hat when phi is estimated:

    C_A = C + 2 C [sum_ij W_ij (Q_ij - P_i C P_j)] C,

with V = sum_i gamma_i G_i linear in the covariance parameters gamma (the elements of Psi
and sigma^2), P_i = -X'V^-1 G_i V^-1 X, Q_ij = X'V^-1 G_i V^-1 G_j V^-1 X and W twice the
inverse of the expected REML information.  The F statistic of L beta = 0 computed with C_A
is scaled and referred to an F distribution whose denominator degrees of freedom match its
first two moments.  Every term is a sum over groups of small matrices, computed from the
per-group cross-products with Woodbury's identity, so the cost is linear in the rows.
Kenward-Roger is defined for REML fits only (as in pbkrtest and lmerTest).

lmmlib's default remains lme4's plain z (no degrees of freedom); the choice is explicit.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
>>> satterthwaite_tests(fit).columns.tolist()
['estimate', 'se', 'df', 't', 'p']
>>> kenward_roger_tests(fit).columns.tolist()
['estimate', 'se', 'df', 't', 'p']
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .checks import require_single_factor_independent_errors
from .engine import _solve, lambda_from_theta, theta_positions
from .errors import InputError
from .fitting import MixedFit
from .profile import _curvature_covariance, _Deviance, _psi_of


class _FixedCovariance:
    """C(phi), the covariance of the fixed effects in the units of the data, at any value of
    the variance parameters phi (standard deviations, correlations, sigma)."""

    def __init__(self, fit: MixedFit) -> None:
        require_single_factor_independent_errors(fit, "Satterthwaite's degrees of freedom")
        if fit.boundary:
            raise InputError(f"the fit is on the boundary of the parameter space ({'; '.join(fit.boundary)}): "
                             "Satterthwaite's degrees of freedom need the curvature of the likelihood there, which "
                             "is undefined; simplify the random part")
        self.fit = fit
        self.deviance = _Deviance(fit, reml=fit.method == "REML")
        self.estimates = self.deviance.natural(fit)
        self.covariance_of_phi = _curvature_covariance(self.deviance, self.estimates)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        sigma2 = values[-1] ** 2
        eigenvalues, vectors = np.linalg.eigh(self.deviance.to_internal(_psi_of(self.deviance, values)) / sigma2)
        solution = _solve(vectors * np.sqrt(np.clip(eigenvalues, 0.0, None)), self.fit.model.cross_products)
        scaling = self.fit.model.x_scaling
        return sigma2 * scaling @ np.linalg.inv(solution.w) @ scaling.T

    def degrees_of_freedom(self, contrast: np.ndarray) -> float:
        """Satterthwaite's nu for the contrast l'beta."""
        def variance(values: np.ndarray) -> float:
            return float(contrast @ self(values) @ contrast)
        steps = 1e-4 * np.maximum(np.abs(self.estimates), 1e-2)
        gradient = np.empty(len(self.estimates))
        for k, step in enumerate(steps):
            up, down = self.estimates.copy(), self.estimates.copy()
            up[k] += step
            down[k] -= step
            gradient[k] = (variance(up) - variance(down)) / (2 * step)
        return float(2 * variance(self.estimates) ** 2 / (gradient @ self.covariance_of_phi @ gradient))


def satterthwaite_tests(fit: MixedFit) -> pd.DataFrame:
    """t-tests of every fixed effect with Satterthwaite's degrees of freedom (lmerTest's summary).

    One row per fixed effect: ``estimate``, ``se`` (the fit's), ``df``, ``t`` and the
    two-sided ``p``.  Fits on the boundary are refused (the curvature is undefined there).
    """
    covariance = _FixedCovariance(fit)
    table = fit.fixed[["estimate", "se"]].copy()
    identity = np.eye(len(table))
    table["df"] = [covariance.degrees_of_freedom(identity[k]) for k in range(len(table))]
    table["t"] = table["estimate"] / table["se"]
    table["p"] = 2 * stats.t.sf(table["t"].abs(), table["df"])
    return table


def satterthwaite_f_test(fit: MixedFit, contrasts) -> pd.Series:
    """The joint F-test of L beta = 0 with Satterthwaite's denominator degrees of freedom
    (lmerTest's ``contest(fit, L, joint = TRUE)``).

    *contrasts* is L: a DataFrame whose columns are fixed-effect names (missing ones are 0),
    or a list of fixed-effect names, each tested as zero.  Returns ``F``, ``numerator df``,
    ``denominator df`` and ``p``.
    """
    matrix = _contrast_matrix(fit, contrasts)
    covariance = _FixedCovariance(fit)
    beta = fit.fixed["estimate"].to_numpy()
    eigenvalues, vectors = np.linalg.eigh(matrix @ covariance(covariance.estimates) @ matrix.T)
    directions = vectors.T @ matrix               # uncorrelated contrasts, with variances = eigenvalues
    t_squared = (directions @ beta) ** 2 / eigenvalues
    nu = np.array([covariance.degrees_of_freedom(row) for row in directions])
    q = len(matrix)
    f = float(t_squared.mean())
    denominator = _joint_degrees_of_freedom(nu)
    return pd.Series({"F": f, "numerator df": float(q), "denominator df": denominator,
                      "p": float(stats.f.sf(f, q, denominator))})


def _contrast_matrix(fit: MixedFit, contrasts) -> np.ndarray:
    """L of a joint test: from a DataFrame whose columns are fixed-effect names (missing ones are 0)
    or from a list of fixed-effect names, each tested as zero."""
    names = list(fit.fixed.index)
    if isinstance(contrasts, str):
        contrasts = [contrasts]
    if isinstance(contrasts, pd.DataFrame):
        unknown = sorted(set(contrasts.columns) - set(names))
        matrix = contrasts.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float)
    else:
        unknown = sorted(set(contrasts) - set(names))
        matrix = np.array([[1.0 if name == term else 0.0 for name in names] for term in contrasts])
    if unknown:
        raise InputError(f"no fixed effects named {unknown}; the fixed effects are {names}")
    if matrix.ndim != 2 or len(matrix) == 0 or np.linalg.matrix_rank(matrix) < len(matrix):
        raise InputError("the contrasts must be one or more linearly independent rows")
    return matrix


def _joint_degrees_of_freedom(nu: np.ndarray) -> float:
    """lmerTest's denominator df of a joint F-test from the df of its uncorrelated contrasts.

    >>> _joint_degrees_of_freedom(np.array([10.0])), _joint_degrees_of_freedom(np.array([1.5, 30.0]))
    (10.0, 2.0)
    """
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(nu - nu[0]) < 1e-8):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    expected = float(np.sum(nu / (nu - 2)))
    return 2 * expected / (expected - len(nu))


class _KenwardRoger:
    """Kenward and Roger's adjusted covariance of the fixed effects and what its F-tests need.

    Computed in the model's internal coordinates (X S, Z T): the adjusted covariance does
    not depend on a linear change of coordinates of beta or of the covariance parameters,
    and those coordinates are well scaled.  With K_i = Lambda A_i^-1 Lambda' (so that
    sigma^2 V_i^-1 = I - Z_i K_i Z_i'), S_i = Z_i'Z_i and F_i = Z_i'X_i, every product of
    V_i^-1 with Z_i and X_i is a polynomial in K_i S_i.
    """

    def __init__(self, fit: MixedFit) -> None:
        require_single_factor_independent_errors(fit, "Kenward-Roger's adjustment")
        if fit.method != "REML":
            raise InputError("Kenward-Roger's adjustment is defined for REML fits (as in pbkrtest and lmerTest); "
                             "refit with method='REML'")
        self.fit = fit
        cp = fit.model.cross_products
        lam = lambda_from_theta(fit.internal_theta, cp.structure)
        a_inverse = _solve(lam, cp).a_inv
        v = fit.residual_sd ** 2
        k = np.einsum("ij,jkm,lk->ilm", lam, a_inverse, lam)              # K_i
        s, f = cp.ztz, cp.ztx
        ks = np.einsum("ijm,jkm->ikm", k, s)
        ksks = np.einsum("ijm,jkm->ikm", ks, ks)
        kf, ksksf = np.einsum("ijm,jkm->ikm", k, f), None
        ksksf = np.einsum("ijm,jkm->ikm", ks, kf)
        # Z'V^-1Z, Z'V^-1X, Z'V^-2Z, Z'V^-2X per group (S - S K S and so on)
        m1 = (s - np.einsum("ijm,jkm->ikm", s, ks)) / v
        b = (f - np.einsum("ijm,jkm->ikm", s, kf)) / v
        n2 = (s - 2 * np.einsum("ijm,jkm->ikm", s, ks) + np.einsum("ijm,jkm->ikm", s, ksks)) / v ** 2
        d2 = (f - 2 * np.einsum("ijm,jkm->ikm", s, kf) + np.einsum("ijm,jkm->ikm", s, ksksf)) / v ** 2
        fkf = np.einsum("jim,jkm->ik", f, kf)
        fkskf = np.einsum("jim,jkm->ik", kf, np.einsum("ijm,jkm->ikm", s, kf))
        fksksk_f = np.einsum("jim,jkm->ik", kf, np.einsum("ijm,jkm->ikm", s, ksksf))
        xv1x = (cp.xtx - fkf) / v
        xv2x = (cp.xtx - 2 * fkf + fkskf) / v ** 2
        xv3x = (cp.xtx - 3 * fkf + 3 * fkskf - fksksk_f) / v ** 3
        trace_v2 = (cp.n - 2 * np.einsum("iim->", ks) + np.einsum("iim->", ksks)) / v ** 2
        # G_r = Z E_r Z' for each free element of Psi, then sigma^2 (G = I)
        q = cp.q
        units = []
        for row, col in zip(*theta_positions(cp.structure)):
            unit = np.zeros((q, q))
            unit[row, col] = unit[col, row] = 1.0
            units.append(unit)
        count = len(units) + 1
        self.phi = np.linalg.inv(xv1x)
        self.p = [-np.einsum("ipm,ij,jqm->pq", b, e, b) for e in units] + [-xv2x]
        q_ = {}
        information = np.empty((count, count))
        for r in range(count):
            for t in range(r, count):
                if t < len(units):
                    e_r, e_t = units[r], units[t]
                    q_[r, t] = np.einsum("ipm,ij,jkm,kl,lqm->pq", b, e_r, m1, e_t, b, optimize=True)
                    trace = np.einsum("ij,jkm,kl,lim->", e_r, m1, e_t, m1, optimize=True)
                elif r < len(units):
                    q_[r, t] = np.einsum("ipm,ij,jqm->pq", b, units[r], d2)
                    trace = np.einsum("ij,jim->", units[r], n2)
                else:
                    q_[r, t], trace = xv3x, trace_v2
                q_[t, r] = q_[r, t].T
                information[r, t] = information[t, r] = (
                    trace - 2 * np.sum(self.phi * q_[r, t])
                    + np.sum((self.phi @ self.p[r]) * (self.p[t] @ self.phi)))
        self.w = 2 * (np.linalg.inv(information) if np.min(np.abs(np.linalg.eigvalsh(information))) > 1e-10
                      else np.linalg.pinv(information))
        inflation = sum(self.w[r, t] * (q_[r, t] - self.p[r] @ self.phi @ self.p[t])
                        for r in range(count) for t in range(count))
        self.adjusted = self.phi + 2 * self.phi @ inflation @ self.phi
        self.scaling = fit.model.x_scaling

    def covariance(self) -> np.ndarray:
        """The adjusted covariance of the fixed effects, in the units of the data."""
        return self.scaling @ self.adjusted @ self.scaling.T

    def test(self, contrasts: np.ndarray) -> dict[str, float]:
        """The F-test of L beta = 0 (L in the units of the data): pbkrtest's KRmodcomp."""
        contrasts = contrasts @ self.scaling                                 # L in internal coordinates
        q = len(contrasts)
        theta = contrasts.T @ np.linalg.solve(contrasts @ self.phi @ contrasts.T, contrasts)
        u = [theta @ self.phi @ p @ self.phi for p in self.p]
        a1 = sum(self.w[r, t] * np.trace(u[r]) * np.trace(u[t]) for r in range(len(u)) for t in range(len(u)))
        a2 = sum(self.w[r, t] * np.sum(u[r] * u[t].T) for r in range(len(u)) for t in range(len(u)))
        big_b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        c1, c2, c3 = (np.array([g, q - g, q + 2 - g]) / (3 * q + 2 * (1 - g))).tolist()
        v0, v1, v2 = 1 + c1 * big_b, 1 - c2 * big_b, 1 - c3 * big_b
        v0 = 0.0 if abs(v0) < 1e-10 else v0
        rho = (1 - a2 / q) ** 2 / v1 ** 2 * v0 / v2 / q if v1 != 0 else 0.0
        df = 4 + (q + 2) / (q * rho - 1)
        scale = 1.0 if abs(df - 2) < 0.01 else df * (1 - a2 / q) / (df - 2)
        internal_beta = np.linalg.solve(self.scaling, self.fit.fixed["estimate"].to_numpy())
        estimate = contrasts @ internal_beta
        wald = float(estimate @ np.linalg.solve(contrasts @ self.adjusted @ contrasts.T, estimate))
        return {"F": scale * wald / q, "numerator df": float(q), "denominator df": float(df),
                "scaling": float(scale)}


def kenward_roger_tests(fit: MixedFit) -> pd.DataFrame:
    """t-tests of every fixed effect with Kenward and Roger's adjusted standard errors and degrees
    of freedom (lmerTest's ``summary(fit, ddf = "Kenward-Roger")``).

    One row per fixed effect: ``estimate``, ``se`` (adjusted, larger than the fit's), ``df``,
    ``t`` and the two-sided ``p``.  REML fits only.
    """
    adjustment = _KenwardRoger(fit)
    table = fit.fixed[["estimate"]].copy()
    table["se"] = np.sqrt(np.diag(adjustment.covariance()))
    identity = np.eye(len(table))
    table["df"] = [adjustment.test(identity[[k]])["denominator df"] for k in range(len(table))]
    table["t"] = table["estimate"] / table["se"]
    table["p"] = 2 * stats.t.sf(table["t"].abs(), table["df"])
    return table


def kenward_roger_f_test(fit: MixedFit, contrasts) -> pd.Series:
    """The joint F-test of L beta = 0 with Kenward and Roger's adjusted covariance, scaled statistic
    and denominator degrees of freedom (pbkrtest's ``KRmodcomp(fit, L)``).

    *contrasts* as for :func:`satterthwaite_f_test`.  Returns ``F`` (scaled), ``numerator df``,
    ``denominator df``, ``p`` and the ``scaling`` factor applied to the Wald F.
    """
    result = _KenwardRoger(fit).test(_contrast_matrix(fit, contrasts))
    result["p"] = float(stats.f.sf(result["F"], result["numerator df"], result["denominator df"]))
    return pd.Series(result)[["F", "numerator df", "denominator df", "p", "scaling"]]


def kenward_roger_covariance(fit: MixedFit) -> pd.DataFrame:
    """Kenward and Roger's adjusted covariance of the fixed effects (pbkrtest's ``vcovAdj``)."""
    names = list(fit.fixed.index)
    return pd.DataFrame(_KenwardRoger(fit).covariance(), index=names, columns=names)
