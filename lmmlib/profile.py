"""Profile-likelihood confidence intervals for every parameter of a fit.

A parameter's profile fixes it at a value x and maximises the likelihood over all the other
variance parameters (the fixed effects at their generalised-least-squares estimate, as
everywhere in the engine).  The signed square root of the rise in the deviance,

    zeta(x) = sign(x - x_hat) * sqrt(deviance_profile(x) - deviance_min),

is standard normal under the usual asymptotics; a (1 - alpha) interval is where
|zeta| <= z_{1 - alpha/2}.  The parameters are those lme4 reports: the standard deviations
and correlations of the random effects and the residual standard deviation.  Unlike a Wald
interval, the profile interval follows the likelihood: it is asymmetric where the
likelihood is, and its lower end stops at zero when a standard deviation of zero is
within reach (a one-sided interval from the boundary, as in lme4).

A fixed effect's profile fixes it and maximises the ML likelihood over all the other
parameters (the other fixed effects, the random-effect parameters and sigma); its interval
is where |zeta| <= z, as for the variance parameters.

lme4's ``profile()`` always profiles the ML deviance, refitting a REML fit by ML first.
Here the variance parameters are profiled on the fit's own criterion unless ``criterion``
says otherwise: a REML fit is profiled on the restricted likelihood, whose intervals for
variance parameters are the better ones; ``criterion="ML"`` gives lme4's.  The fixed
effects are always profiled on the ML likelihood: the restricted likelihood is not defined
for a model whose fixed effects are held at given values.

>>> import lmmlib
>>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
>>> table = profile_intervals(fit)
>>> table.index.tolist(), bool((table["lower"] < table["estimate"]).all())
(['sd(Intercept)', 'sigma', 'Intercept', 'x'], True)

:func:`wald_intervals` gives the symmetric intervals estimate +- z SE for the same
parameters, from the curvature of the same likelihood at its maximum, for comparison; and
:func:`likelihood_profile` the profiles themselves (zeta against the parameter, with the
straight line a Wald interval assumes), ready to plot.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.linalg import null_space

from .checks import require_single_factor_independent_errors
from .engine import CrossProducts, deviance_at, minimize_deviance
from .errors import InputError
from .fitting import MixedFit
from .model import check_method

#: a standard deviation below this share of the residual SD counts as zero (the boundary)
BOUNDARY_SHARE = 1e-6
#: correlations are kept inside (-1 + EDGE, 1 - EDGE)
EDGE = 1e-8
#: the deviance of correlations that no covariance matrix has (finite, so that the simplex
#: method can compare it)
IMPOSSIBLE = 1e100


@dataclass(frozen=True)
class _Parameter:
    name: str
    kind: str            # "sd", "cor" or "sigma"
    position: tuple      # (k, m) in Psi; () for sigma


def variance_parameters(fit: MixedFit) -> list[_Parameter]:
    """The variance parameters of *fit*'s model as lme4 reports them: ``sd(term)`` for each
    random effect, ``cor(term1,term2)`` for each free correlation, then ``sigma``."""
    names = list(fit.random_cov.index)
    return [_Parameter(f"sd({names[k]})", "sd", (k, k)) if k == m else
            _Parameter(f"cor({names[m]},{names[k]})", "cor", (k, m))
            for k, m in fit.covariance_pairs] + [_Parameter("sigma", "sigma", ())]


def natural_parameters(parameters: list[_Parameter], psi: np.ndarray, sigma: float) -> np.ndarray:
    """Psi and sigma as the values of *parameters* (standard deviations, correlations, sigma);
    a correlation with a standard deviation of zero is 0."""
    sd = np.sqrt(np.clip(np.diag(psi), 0.0, None))
    values = []
    for parameter in parameters[:-1]:
        k, m = parameter.position
        values.append(sd[k] if k == m else psi[k, m] / (sd[k] * sd[m]) if sd[k] * sd[m] > 0 else 0.0)
    return np.array(values + [sigma])


def _psi_of(deviance: _Deviance, values: np.ndarray) -> np.ndarray:
    """Psi from the values of *deviance*'s parameters (standard deviations, correlations, sigma)."""
    sd = np.zeros(deviance.q)
    psi = np.zeros((deviance.q, deviance.q))
    for parameter, value in zip(deviance.parameters[:-1], values[:-1]):
        if parameter.kind == "sd":
            sd[parameter.position[0]] = value
    for parameter, value in zip(deviance.parameters[:-1], values[:-1]):
        k, m = parameter.position
        psi[k, m] = psi[m, k] = value * sd[k] * sd[m] if k != m else sd[k] ** 2
    return psi


