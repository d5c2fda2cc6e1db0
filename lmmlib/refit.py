"""Refitting one model to new responses: the workhorse of simulations and the parametric bootstrap.

A simulation changes only the response; the rows, the groups and the design
matrices X and Z stay as they are.  :class:`ResponseRefit` therefore computes
the cross-products without y (Z_i'Z_i, Z_i'X_i, X'X) once and, for each new
response, only Z_i'y, X'y and y'y, before minimising the profiled deviance of
:mod:`lmmlib.engine`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import sparse

from .engine import CrossProducts, Evaluation, bfgs, identity_theta, theta_positions
from .errors import InputError
from .fitting import GRADIENT_TOLERANCE, MixedFit
from .model_frame import ModelDesign, model_design


@dataclass(frozen=True)
class Refitted:
    """The optimum of the profiled deviance for one response, with its gradient check."""

    evaluation: Evaluation
    gradient_norm: float     # of the log-likelihood in theta, as MixedFit.gradient_norm

    @property
    def converged(self) -> bool:
        """Whether the deviance is finite and the gradient passes ``lmmlib.fitting.GRADIENT_TOLERANCE``."""
        return bool(np.isfinite(self.evaluation.deviance) and self.gradient_norm <= GRADIENT_TOLERANCE)

    @property
    def loglik(self) -> float:
        """The maximised log-likelihood (restricted for REML)."""
        return -self.evaluation.deviance / 2

    @property
    def fixed_se(self) -> np.ndarray:
        """Standard errors of the fixed effects, sqrt of the diagonal of sigma^2 W^-1 (as MixedFit.fixed)."""
        return np.sqrt(self.evaluation.sigma2 * np.diag(np.linalg.inv(self.evaluation.w)))


class ResponseRefit:
    """One model refitted to new responses with its rows, groups and design matrices unchanged.

    Z_i'Z_i, Z_i'X_i and X'X are computed once; :meth:`refit` adds Z_i'y, X'y and
    y'y for the new response and runs one BFGS pass with the analytic gradient of
    :func:`lmmlib.engine.evaluate`, starting from *start* (theta; Lambda = I if None).
    Starting near the answer makes this several times faster than a fresh
    :func:`lmmlib.fit_mixed`, which is what a simulation of many responses needs;
    the answer is the same optimum, and :attr:`Refitted.converged` applies the
    same gradient check.

    >>> import lmmlib
    >>> hsb = lmmlib.load_hsb()
    >>> fit = lmmlib.fit_mixed(hsb, "mathach ~ cses", "school")
    >>> again = ResponseRefit.of_fit(fit, hsb).refit(hsb["mathach"].to_numpy())
    >>> again.converged, bool(abs(again.loglik - fit.loglik) < 1e-6)
    (True, True)
    """

    def __init__(self, design: ModelDesign, reml: bool, start: np.ndarray | None = None) -> None:
        self.design, self.reml = design, reml
        self.base = CrossProducts.from_codes(design.y, design.x, design.z, design.group_codes,
                                             design.group_labels, design.z_in_x)
        self.start = identity_theta(self.base.q) if start is None else np.asarray(start, dtype=float)
        self.group_sums = group_sum_operator(design)

    @classmethod
    def of_fit(cls, fit: MixedFit, data: pd.DataFrame) -> "ResponseRefit":
        """The model of *fit*, with the rows of *data* it was fitted to, started from its estimate."""
        return cls(fitted_design(fit, data), reml=fit.method == "REML", start=fit_theta(fit))

    def cross_products(self, y: np.ndarray) -> CrossProducts:
        """The model's cross-products for response *y*: only the y-dependent ones are computed."""
        return replace(self.base, zty=(self.group_sums @ y).reshape(self.base.zty.shape),
                       xty=self.design.x.T @ y, yty=float(y @ y))

    def refit(self, y: np.ndarray) -> Refitted:
        """Minimise the profiled deviance for response *y* (same method, same design)."""
        cp = self.cross_products(y)
        optimum = bfgs(cp, self.reml, self.start).evaluation
        return Refitted(evaluation=optimum, gradient_norm=float(np.linalg.norm(optimum.gradient)) / 2)


def fitted_design(fit: MixedFit, data: pd.DataFrame) -> ModelDesign:
    """The design of *fit*'s model for *data*; InputError unless *data* hold the rows and response it was fitted to."""
    design = model_design(data, fit.formula, fit.group, fit.random)
    if len(design.y) != fit.n_obs or not np.allclose(design.y, fit.response.to_numpy()):
        raise InputError(f"the fit of {fit.formula} (random ~{fit.random}) was not made from these data "
                         "(different rows or response); pass the data the models were fitted to")
    return design


def fit_theta(fit: MixedFit) -> np.ndarray | None:
    """theta of *fit* (Lambda = Cholesky factor of Psi / sigma^2), or None if Psi is singular.

    A singular Psi has a zero column in Lambda, where the gradient in that column
    vanishes by symmetry, so it would be a poor place to start an optimizer.
    """
    if fit.singular:
        return None
    lam = np.linalg.cholesky(fit.random_cov.to_numpy() / fit.residual_sd ** 2)
    return lam[theta_positions(len(lam))]


def group_sum_operator(design: ModelDesign) -> sparse.csr_matrix:
    """Sparse S with S @ y = every Z_i'y, flattened from the (q, m) layout of CrossProducts.zty.

    >>> import lmmlib
    >>> design = model_design(lmmlib.load_hsb(), "mathach ~ 1", "school", "1")
    >>> sums = group_sum_operator(design) @ design.y
    >>> bool(np.isclose(sums[0], design.y[design.groups == design.groups[0]].sum()))
    True
    """
    n, q = design.z.shape
    m = len(design.group_labels)
    rows = (np.arange(q) * m + design.group_codes[:, None]).ravel()
    columns = np.repeat(np.arange(n), q)
    return sparse.csr_matrix((design.z.ravel(), (rows, columns)), shape=(q * m, n))
