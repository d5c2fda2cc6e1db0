"""Refitting one model to new responses: the workhorse of simulations and the parametric bootstrap.

A simulation changes only the response; the rows, the groups and the design
matrices X and Z stay as they are.  :class:`ResponseRefit` therefore computes
the cross-products without y (Z_i'Z_i, Z_i'X_i, X'X) once and, for each new
response, only Z_i'y, X'y and y'y, before minimising the profiled deviance of
:mod:`lmmlib.engine`.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
from scipy import sparse

from .checks import require_single_factor_independent_errors
from .engine import CrossProducts, Evaluation, bfgs, identity_theta
from .errors import InputError
from .fitting import GRADIENT_TOLERANCE, MixedFit, fit_model


@dataclass(frozen=True)
class Refitted:
    """The optimum of the profiled deviance for one response, with its gradient check.

    ``evaluation`` is in the model's internal coordinates; ``beta`` and ``fixed_se``
    are the fixed effects and their standard errors in the units of the data.
    """

    evaluation: Evaluation
    gradient_norm: float     # of the log-likelihood in theta, as MixedFit.gradient_norm
    beta: np.ndarray
    fixed_se: np.ndarray

    @property
    def converged(self) -> bool:
        """Whether the deviance is finite and the gradient passes ``lmmlib.fitting.GRADIENT_TOLERANCE``."""
        return bool(np.isfinite(self.evaluation.deviance) and self.gradient_norm <= GRADIENT_TOLERANCE)

    @property
    def loglik(self) -> float:
        """The maximised log-likelihood (restricted for REML)."""
        return -self.evaluation.deviance / 2


class ResponseRefit:
    """One model refitted to new responses with its rows, groups and design matrices unchanged.

    Z_i'Z_i, Z_i'X_i and X'X are those of *model* (in its internal coordinates);
    :meth:`refit` adds Z_i'y, X'y and y'y for the new response and runs one BFGS
    pass with the analytic gradient of :func:`lmmlib.engine.evaluate`, starting
    from *start* (the model's internal theta; Lambda = I if None).  Starting near
    the answer makes this several times faster than a fresh fit, which is what a
    simulation of many responses needs; the answer is the same optimum, and
    :attr:`Refitted.converged` applies the same gradient check.

    >>> import lmmlib, pandas as pd
    >>> data = pd.DataFrame({"y": [3.0, 4.1, 5.2, 2.0, 2.8, 4.1, 6.2, 7.0, 7.9, 4.4, 5.1, 6.5],
    ...                      "x": [0.0, 1.0, 2.0] * 4, "g": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]})
    >>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 | g)")
    >>> again = ResponseRefit.of_fit(fit).refit(data["y"].to_numpy())
    >>> again.converged, bool(abs(again.loglik - fit.loglik) < 1e-6)
    (True, True)
    """

    def __init__(self, model, reml: bool, start: np.ndarray | None = None) -> None:
        self.model, self.reml = model, reml
        self.base = model.cross_products
        self.start = identity_theta(self.base.structure) if start is None else np.asarray(start, dtype=float)
        self.group_sums = group_sum_operator(model.internal_z, model.design.group_codes)

    @classmethod
    def of_fit(cls, fit: MixedFit) -> ResponseRefit:
        """The model of *fit*, started from its estimate (from Lambda = I when the fit is singular)."""
        require_single_factor_independent_errors(fit, "ResponseRefit")
        return cls(fit.model, reml=fit.method == "REML", start=None if fit.singular else fit.internal_theta)

    def cross_products(self, y: np.ndarray) -> CrossProducts:
        """The model's cross-products for response *y*: only the y-dependent ones are computed."""
        centred = y - self.model.y_shift
        return replace(self.base, zty=(self.group_sums @ centred).reshape(self.base.zty.shape),
                       xty=self.model.internal_x.T @ centred, yty=float(centred @ centred))

    def refit(self, y: np.ndarray) -> Refitted:
        """Minimise the profiled deviance for response *y* (same method, same design)."""
        cp = self.cross_products(y)
        optimum = bfgs(cp, self.reml, self.start).evaluation
        beta, covariance = self.model.fixed_effects(optimum.beta, optimum.w, optimum.sigma2)
        return Refitted(evaluation=optimum, gradient_norm=float(np.linalg.norm(optimum.gradient)) / 2,
                        beta=beta, fixed_se=np.sqrt(np.diag(covariance)))

    def fit(self, y: np.ndarray) -> MixedFit:
        """The whole, checked :class:`MixedFit` of the model to response *y*, as ``fit_mixed`` returns it
        with *y* in the response column, but without reading the data again: for what needs a fit
        rather than :meth:`refit`'s optimum (Satterthwaite's and Kenward-Roger's tests).  Like any
        fit it starts from Lambda = I, raises ConvergenceError and warns of a boundary.

        >>> import lmmlib
        >>> data = lmmlib.examples.two_level_data()
        >>> y = data["y"].to_numpy()[::-1].copy()
        >>> fit = ResponseRefit.of_fit(lmmlib.fit_mixed(data, "y ~ x + (1 | group)")).fit(y)
        >>> direct = lmmlib.fit_mixed(data.assign(y=y), "y ~ x + (1 | group)")
        >>> bool(np.allclose(fit.fixed, direct.fixed) and abs(fit.loglik - direct.loglik) < 1e-9)
        True
        """
        y = np.asarray(y, dtype=float)
        if y.shape != self.model.design.y.shape:
            raise InputError(f"the response must hold one value for each of the model's {len(self.model.design.y)} "
                             f"rows, not shape {y.shape}")
        model = copy.copy(self.model)
        model.design = replace(self.model.design, y=y)
        model.cross_products = self.cross_products(y)
        return fit_model(model, "REML" if self.reml else "ML")


def group_sum_operator(z: np.ndarray, codes: np.ndarray) -> sparse.csr_matrix:
    """Sparse S with S @ y = every Z_i'y, flattened from the (q, m) layout of CrossProducts.zty.

    >>> z, codes = np.ones((3, 1)), np.array([0, 0, 1])
    >>> (group_sum_operator(z, codes) @ np.array([1.0, 2.0, 4.0])).tolist()
    [3.0, 4.0]
    """
    n, q = z.shape
    m = int(codes.max()) + 1
    rows = (np.arange(q) * m + codes[:, None]).ravel()
    columns = np.repeat(np.arange(n), q)
    return sparse.csr_matrix((z.ravel(), (rows, columns)), shape=(q * m, n))