class _Deviance:
    """The deviance of one fit's model as a function of the variance parameters on lme4's
    scale (standard deviations, correlations, sigma), in unconstrained coordinates:
    log for standard deviations and sigma, atanh for correlations."""

    def __init__(self, fit: MixedFit, reml: bool) -> None:
        self.fit, self.reml = fit, reml
        self.q = len(fit.random_cov)
        self.parameters = variance_parameters(fit)
        inverse = np.linalg.inv(fit.model.scaling)
        self.to_internal = lambda psi: inverse @ psi @ inverse.T     # Psi in the model's coordinates
        self.smallest_sd = BOUNDARY_SHARE * fit.residual_sd

    def natural(self, fit: MixedFit) -> np.ndarray:
        """The parameters of *fit* on lme4's scale."""
        return natural_parameters(self.parameters, fit.random_cov.to_numpy(), fit.residual_sd)

    def __call__(self, values: np.ndarray) -> float:
        psi = _psi_of(self, values)
        if np.linalg.eigvalsh(psi).min() < -1e-10 * max(1.0, psi.max()):
            return IMPOSSIBLE
        return deviance_at(self.to_internal(psi), values[-1] ** 2, self.fit.model.cross_products, self.reml)

    def to_free(self, parameter: _Parameter, value: float) -> float:
        """A standard deviation on the boundary (0) starts just inside it, where it can move."""
        if parameter.kind == "cor":
            return float(np.arctanh(np.clip(value, -1 + EDGE, 1 - EDGE)))
        return float(np.log(max(value, self.smallest_sd)))

    @staticmethod
    def from_free(parameter: _Parameter, value: float) -> float:
        return float(np.tanh(value)) if parameter.kind == "cor" else float(np.exp(value))


@dataclass(frozen=True)
class _Fits:
    """What an interval function needs: the criterion, the fit by that criterion (for the
    variance parameters), its deviance and estimates, and the fit by ML (for the fixed effects)."""

    criterion: str
    base: MixedFit
    deviance: _Deviance
    estimates: np.ndarray
    ml: MixedFit


def _fits_for(fit: MixedFit, level: float, criterion: str | None) -> _Fits:
    require_single_factor_independent_errors(fit, "profile and Wald intervals")
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    criterion = fit.method if criterion is None else check_method(criterion)
    base = fit if criterion == fit.method else fit.model.fit(criterion)
    deviance = _Deviance(base, reml=criterion == "REML")
    ml = base if criterion == "ML" else fit if fit.method == "ML" else fit.model.fit("ML")
    return _Fits(criterion, base, deviance, deviance.natural(base), ml)


