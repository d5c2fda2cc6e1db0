"""Fitting two-level linear mixed models by the profiled likelihood, with every result checked.

:func:`fit_mixed` reads the model from a DataFrame (:mod:`lmmlib.model_frame`),
accumulates the per-group cross-products once and minimises the profiled
deviance of :mod:`lmmlib.engine` over the relative covariance factor theta.  The
result is accepted only if

1. the gradient of the log-likelihood in theta is below ``GRADIENT_TOLERANCE``
   (otherwise :class:`~lmmlib.errors.ConvergenceError`), and
2. the Hessian there is positive definite, or the fit is singular (a variance on
   the boundary, where the surface may be flat); otherwise a
   :class:`ConvergenceWarning` says the point may be a saddle.

A variance that lands on the boundary of the parameter space (zero, or a
singular covariance matrix) is reported in :attr:`MixedFit.boundary` and with a
:class:`BoundaryWarning`.  Standard errors of the fixed effects come from the
fixed-effects block sigma^2 (X'V^-1 X)^-1, as nlme and lme4 report them.

:func:`lmmlib.fit_statsmodels` fits the same models with statsmodels' MixedLM;
the chapters use it once each to show that both give the same answer.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school", method="ML")
>>> round(float(fit.fixed.loc["Intercept", "estimate"]), 3), round(fit.residual_sd, 3)
(12.637, 6.257)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .engine import CrossProducts, minimize_deviance
from .errors import ConvergenceError, InputError
from .model_frame import check_method, model_design

#: Largest accepted norm of the gradient of the log-likelihood in theta at the estimate.
GRADIENT_TOLERANCE = 1e-2
#: A random-effect variance below this fraction of the residual variance is "on the boundary".
BOUNDARY_TOLERANCE = 1e-6


class BoundaryWarning(UserWarning):
    """A variance estimate sits on the boundary of the parameter space."""


class ConvergenceWarning(UserWarning):
    """The optimum passed the gradient check but the Hessian there is not positive definite."""


@dataclass(frozen=True)
class MixedFit:
    """A fitted linear mixed model in tidy form.

    Attributes
    ----------
    formula, group, random, method
        What was fitted: fixed-effects formula, grouping column, random part
        (e.g. ``"1"`` or ``"1 + cses"``) and ``"ML"`` or ``"REML"``.
    n_obs, n_groups
        Number of rows used and number of groups.
    fixed
        DataFrame indexed by term with columns ``estimate``, ``se``, ``z``.
    random_cov
        Covariance matrix of the random effects (Psi) as a DataFrame.
    residual_sd
        Estimated SD of the level-1 errors (sigma).
    loglik
        Maximised log-likelihood (ML) or restricted log-likelihood (REML).
    boundary
        Messages about estimates on the boundary of the parameter space (empty if none).
    attempts
        One row per optimizer pass, with its log-likelihood.
    gradient_norm
        Norm of the gradient of the (profiled) log-likelihood at the estimate.
    random_effects, random_effects_se
        Conditional modes (BLUPs) of the random effects, one row per group, and
        their conditional standard errors (given the estimated parameters).
    fitted
        Fitted values X beta + Z b, indexed like the rows of the data that were used;
        the residuals are :attr:`residuals`.
    singular
        True when the random-effects covariance is singular (a variance of zero or
        a correlation of +-1), the condition lme4 calls a singular fit.
    hessian_positive_definite
        Whether the Hessian of the deviance in theta is positive definite at the
        estimate (None when the fit comes from statsmodels, which does not check).
    n_dropped
        Rows of the data left out because of missing values.
    """

    formula: str
    group: str
    random: str
    method: str
    n_obs: int
    n_groups: int
    fixed: pd.DataFrame
    random_cov: pd.DataFrame
    residual_sd: float
    loglik: float
    boundary: tuple[str, ...]
    attempts: pd.DataFrame = field(repr=False)
    gradient_norm: float = field(repr=False)
    random_effects: pd.DataFrame = field(repr=False)
    random_effects_se: pd.DataFrame = field(repr=False)
    fitted: pd.Series = field(repr=False)
    response: pd.Series = field(repr=False)
    singular: bool = False
    hessian_positive_definite: bool | None = None
    n_dropped: int = 0

    @property
    def random_sd(self) -> pd.Series:
        """Standard deviations of the random effects (square roots of Psi's diagonal)."""
        return pd.Series(np.sqrt(np.diag(self.random_cov.to_numpy())), index=self.random_cov.index,
                         name="sd")

    @property
    def random_corr(self) -> pd.DataFrame:
        """Correlation matrix of the random effects (NaN where a variance is zero)."""
        sd = self.random_sd.to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = self.random_cov.to_numpy() / np.outer(sd, sd)
        return pd.DataFrame(corr, index=self.random_cov.index, columns=self.random_cov.columns)

    @property
    def residuals(self) -> pd.Series:
        """Conditional residuals y - X beta - Z b."""
        return (self.response - self.fitted).rename("residual")

    @property
    def n_parameters(self) -> int:
        """Fixed effects + distinct elements of Psi + the residual variance."""
        q = len(self.random_cov)
        return len(self.fixed) + q * (q + 1) // 2 + 1

    @property
    def aic(self) -> float:
        """-2 log L + 2 k (for REML fits, from the restricted log-likelihood, as lme4 reports it)."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """-2 log L + k log n."""
        return -2 * self.loglik + self.n_parameters * np.log(self.n_obs)

    def parameters(self) -> pd.DataFrame:
        """All estimates in one long table: fixed effects, random-effect SDs and covariances, residual SD.

        Columns: ``kind`` (fixed / random / residual), ``estimate`` and ``se``
        (standard errors are given for fixed effects only).

        >>> import lmmlib
        >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school")
        >>> fit.parameters().index.tolist()
        ['Intercept', 'sd(Intercept)', 'sd(residual)']
        """
        rows = [("fixed", term, r.estimate, r.se) for term, r in self.fixed.iterrows()]
        names = list(self.random_cov.index)
        cov = self.random_cov.to_numpy()
        for k, name in enumerate(names):
            rows.append(("random", f"sd({name})", float(np.sqrt(cov[k, k])), np.nan))
        for k in range(len(names)):
            for m in range(k + 1, len(names)):
                rows.append(("random", f"cov({names[k]},{names[m]})", float(cov[k, m]), np.nan))
        rows.append(("residual", "sd(residual)", self.residual_sd, np.nan))
        table = pd.DataFrame(rows, columns=["kind", "parameter", "estimate", "se"])
        return table.set_index("parameter")

    def __str__(self) -> str:
        lines = [
            f"Linear mixed model fitted by {self.method}: {self.formula}, random = ~{self.random} | {self.group}",
            f"{self.n_obs} observations in {self.n_groups} groups; "
            f"{'restricted ' if self.method == 'REML' else ''}log-likelihood {self.loglik:.2f}, "
            f"AIC {self.aic:.2f}, BIC {self.bic:.2f}",
            self.parameters().to_string(float_format=lambda v: f"{v:.4f}", na_rep=""),
        ]
        lines += [f"Boundary: {message}" for message in self.boundary]
        return "\n".join(lines)


def fit_mixed(data: pd.DataFrame, formula: str, group: str, random: str = "1",
              method: str = "REML") -> MixedFit:
    """Fit a two-level linear mixed model and return a checked, tidy :class:`MixedFit`.

    Parameters
    ----------
    data
        One row per level-1 unit.
    formula
        Fixed part as a patsy formula, e.g. ``"mathach ~ cses"`` (factors,
        interactions and transformations as patsy allows).
    group
        Column identifying the groups (level-2 units).
    random
        Random part as the right-hand side of a formula: ``"1"`` for a random
        intercept, ``"1 + cses"`` for a random intercept and slope (with an
        unstructured covariance), ``"0 + cses"`` for a slope only.
    method
        ``"REML"`` (default) or ``"ML"``.

    Rows with a missing value in a column the model uses are dropped with a warning
    that says how many.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school", method="REML")
    >>> round(float(fit.random_sd["Intercept"]), 3), round(fit.loglik, 2)
    (2.935, -23558.4)
    """
    method = check_method(method)
    design = model_design(data, formula, group, random)
    cp = CrossProducts.from_codes(design.y, design.x, design.z, design.group_codes, design.group_labels,
                                  design.z_in_x)
    optimum = minimize_deviance(cp, reml=method == "REML")
    if not np.isfinite(optimum.evaluation.deviance) or optimum.gradient_norm > GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the {method} fit of {formula} (random ~{random} | {group}) did not reach an optimum: "
            f"the gradient of the log-likelihood has norm {optimum.gradient_norm:.3g} there "
            f"(accepted: below {GRADIENT_TOLERANCE}). Optimizer passes:\n{optimum.attempts.to_string()}\n"
            "Simplify the random part (fewer random terms) or rescale the predictors."
        )
    solution = optimum.evaluation
    names = pd.Index(design.random_names)
    random_cov = pd.DataFrame(solution.sigma2 * solution.lam @ solution.lam.T, index=names, columns=names)
    boundary = boundary_messages(random_cov, solution.sigma2)
    for message in boundary:
        warnings.warn(f"{method} fit of {formula}: {message}", BoundaryWarning, stacklevel=2)
    if not optimum.hessian_positive_definite and not optimum.singular:
        warnings.warn(f"{method} fit of {formula}: the gradient is zero but the Hessian is not positive "
                      "definite, so the estimate may be a saddle point; try another parametrisation",
                      ConvergenceWarning, stacklevel=2)
    se = np.sqrt(solution.sigma2 * np.diag(np.linalg.inv(solution.w)))
    fixed = pd.DataFrame(np.column_stack([solution.beta, se, solution.beta / se]),
                         index=pd.Index(design.fixed_names, name="term"), columns=["estimate", "se", "z"])
    modes, modes_se = _conditional_modes(solution, cp.groups, names, group)
    fitted = design.x @ solution.beta
    for column, mode in zip(design.z.T, modes.to_numpy().T):
        fitted += column * mode[design.group_codes]
    index = design.frame.index
    return MixedFit(
        formula=formula, group=group, random=random, method=method, n_obs=cp.n, n_groups=len(cp.groups),
        fixed=fixed, random_cov=random_cov, residual_sd=float(np.sqrt(solution.sigma2)),
        loglik=-solution.deviance / 2, boundary=tuple(boundary), attempts=optimum.attempts,
        gradient_norm=optimum.gradient_norm, random_effects=modes, random_effects_se=modes_se,
        fitted=pd.Series(fitted, index=index, name="fitted", copy=False),
        response=pd.Series(design.y, index=index, name=formula.split("~")[0].strip(), copy=False),
        singular=optimum.singular or bool(boundary),
        hessian_positive_definite=optimum.hessian_positive_definite, n_dropped=len(data) - cp.n,
    )


def _conditional_modes(solution, groups: np.ndarray, names: pd.Index, group: str):
    """b_i = Lambda u_i and the SDs of b_i given y: sigma^2 Lambda A_i^-1 Lambda' (parameters at their estimates)."""
    lam = solution.lam
    modes = (lam @ solution.u).T
    variances = solution.sigma2 * np.einsum("ij,jkm,ik->mi", lam, solution.a_inverse, lam)
    index = pd.Index(groups, name=group)
    return (pd.DataFrame(modes, index=index, columns=names),
            pd.DataFrame(np.sqrt(np.maximum(variances, 0.0)), index=index, columns=names))


def boundary_messages(random_cov: pd.DataFrame, residual_var: float) -> list[str]:
    """What lies on the boundary of the parameter space: a zero variance, or else a singular Psi.

    A variance counts as zero below ``BOUNDARY_TOLERANCE`` times the residual
    variance.  Shared by :func:`fit_mixed` and :func:`lmmlib.fit_statsmodels`.

    >>> psi = pd.DataFrame([[4.0, 2.0], [2.0, 1.0]], index=["Intercept", "cses"], columns=["Intercept", "cses"])
    >>> boundary_messages(psi, residual_var=36.0)
    ['the random-effects covariance matrix is singular (a correlation of +1 or -1 between random effects)']
    """
    names = list(random_cov.index)
    cov = random_cov.to_numpy()
    messages = [f"the variance of the random {name!r} effect is estimated as 0"
                for k, name in enumerate(names) if cov[k, k] <= BOUNDARY_TOLERANCE * residual_var]
    if not messages and len(names) > 1:
        eigenvalues = np.linalg.eigvalsh(cov)
        if eigenvalues.min() <= BOUNDARY_TOLERANCE * eigenvalues.max():
            messages.append("the random-effects covariance matrix is singular "
                            "(a correlation of +1 or -1 between random effects)")
    return messages


@dataclass(frozen=True)
class MethodComparison:
    """An ML fit and a REML fit of the same model, side by side.

    >>> import lmmlib
    >>> both = lmmlib.compare_ml_reml(lmmlib.load_hsb(), "mathach ~ 1", group="school")
    >>> both.table().columns.tolist()
    ['ML estimate', 'ML se', 'REML estimate', 'REML se']
    """

    ml: MixedFit
    reml: MixedFit

    def table(self) -> pd.DataFrame:
        """Estimates and standard errors of both fits, one row per parameter."""
        ml, reml = self.ml.parameters(), self.reml.parameters()
        return pd.DataFrame({
            "ML estimate": ml["estimate"], "ML se": ml["se"],
            "REML estimate": reml["estimate"], "REML se": reml["se"],
        })


def compare_ml_reml(data: pd.DataFrame, formula: str, group: str, random: str = "1") -> MethodComparison:
    """Fit the same model by ML and by REML (see :func:`fit_mixed` for the arguments)."""
    return MethodComparison(ml=fit_mixed(data, formula, group, random, method="ML"),
                            reml=fit_mixed(data, formula, group, random, method="REML"))


def intraclass_correlation(fit: MixedFit) -> float:
    """psi^2 / (psi^2 + sigma^2) for a random-intercept-only fit.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.load_hsb(), "mathach ~ 1", group="school")
    >>> round(lmmlib.intraclass_correlation(fit), 3)
    0.18
    """
    if list(fit.random_cov.index) != ["Intercept"]:
        raise InputError("the intra-class correlation is defined here for a random-intercept-only "
                         f"model; this fit has random terms {list(fit.random_cov.index)}")
    psi2 = float(fit.random_cov.iloc[0, 0])
    return psi2 / (psi2 + fit.residual_sd ** 2)
