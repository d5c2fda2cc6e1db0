"""Tests of fixed effects with Satterthwaite's degrees of freedom, as lmerTest computes them.

The z-tests of a fit's summary treat the estimated covariance of the fixed effects,
C(phi) = (X'V(phi)^-1 X)^-1, as known.  With few groups it is not: its uncertainty comes
from the variance parameters phi.  Satterthwaite's approximation refers the t statistic of
a contrast l'beta to a t distribution with

    nu = 2 (l'C l)^2 / (g' A g),   g = d(l'C l)/d phi,   A = Cov(phi_hat),

where A is the inverse of half the Hessian of the fit's deviance (REML for a REML fit).
A joint test of several contrasts L beta = 0 uses the F statistic with the denominator
degrees of freedom that lmerTest's ``contest`` derives from the eigen-decomposition of
L C L'.  The derivatives are central differences in the standard deviations, correlations
and sigma (:mod:`lmmlib.profile`); nu does not depend on how phi is parametrised.

lmmlib's default remains lme4's plain z (no degrees of freedom); the choice is explicit.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
>>> table = satterthwaite_tests(fit)
>>> table.columns.tolist()
['estimate', 'se', 'df', 't', 'p']
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .engine import _solve
from .errors import InputError
from .fitting import MixedFit
from .profile import _curvature_covariance, _Deviance, _psi_of


class _FixedCovariance:
    """C(phi), the covariance of the fixed effects in the units of the data, at any value of
    the variance parameters phi (standard deviations, correlations, sigma)."""

    def __init__(self, fit: MixedFit) -> None:
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
    names = list(fit.fixed.index)
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
