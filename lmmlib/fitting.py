"""Fitting linear mixed models by the profiled likelihood, with every result checked.

:func:`fit_mixed` reads the model (:class:`lmmlib.MixedModel`) and minimises the
profiled deviance of :mod:`lmmlib.engine` over the relative covariance factor
theta, in the model's scaled internal coordinates.  The result is accepted only if

1. the gradient of the log-likelihood there is below ``GRADIENT_TOLERANCE``
   (otherwise :class:`~lmmlib.errors.ConvergenceError`), and
2. the Hessian there is positive definite, or the fit is singular (a variance on
   the boundary, where the surface may be flat); otherwise a
   :class:`~lmmlib.errors.ConvergenceWarning` says the point may be a saddle.

Both are judged in coordinates where every random-effect column is centred and
scaled, so neither depends on the units of the predictors.  A fit on the boundary
of the parameter space (a variance of zero, or random effects perfectly
correlated) is reported in :attr:`MixedFit.boundary` and with a
:class:`~lmmlib.errors.BoundaryWarning`.  Standard errors of the fixed effects come
from the fixed-effects block sigma^2 (X'V^-1 X)^-1, as nlme and lme4 report them.

>>> import lmmlib, pandas as pd
>>> data = pd.DataFrame({"y": [3.0, 4.1, 5.2, 2.0, 2.8, 4.1, 6.2, 7.0, 7.9, 4.4, 5.1, 6.5],
...                      "x": [0.0, 1.0, 2.0] * 4, "g": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]})
>>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 | g)", method="ML")
>>> round(float(fit.fixed.loc["Intercept", "estimate"]), 3), round(fit.residual_sd, 3)
(3.846, 0.158)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .display import ShowsSummary
from .engine import minimize_deviance, theta_positions
from .errors import BoundaryWarning, ConvergenceError, ConvergenceWarning, InputError, warn
from .model_frame import check_method

#: Largest accepted norm of the gradient of the log-likelihood in the internal theta at the estimate.
GRADIENT_TOLERANCE = 1e-2
#: A relative standard deviation below this puts the fit on the boundary (lme4's tolerance on theta).
SINGULAR_TOLERANCE = 1e-4


class InformationCriteria:
    """AIC and BIC of a fit with ``loglik``, ``n_parameters`` and ``n_obs`` (mixed and marginal fits)."""

    @property
    def aic(self) -> float:
        """-2 log L + 2 k (for REML fits, from the restricted log-likelihood, as lme4 reports it)."""
        return -2 * self.loglik + 2 * self.n_parameters

    @property
    def bic(self) -> float:
        """-2 log L + k log n."""
        return -2 * self.loglik + self.n_parameters * np.log(self.n_obs)


@dataclass(frozen=True, repr=False)
class MixedFit(InformationCriteria, ShowsSummary):
    """A fitted linear mixed model: estimates in tidy tables, its checks, and the model it came from.

    It displays itself as lme4's ``summary()`` lays a fit out (:meth:`summary`;
    ``print(fit)``, or the fit as the last line of a notebook cell).

    Attributes
    ----------
    formula, group, random, method
        What was fitted: the model in lme4's syntax, the grouping column, the random
        part (e.g. ``"1 + cses"``, the terms before the bar) and ``"ML"`` or ``"REML"``.
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
        Norm of the gradient of the (profiled) log-likelihood at the estimate, in the
        model's scaled coordinates (so it does not depend on the units of the data).
    random_effects, random_effects_se
        Conditional modes (BLUPs) of the random effects, one row per group, and
        their conditional standard errors (given the estimated parameters).
    fitted
        Fitted values X beta + Z b, indexed like the rows of the data that were used;
        the residuals are :attr:`residuals`.
    singular
        True when the fit is on the boundary: a variance of zero or random effects
        perfectly correlated (lme4's singular fit, judged without regard to units).
    hessian_positive_definite
        Whether the Hessian of the deviance in theta is positive definite at the
        estimate (None when the fit comes from statsmodels, which does not check).
    n_dropped
        Rows of the data left out because of missing values.
    theta
        lme4's theta: the lower triangle of each block of the Cholesky factor of
        Psi / sigma^2, column by column (``model.deviance(theta)`` is -2 ``loglik``).
    internal_theta
        The same optimum in the optimizer's coordinates (the model's centred and scaled
        Z T), where the checks are made and from where refits start.
    model
        The :class:`lmmlib.MixedModel` (formula, design, cross-products) that was fitted.
    correlation
        For a model with serially correlated errors (``correlation=`` of :func:`fit_mixed`),
        the structure and its estimated phi (:class:`lmmlib.serial.SerialEstimate`); None otherwise.
    variance
        For a model with a variance by stratum (``variance=`` of :func:`fit_mixed`), the ratio of
        each stratum's residual SD to the reference's (:class:`lmmlib.serial.VarianceEstimate`;
        ``residual_sd`` is then the reference's); None otherwise.
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
    attempts: pd.DataFrame
    gradient_norm: float
    random_effects: pd.DataFrame
    random_effects_se: pd.DataFrame
    fitted: pd.Series
    response: pd.Series
    singular: bool = False
    hessian_positive_definite: bool | None = None
    n_dropped: int = 0
    theta: np.ndarray | None = None
    internal_theta: np.ndarray | None = None
    model: object = field(default=None, compare=False)
    correlation: object = None
    variance: object = None

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
    def covariance_pairs(self) -> list[tuple[int, int]]:
        """(row, column) of each free element of Psi: the lower triangle of each block, column by column."""
        rows, cols = theta_positions(self.model.blocks)
        return list(zip(rows.tolist(), cols.tolist()))

    @property
    def random_components(self) -> list[tuple[str, pd.DataFrame, list[tuple[int, int]]]]:
        """[(grouping factor, Psi, its free (row, column) pairs)]: the random part as the summary lays it out."""
        return [(self.group, self.random_cov, self.covariance_pairs)]

    @property
    def n_parameters(self) -> int:
        """Fixed effects + free elements of Psi + the residual variance (+ phi of serially correlated errors,
        + a ratio of SDs for each stratum but the reference)."""
        variance = 0 if self.variance is None else len(self.variance.ratios) - 1
        return len(self.fixed) + len(self.covariance_pairs) + 1 + (self.correlation is not None) + variance

    def parameters(self) -> pd.DataFrame:
        """All estimates in one long table: fixed effects, random-effect SDs and covariances, residual SD.

        Columns: ``kind`` (fixed / random / residual), ``estimate`` and ``se``
        (standard errors are given for fixed effects only).  Covariances appear
        only between correlated random effects (one block of Psi).

        >>> import lmmlib, pandas as pd
        >>> data = pd.DataFrame({"y": [3.0, 4.1, 5.2, 2.0, 2.8, 4.1, 6.2, 7.0], "g": [1, 1, 2, 2, 3, 3, 4, 4]})
        >>> lmmlib.fit_mixed(data, "y ~ 1 + (1 | g)").parameters().index.tolist()
        ['Intercept', 'sd(Intercept)', 'sd(residual)']
        """
        rows = [("fixed", term, r.estimate, r.se) for term, r in self.fixed.iterrows()]
        names = list(self.random_cov.index)
        cov = self.random_cov.to_numpy()
        for k, name in enumerate(names):
            rows.append(("random", f"sd({name})", float(np.sqrt(cov[k, k])), np.nan))
        for row, col in sorted(pair[::-1] for pair in self.covariance_pairs if pair[0] != pair[1]):
            rows.append(("random", f"cov({names[row]},{names[col]})", float(cov[row, col]), np.nan))
        rows.append(("residual", "sd(residual)", self.residual_sd, np.nan))
        table = pd.DataFrame(rows, columns=["kind", "parameter", "estimate", "se"])
        return table.set_index("parameter")

    def to_frame(self) -> pd.DataFrame:
        """The estimates as one tidy table (as broom.mixed's ``tidy``): effect, group, term, estimate, se, z.

        Random-effect parameters are SDs (``sd__x``) and correlations (``cor__x.w``);
        the residual SD is ``sd__Observation`` in group ``Residual``.
        """
        rows = [("fixed", "", term, r.estimate, r.se, r.z) for term, r in self.fixed.iterrows()]
        names, sd, corr = list(self.random_cov.index), self.random_sd, self.random_corr.to_numpy()
        rows += [("ran_pars", self.group, f"sd__{name}", sd[name], np.nan, np.nan) for name in names]
        rows += [("ran_pars", self.group, f"cor__{names[col]}.{names[row]}", corr[row, col], np.nan, np.nan)
                 for row, col in self.covariance_pairs if row != col]
        rows.append(("ran_pars", "Residual", "sd__Observation", self.residual_sd, np.nan, np.nan))
        return pd.DataFrame(rows, columns=["effect", "group", "term", "estimate", "se", "z"])

    def simulate(self, seed: int):
        """Endless draws of the response from this fit's estimates (see :func:`lmmlib.simulated_responses`)."""
        from .bootstrap import simulated_responses
        return simulated_responses(self, seed)


def fit_mixed(data: pd.DataFrame, formula: str, group: str | None = None, random: str | None = None,
              method: str = "REML", correlation=None, crossed: bool = False, variance=None) -> MixedFit:
    """Fit a linear mixed model and return a checked, tidy :class:`MixedFit`.

    Parameters
    ----------
    data
        One row per level-1 unit.
    formula
        lme4's syntax: ``"mathach ~ cses + (1 + cses | school)"`` -- the fixed part
        as a patsy formula (factors, interactions and transformations as in
        statsmodels; ``^`` inside ``I()`` is a power, as in R) and the random part
        as ``(terms | group)``: ``(1 | g)`` a random intercept, ``(x | g)`` or
        ``(1 + x | g)`` an intercept and slope with an unstructured covariance,
        ``(0 + x | g)`` a slope only, ``(1 + x || g)`` uncorrelated effects,
        ``(Machine | Worker)`` one effect per level of a factor.  Several grouping
        factors, crossed ``(1 | subject) + (1 | item)`` or nested ``(1 | school/class)``,
        give a :class:`lmmlib.MultilevelFit` (:mod:`lmmlib.multilevel`).
    group, random
        The older three-part form: ``fit_mixed(data, "mathach ~ cses", "school", "1 + cses")``
        means ``"mathach ~ cses + (1 + cses | school)"``.
    method
        ``"REML"`` (default) or ``"ML"``.
    correlation
        Serially correlated level-1 errors within each group: ``lmmlib.AR1()`` (occasions
        equally spaced, in the order of the rows) or ``lmmlib.CAR1("time")`` (any times, from a
        column); None (default) for independent errors.  See :mod:`lmmlib.serial`.
    variance
        A level-1 variance for each stratum of a column: ``lmmlib.VarIdent("group")`` (the
        residual SD of each stratum as a ratio to the reference's); None (default) for one
        variance.  Combines with *correlation*.  See :mod:`lmmlib.serial`.

    crossed
        With several grouping factors: True states that labels repeating across the levels
        of another factor mean the same unit (a crossed design), which turns off the check
        for a nested factor written as crossed.

    Rows with a missing value in a column the model uses are dropped with a
    warning that says how many.  Equivalent to ``MixedModel(data, formula).fit(method)``.

    >>> import lmmlib, pandas as pd
    >>> data = pd.DataFrame({"y": [3.0, 4.1, 5.2, 2.0, 2.8, 4.1, 6.2, 7.0, 7.9, 4.4, 5.1, 6.5],
    ...                      "x": [0.0, 1.0, 2.0] * 4, "g": [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4]})
    >>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 | g)", method="REML")
    >>> round(float(fit.fixed.loc["x", "estimate"]), 4), fit.n_groups
    (1.0125, 4)
    """
    from .formula import parse_formula
    from .model import MixedModel
    if len(parse_formula(formula, group, random).factors) > 1:
        from .multilevel import MultilevelModel
        if correlation is not None or variance is not None:
            raise InputError("structured level-1 errors (correlation=, variance=) are fitted with one grouping "
                             "factor only")
        return MultilevelModel(data, parse_formula(formula, group, random).text, crossed).fit(method)
    return fit_model(MixedModel(data, formula, group, random, correlation, variance), check_method(method))


def fit_model(model, method: str) -> MixedFit:
    """Minimise *model*'s profiled deviance by *method* and check the optimum (see :meth:`MixedModel.fit`)."""
    if getattr(model, "errors", None) is not None:
        return _fit_serial(model, method)
    return _fit_at(model, method, model.cross_products)


def _fit_at(model, method: str, cp, extra_deviance: float = 0.0, serial=None, variance=None) -> MixedFit:
    """The checked fit of *model* with cross-products *cp* (the model's own, or whitened ones for
    structured errors, whose log|S R S| is *extra_deviance*, with the estimates *serial* and *variance*)."""
    text = model.formula.text
    optimum = minimize_deviance(cp, reml=method == "REML")
    if not np.isfinite(optimum.evaluation.deviance) or optimum.gradient_norm > GRADIENT_TOLERANCE:
        raise ConvergenceError(
            f"the {method} fit of {text} did not reach an optimum: the gradient of the log-likelihood (in "
            f"scaled coordinates) has norm {optimum.gradient_norm:.3g} there (accepted: below "
            f"{GRADIENT_TOLERANCE}). Optimizer passes:\n{optimum.attempts.to_string()}\n"
            "Simplify the random part (fewer random terms or uncorrelated ones, ||)."
        )
    solution = optimum.evaluation
    names = pd.Index(model.random_names)
    lam = model.scaling @ solution.lam                      # Lambda in the units of the data
    random_cov = pd.DataFrame(solution.sigma2 * lam @ lam.T, index=names, columns=names)
    boundary = boundary_messages(solution.lam, random_cov, solution.sigma2, model.column_scale)
    for message in boundary:
        warn(f"{method} fit of {text}: {message}", BoundaryWarning)
    if not optimum.hessian_positive_definite and not boundary:
        warn(f"{method} fit of {text}: the gradient is zero but the Hessian is not positive definite, so the "
             "estimate may be a saddle point; try another parametrisation", ConvergenceWarning)
    beta, covariance = model.fixed_effects(solution.beta, solution.w, solution.sigma2)
    se = np.sqrt(np.diag(covariance))
    fixed = pd.DataFrame(np.column_stack([beta, se, beta / se]),
                         index=pd.Index(model.fixed_names, name="term"), columns=["estimate", "se", "z"])
    modes, modes_se = _conditional_modes(lam, solution, cp.groups, names, model.group)
    design = model.design
    fitted = design.x @ beta
    for column, mode in zip(design.z.T, modes.to_numpy().T):
        fitted += column * mode[design.group_codes]
    index = design.frame.index
    return MixedFit(
        formula=text, group=model.group, random=model.formula.random_text, method=method,
        n_obs=cp.n, n_groups=len(cp.groups),
        fixed=fixed, random_cov=random_cov, residual_sd=float(np.sqrt(solution.sigma2)),
        loglik=-(solution.deviance + extra_deviance) / 2,
        boundary=tuple(boundary) + tuple(estimate.boundary for estimate in (serial, variance)
                                         if estimate is not None and estimate.boundary),
        attempts=optimum.attempts,
        gradient_norm=optimum.gradient_norm, random_effects=modes, random_effects_se=modes_se,
        fitted=pd.Series(fitted, index=index, name="fitted", copy=False),
        response=pd.Series(design.y, index=index, name=model.formula.response, copy=False),
        singular=bool(boundary), hessian_positive_definite=optimum.hessian_positive_definite,
        n_dropped=model.n_dropped, theta=lme4_theta(lam, model.blocks), internal_theta=optimum.theta,
        model=model, correlation=serial, variance=variance,
    )


def _fit_serial(model, method: str) -> MixedFit:
    """A fit with structured errors (:mod:`lmmlib.serial`): the deviance is minimised jointly over
    theta and the error parameters (:func:`lmmlib.serial.minimize_errors`), and the fit at their
    estimates is checked as any other, plus the derivative in each error parameter (or the
    parameter on the edge of its range, reported as a boundary)."""
    from .serial import MixedCriterion, minimize_errors, unsettled

    errors, criterion = model.errors, MixedCriterion(model, method == "REML")
    search = minimize_errors(criterion, errors)
    _serial_boundary(search, errors, unsettled(search, criterion, GRADIENT_TOLERANCE), method, model.formula.text)
    cp, logdet = model.cross_products_at(search.free)
    return _fit_at(model, method, cp, logdet, *errors.estimates(search.free, search.edges))


def _serial_boundary(search, errors, steep: np.ndarray, method: str, text: str) -> None:
    """Warn of each error parameter at the edge of its range; an error if one inside its range is *steep*:
    its derivative of the log-likelihood (the deviance minimised over theta) is beyond the tolerance."""
    for estimate in errors.estimates(search.free, search.edges):
        if estimate is not None and estimate.boundary:
            warn(f"{method} fit of {text}: {estimate.boundary}", BoundaryWarning)
    if steep.any():
        names = [name for name, bad in zip(errors.names, steep) if bad]
        raise ConvergenceError(f"the {method} fit of {text} with errors {errors.label} did not reach an optimum in "
                               f"{', '.join(names)} (derivatives {np.round(search.slope[steep] / 2, 4).tolist()} "
                               "of the log-likelihood there)")


def lme4_theta(lam: np.ndarray, blocks: tuple[int, ...]) -> np.ndarray:
    """lme4's theta for a (block-diagonal, not necessarily triangular) factor Lambda of Psi / sigma^2.

    The lower-triangular factor L with L L' = Lambda Lambda' and a non-negative
    diagonal, from the QR decomposition of Lambda' (which exists when Psi is singular too).

    >>> lme4_theta(np.array([[0.0, 2.0], [1.0, 1.0]]), (2,)).round(6).tolist()
    [2.0, 1.0, 1.0]
    """
    r = np.linalg.qr(lam.T, mode="r")
    lower = r.T * np.where(np.diag(r) < 0, -1.0, 1.0)
    return lower[theta_positions(blocks)]


def _conditional_modes(lam: np.ndarray, solution, groups: np.ndarray, names: pd.Index, group: str):
    """b_i = Lambda u_i and the SDs of b_i given y: sigma^2 Lambda A_i^-1 Lambda' (parameters at their estimates)."""
    modes = (lam @ solution.u).T
    variances = solution.sigma2 * np.einsum("ij,jkm,ik->mi", lam, solution.a_inverse, lam)
    index = pd.Index(groups, name=group)
    return (pd.DataFrame(modes, index=index, columns=names),
            pd.DataFrame(np.sqrt(np.maximum(variances, 0.0)), index=index, columns=names))


def boundary_messages(internal_lambda: np.ndarray, random_cov: pd.DataFrame, residual_var: float,
                      column_scale: np.ndarray) -> list[str]:
    """What lies on the boundary of the parameter space: a zero variance, or perfectly correlated effects.

    The verdict is lme4's, made scale-free: the fit is singular when Lambda Lambda'
    in the optimizer's coordinates (Psi / sigma^2 for centred, unit-variance
    random-effect columns) has an eigenvalue below ``SINGULAR_TOLERANCE`` squared
    times its largest (at least 1), so rescaling or shifting a predictor never
    changes it.  A variance counts as zero when it is that small on the same scale
    (the variance of the column's contribution z b relative to sigma^2).

    >>> psi = pd.DataFrame([[4.0, 2.0], [2.0, 1.0]], index=["Intercept", "x"], columns=["Intercept", "x"])
    >>> boundary_messages(np.array([[0.2, 0.0], [0.1, 0.0]]), psi, 36.0, np.ones(2))
    ['the random Intercept and x effects are perfectly correlated (correlation +1)']
    """
    relative = internal_lambda @ internal_lambda.T
    eigenvalues = np.linalg.eigvalsh(relative)
    limit = SINGULAR_TOLERANCE ** 2 * max(1.0, eigenvalues.max())
    if eigenvalues.min() > limit:
        return []
    names = list(random_cov.index)
    scaled = random_cov.to_numpy() * np.outer(column_scale, column_scale) / residual_var
    zero = [k for k in range(len(names)) if scaled[k, k] <= limit]
    messages = [f"the variance of the random {names[k]!r} effect is estimated as 0" for k in zero]
    live = [k for k in range(len(names)) if k not in zero]
    rest = scaled[np.ix_(live, live)]
    if not live or np.linalg.eigvalsh(rest).min() > limit:
        return messages
    sd = np.sqrt(np.diag(rest))
    if len(live) == 2:
        sign = "+1" if rest[0, 1] > 0 else "-1"
        messages.append(f"the random {names[live[0]]} and {names[live[1]]} effects are perfectly correlated "
                        f"(correlation {sign})")
    else:
        listed = ", ".join(names[k] for k in live)
        messages.append(f"the covariance matrix of the random effects ({listed}) is singular: one of them is a "
                        f"linear combination of the others (smallest SD ratio {sd.min():.2g})")
    return messages


@dataclass(frozen=True)
class MethodComparison:
    """An ML fit and a REML fit of the same model, side by side.

    >>> import lmmlib
    >>> both = lmmlib.compare_ml_reml(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
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


def compare_ml_reml(data: pd.DataFrame, formula: str, group: str | None = None,
                    random: str | None = None) -> MethodComparison:
    """Fit the same model by ML and by REML (see :func:`fit_mixed` for the arguments); the model is read once."""
    from .model import MixedModel
    model = MixedModel(data, formula, group, random)
    return MethodComparison(ml=model.fit("ML"), reml=model.fit("REML"))


def intraclass_correlation(fit: MixedFit) -> float:
    """psi^2 / (psi^2 + sigma^2) for a random-intercept-only fit.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ 1 + (1 | group)")
    >>> 0 < lmmlib.intraclass_correlation(fit) < 1
    True
    """
    if list(fit.random_cov.index) != ["Intercept"]:
        raise InputError("the intra-class correlation is defined here for a random-intercept-only "
                         f"model; this fit has random terms {list(fit.random_cov.index)}")
    psi2 = float(fit.random_cov.iloc[0, 0])
    return psi2 / (psi2 + fit.residual_sd ** 2)