def profile_intervals(fit: MixedFit, level: float = 0.95, criterion: str | None = None,
                      which: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Profile-likelihood intervals for the standard deviations and correlations of the
    random effects, the residual standard deviation and the fixed effects.

    Returns one row per parameter (``sd(term)``, ``cor(term1,term2)``, ``sigma``, then the
    fixed effects by name) with the ``estimate`` and the ``lower`` and ``upper`` ends.  A
    lower end of 0 for a standard deviation, or of -1 or 1 for a correlation, means the
    interval reaches the boundary.  ``criterion`` is ``"ML"`` or ``"REML"`` (default: the
    fit's method) for the variance parameters; lme4 uses ML.  The fixed effects' rows are
    ML profiles whatever the criterion, with the ML estimates.  *which* (lme4's ``which``)
    limits the table to some parameters: their names, ``"variance"`` for all the variance
    parameters or ``"fixed"`` for all the fixed effects.
    """
    fits = _fits_for(fit, level, criterion)
    return _profile_table(fits, level, _chosen(fits, which))


def _chosen(fits: _Fits, which: str | Sequence[str] | None) -> list[str]:
    """The parameters *which* names, in the table's order; an error names any that do not exist."""
    variance = [parameter.name for parameter in fits.deviance.parameters]
    fixed = list(fits.ml.fixed.index)
    if which is None:
        return variance + fixed
    groups = {"variance": variance, "fixed": fixed}
    asked = [which] if isinstance(which, str) else list(which)
    unknown = [name for name in asked if name not in groups and name not in variance + fixed]
    if unknown or not asked:
        raise InputError(f"no parameters named {unknown}; the parameters are {variance + fixed}, or "
                         "'variance' and 'fixed' for all of a kind")
    chosen = {name for item in asked for name in groups.get(item, [item])}
    return [name for name in variance + fixed if name in chosen]


def _profile_table(fits: _Fits, level: float, names: list[str]) -> pd.DataFrame:
    base, deviance, estimates, ml = fits.base, fits.deviance, fits.estimates, fits.ml
    minimum = deviance(estimates)
    z = stats.norm.ppf(0.5 + level / 2)
    rows = {}
    for index, parameter in enumerate(deviance.parameters):
        if parameter.name not in names:
            continue
        zeta = _Zeta(deviance, estimates, minimum, index)
        rows[parameter.name] = {"estimate": estimates[index],
                                "lower": zeta.end(-z, base.residual_sd),
                                "upper": zeta.end(z, base.residual_sd)}
    for index, name in enumerate(ml.fixed.index):
        if name not in names:
            continue
        profile = _FixedEffectProfile(ml, index)
        estimate, se = float(ml.fixed.loc[name, "estimate"]), float(ml.fixed.loc[name, "se"])
        rows[name] = {"estimate": estimate, "lower": profile.end(-z, estimate, se),
                      "upper": profile.end(z, estimate, se)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(level=level, criterion=fits.criterion)
    return table


class _FixedEffectProfile:
    """zeta for one fixed effect of an ML fit.  Holding beta_j = b is a linear constraint
    s'beta* = b - c on the optimizer's internal coefficients (beta = S beta* + c); writing
    beta* = beta_0 + N gamma, with s'beta_0 = b - c and N a basis of the vectors orthogonal
    to s, turns it into an unconstrained model with response y* - X* beta_0 and design X* N,
    whose cross-products follow from the model's without reading the data again."""

    def __init__(self, fit: MixedFit, index: int) -> None:
        model = fit.model
        self.cp, self.minimum = model.cross_products, -2.0 * fit.loglik
        self.s = model.x_scaling[index]
        self.shift = model.y_shift if fit.fixed.index[index] == "Intercept" else 0.0
        self.basis = null_space(self.s[None, :])
        self.estimate = float(fit.fixed.iloc[index]["estimate"])

    def constrained(self, value: float) -> CrossProducts:
        cp, basis = self.cp, self.basis
        beta0 = self.s * (value - self.shift) / (self.s @ self.s)
        xtx_beta0 = cp.xtx @ beta0
        return dataclasses.replace(
            cp, xtx=basis.T @ cp.xtx @ basis, xty=basis.T @ (cp.xty - xtx_beta0),
            yty=float(cp.yty - 2.0 * beta0 @ cp.xty + beta0 @ xtx_beta0),
            ztx=np.einsum("qpm,pk->qkm", cp.ztx, basis), zty=cp.zty - np.einsum("qpm,p->qm", cp.ztx, beta0),
            reml_offset=0.0)

    def __call__(self, value: float) -> float:
        deviance = minimize_deviance(self.constrained(value), reml=False).evaluation.deviance
        return float(np.sign(value - self.estimate) * np.sqrt(max(deviance - self.minimum, 0.0)))

    def end(self, target: float, estimate: float, se: float) -> float:
        """Where zeta reaches *target*: bracketed from the Wald interval outwards, then a root."""
        direction, reach = np.sign(target), abs(target) * se
        inner = estimate
        for _ in range(30):
            outer = inner + direction * reach
            if direction * self(outer) >= abs(target):
                root = optimize.brentq(lambda b: self(b) - target, min(inner, outer), max(inner, outer),
                                       xtol=1e-10 * max(1.0, abs(estimate)))
                return float(root)
            inner, reach = outer, reach * 1.6
        raise InputError(f"the profile of the fixed effect at {estimate:.6g} did not reach zeta = {target:.3f}")


class _Zeta:
    """zeta(x) for one parameter, each value maximising the likelihood over the others
    (warm-started from the last point: the profile is traced outwards from the estimate).

    For a correlation the maximum over the others includes the boundary where one of its two
    standard deviations is zero: there the correlation has no effect, so the profile of a
    correlation can never rise above the deviance of that boundary (the *ceiling*).  A
    search warm-started along the profile can miss that branch (it lies at log sd = -inf),
    so the ceiling is computed once and the profile is the lower of the two.
    """

    def __init__(self, deviance: _Deviance, estimates: np.ndarray, minimum: float, index: int) -> None:
        self.deviance, self.estimates, self.minimum, self.index = deviance, estimates, minimum, index
        self.parameter = deviance.parameters[index]
        self.others = [i for i in range(len(estimates)) if i != index]
        self.start = np.array([deviance.to_free(deviance.parameters[i], estimates[i]) for i in self.others])
        self.cold_start = self.start.copy()
        self._ceiling = None

    def _minimum(self, fixed: dict[int, float], free: list[int], start: np.ndarray):
        """The smallest deviance with the parameters *fixed* held and those *free* optimised."""
        def objective(point: np.ndarray) -> float:
            values = self.estimates.copy()
            for i, value in fixed.items():
                values[i] = value
            for i, u in zip(free, point):
                values[i] = _Deviance.from_free(self.deviance.parameters[i], u)
            return self.deviance(values)
        if not free:
            return objective(np.array([])), start
        best = optimize.minimize(objective, start, method="BFGS", options={"gtol": 1e-8})
        # status 2 ("precision loss"): the finite-difference gradient is noise at the minimum
        if best.status not in (0, 2) or best.fun >= IMPOSSIBLE:
            # a step into correlations that no covariance matrix has: the simplex copes with that
            simplex = optimize.minimize(objective, start, method="Nelder-Mead",
                                        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 5000})
            best = simplex if simplex.fun < best.fun else best
        return best.fun, best.x

    def ceiling(self) -> float:
        """For a correlation, the smallest deviance with either of its standard deviations at 0."""
        if self._ceiling is None:
            names = [parameter.name for parameter in self.deviance.parameters]
            ends = [names.index(f"sd({term})") for term in self.parameter.name[4:-1].split(",")]
            self._ceiling = min(
                self._minimum({self.index: 0.0, end: 0.0}, free, self.start[[self.others.index(i) for i in free]])[0]
                for end in ends for free in [[i for i in self.others if i != end]])
        return self._ceiling

    def __call__(self, value: float) -> float:
        profiled, self.start = self._minimum({self.index: value}, self.others, self.start)
        if self.parameter.kind == "cor":
            # the profile of a correlation can have several branches (the standard deviations
            # trade off against it): also search from the estimate, and under the ceiling
            cold, at = self._minimum({self.index: value}, self.others, self.cold_start)
            if cold < profiled:
                profiled, self.start = cold, at
            profiled = min(profiled, self.ceiling())
        rise = max(profiled - self.minimum, 0.0)
        return float(np.sign(value - self.estimates[self.index]) * np.sqrt(rise))

    def end(self, target: float, scale: float) -> float:
        """The value where zeta reaches *target*, searched outwards from the estimate in the
        parameter's free coordinate; the boundary (sd 0, correlation +-1) when it is not reached."""
        estimate = self.estimates[self.index]
        self.start = np.array([self.deviance.to_free(self.deviance.parameters[i], self.estimates[i])
                               for i in self.others])
        kind, direction = self.parameter.kind, np.sign(target)
        if kind == "sd" and estimate <= BOUNDARY_SHARE * scale:
            if direction < 0:
                return 0.0
            estimate = BOUNDARY_SHARE * scale       # a standard deviation estimated as 0: start just above
        inner = self.deviance.to_free(self.parameter, estimate)
        step, previous, inner_value = 0.05, inner, 0.0
        for _ in range(60):
            outer = previous + direction * step
            value = _Deviance.from_free(self.parameter, outer)
            at_edge = (kind == "sd" and value <= BOUNDARY_SHARE * scale) or \
                      (kind == "cor" and abs(value) >= 1 - 1e-6)
            if at_edge:
                return 0.0 if kind == "sd" else float(direction)
            reached = self(value)
            if direction * reached >= abs(target):
                root = _crossing(lambda u: self(_Deviance.from_free(self.parameter, u)) - target,
                                 previous, outer, inner_value - target, reached - target)
                return _Deviance.from_free(self.parameter, root)
            previous, inner_value, step = outer, reached, step * 1.6
        raise InputError(f"the profile of {self.parameter.name} did not reach zeta = {target:.3f}: "
                         "the likelihood is too flat in that direction for an interval")


def _crossing(function, a: float, b: float, at_a: float, at_b: float, tolerance: float = 1e-10) -> float:
    """A root of *function* between *a* and *b*, where it has the values *at_a* and *at_b* of
    opposite signs (or zero), found without evaluating the ends again (the Illinois variant of
    regula falsi).

    A profile is traced outwards with each optimisation started from the last point, so ζ
    at an end, recomputed from elsewhere, may land on another branch of a multimodal
    profile (brentq evaluates the ends again and then finds no change of sign); the values
    met on the way out are the ones that bracket the crossing.

    >>> round(_crossing(lambda x: x ** 3 - 2, 0.0, 2.0, -2.0, 6.0), 8)
    1.25992105
    """
    if at_a * at_b > 0:
        raise InputError("internal: the profile's values do not bracket the crossing")
    for _ in range(200):
        if at_b == 0:
            return b
        point = b - at_b * (b - a) / (at_b - at_a)
        value = function(point)
        if value * at_b < 0:          # the crossing is between b and the new point
            a, at_a = b, at_b
        else:                         # between a and the new point: halve a's value (Illinois)
            at_a /= 2
        b, at_b = point, value
        if abs(b - a) < tolerance * max(1.0, abs(b)):
            return b
    raise InputError("internal: the profile's crossing was not found in 200 steps")


#: printed with Wald intervals: what they assume
WALD_CAVEAT = ("Wald intervals assume the likelihood is quadratic in each parameter on the scale shown; for "
               "standard deviations and correlations it often is not (skewed, bounded at 0 or +-1), so prefer "
               "profile or bootstrap intervals for them.")


def wald_intervals(fit: MixedFit, level: float = 0.95, criterion: str | None = None) -> pd.DataFrame:
    """Wald intervals, estimate +- z SE, for the parameters of :func:`profile_intervals`.

    The fixed effects' standard errors are the fit's (from ML profiles when *criterion* is
    ML, as there); the variance parameters' come from the curvature of the deviance in the
    standard deviations, correlations and sigma (central differences with Richardson
    extrapolation), undefined (NaN) for a fit on the boundary.  The table's
    ``attrs["caveat"]`` says why these intervals are a poor guide for variance parameters.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> table = wald_intervals(fit)
    >>> bool(((table["upper"] - table["estimate"]) - (table["estimate"] - table["lower"])).abs().max() < 1e-9)
    True
    """
    return _wald_table(_fits_for(fit, level, criterion), level)


def _wald_table(fits: _Fits, level: float) -> pd.DataFrame:
    base, deviance, estimates, ml = fits.base, fits.deviance, fits.estimates, fits.ml
    se = np.full(len(estimates), np.nan) if base.boundary else _curvature_se(deviance, estimates)
    names = [parameter.name for parameter in deviance.parameters] + list(ml.fixed.index)
    table = pd.DataFrame({"estimate": np.concatenate([estimates, ml.fixed["estimate"].to_numpy()]),
                          "se": np.concatenate([se, ml.fixed["se"].to_numpy()])}, index=names)
    z = stats.norm.ppf(0.5 + level / 2)
    table["lower"], table["upper"] = table["estimate"] - z * table["se"], table["estimate"] + z * table["se"]
    table.attrs.update(level=level, criterion=fits.criterion, caveat=WALD_CAVEAT)
    return table


def _curvature_se(deviance: _Deviance, estimates: np.ndarray) -> np.ndarray:
    """Standard errors from :func:`_curvature_covariance`."""
    return np.sqrt(np.clip(np.diag(_curvature_covariance(deviance, estimates)), 0.0, None))


def _curvature_covariance(deviance: _Deviance, estimates: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """The covariance of the parameters' estimates: the inverse of half the deviance's Hessian
    (the observed information), by central differences with Richardson extrapolation."""
    k = len(estimates)
    h = step * np.maximum(np.abs(estimates), 1e-2)

    def hessian(scale: float) -> np.ndarray:
        d = h * scale
        matrix = np.empty((k, k))
        for i in range(k):
            for j in range(i, k):
                def at(si: int, sj: int, i: int = i, j: int = j) -> float:
                    point = estimates.copy()
                    point[i] += si * d[i]
                    point[j] += sj * d[j]
                    return deviance(point)
                matrix[i, j] = matrix[j, i] = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / (4 * d[i] * d[j])
        return matrix
    extrapolated = (4 * hessian(0.5) - hessian(1.0)) / 3
    return np.linalg.inv(extrapolated / 2)


def likelihood_profile(fit: MixedFit, level: float = 0.99, points: int = 12,
                       criterion: str | None = None, which: str | Sequence[str] | None = None) -> pd.DataFrame:
    """The profiles behind :func:`profile_intervals`, for plotting: for each parameter,
    *points* values on each side of the estimate out to the end of its *level* interval,
    with ``zeta`` and ``wald``, the straight line (value - estimate) / SE that a Wald
    interval assumes.  One row per (parameter, value), in long form.  *which* as for
    :func:`profile_intervals`.
    """
    fits = _fits_for(fit, level, criterion)        # one set of refits for both tables and the profiles
    ends, wald = _profile_table(fits, level, _chosen(fits, which)), _wald_table(fits, level)
    deviance, estimates, ml = fits.deviance, fits.estimates, fits.ml
    rows = []
    variance_names = [parameter.name for parameter in deviance.parameters]
    for name in ends.index:
        estimate, se = ends.loc[name, "estimate"], wald.loc[name, "se"]
        if name in variance_names:
            zeta = _Zeta(deviance, estimates, deviance(estimates), variance_names.index(name))
        else:
            zeta = _FixedEffectProfile(ml, list(ml.fixed.index).index(name))
        for end in ("lower", "upper"):
            zeta_start = getattr(zeta, "start", None)
            for value in np.linspace(estimate, ends.loc[name, end], points + 1)[1:]:
                rows.append({"parameter": name, "value": value, "zeta": zeta(value),
                             "wald": (value - estimate) / se if se > 0 else np.nan})
            if zeta_start is not None:
                zeta.start = zeta_start      # back to the estimate for the other side
        rows.append({"parameter": name, "value": estimate, "zeta": 0.0, "wald": 0.0})
    return (pd.DataFrame(rows).sort_values(["parameter", "value"], kind="stable")
            .set_index(["parameter"]).loc[list(ends.index)].reset_index())
