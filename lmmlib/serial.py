"""Serially correlated level-1 errors within a group: AR(1) and continuous-time AR(1).

When a group is one individual measured on several occasions, the level-1 errors of
nearby occasions are often correlated beyond what the random effects explain.  The
Laird-Ware model then has Var(e_i) = sigma^2 R_i(phi) instead of sigma^2 I, with

* ``AR1()``: corr(e_s, e_t) = phi^|s - t| for the s-th and t-th rows of a group, in the
  order of the data (occasions equally spaced; nlme's ``corAR1(form = ~ 1 | g)``),
  -1 < phi < 1;
* ``CAR1("age")``: corr(e_s, e_t) = phi^|t_s - t_t| for the times t of a column (any
  spacing; nlme's ``corCAR1(form = ~ age | g)``), 0 <= phi < 1.

Both are Markov processes, so R_i = L_i L_i' has a bidiagonal inverse factor:
with rho_t = phi^(lag to the previous row of the group),

    w_1 = v_1,   w_t = (v_t - rho_t v_(t-1)) / sqrt(1 - rho_t^2),

whitens any column v of the group (L_i^-1 v, in one pass over the rows), and
log|R_i| = sum_t log(1 - rho_t^2).  Whitening y, X and Z turns the model into one with
independent errors: the profiled deviance at (theta, phi) is the engine's deviance of the
whitened cross-products plus sum_i log|R_i| (ML and REML alike), so the cost of an
evaluation stays linear in the rows.

>>> import numpy as np
>>> lags = np.array([np.nan, 1.0, 1.0])          # one group of three equally spaced rows
>>> w, logdet = whiten(np.array([[1.0], [1.0], [1.0]]), lags, 0.5)
>>> np.round(w.ravel(), 4).tolist(), round(logdet, 4)
([1.0, 0.5774, 0.5774], -0.5754)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype

from .errors import InputError


def whiten(values: np.ndarray, lags: np.ndarray, phi: float) -> tuple[np.ndarray, float]:
    """L^-1 *values* (rows in group order, one column per variable) and sum_i log|R_i|.

    *lags* gives, for each row, the distance to the previous row of its group (NaN for
    the first row of a group).
    """
    follows = ~np.isnan(lags)
    rho = np.zeros(len(lags))
    rho[follows] = phi ** lags[follows]
    scale = np.sqrt(1.0 - rho ** 2)
    previous = np.vstack([np.zeros((1, values.shape[1])), values[:-1]])
    whitened = (values - rho[:, None] * previous) / scale[:, None]
    return whitened, float(2.0 * np.sum(np.log(scale)))


@dataclass(frozen=True)
class SerialStructure:
    """What the model needs from a structure: rows in group order and their lags."""

    order: np.ndarray      # the model's rows, grouped (stable within a group)
    lags: np.ndarray       # for each row in that order: distance to the previous row of its group


class AR1:
    """AR(1) errors within each group over its rows in the order of the data (equally spaced
    occasions): corr(e_s, e_t) = phi^|s - t|, -1 < phi < 1 (nlme's ``corAR1(form = ~ 1 | g)``).

    >>> AR1().label
    'AR(1)'
    """

    label = "AR(1)"
    time = None
    lower, upper = -1.0, 1.0

    def structure(self, data: pd.DataFrame, index: pd.Index, codes: np.ndarray, group: str) -> SerialStructure:
        order = np.argsort(codes, kind="stable")
        first = np.r_[True, codes[order][1:] != codes[order][:-1]]
        return SerialStructure(order, np.where(first, np.nan, 1.0))

    @staticmethod
    def transform(values: np.ndarray, structure: SerialStructure, phi: float) -> tuple[np.ndarray, float]:
        """L^-1 *values* (rows in the structure's order) and sum_i log|R_i| at *phi*."""
        return whiten(values, structure.lags, phi)

    @staticmethod
    def phi(free: float) -> float:
        return float(np.tanh(free))

    @staticmethod
    def free(phi: float) -> float:
        return float(np.arctanh(np.clip(phi, -1 + 1e-12, 1 - 1e-12)))

    def __repr__(self) -> str:
        return "AR1()"


class CAR1:
    """Continuous-time AR(1) errors within each group in the times of the column *time*:
    corr(e_s, e_t) = phi^|t_s - t_t|, 0 <= phi < 1 (nlme's ``corCAR1(form = ~ time | g)``).

    The times must be numbers, present in every row the model uses, and strictly increasing
    within each group in the order of the data (sort the data by group and time first).

    >>> CAR1("age").label
    "CAR(1) in 'age'"
    """

    lower, upper = 0.0, 1.0

    def __init__(self, time: str) -> None:
        if not isinstance(time, str):
            raise InputError(f"CAR1 needs the name of the time column, for example CAR1('age'), not {time!r}")
        self.time = time
        self.label = f"CAR(1) in {time!r}"

    def structure(self, data: pd.DataFrame, index: pd.Index, codes: np.ndarray, group: str) -> SerialStructure:
        if self.time not in data.columns:
            raise InputError(f"CAR1: the data have no time column {self.time!r}; columns: {list(data.columns)}")
        times = data.loc[index, self.time]
        if not is_numeric_dtype(times):
            raise InputError(f"CAR1: the time column {self.time!r} must hold numbers, not {times.dtype}")
        if times.isna().any():
            rows = list(times.index[times.isna()][:5])
            raise InputError(f"CAR1: the time column {self.time!r} has missing values (rows {rows}); a time is "
                             "needed for every observation the model uses: fill them in or drop those rows")
        order = np.argsort(codes, kind="stable")
        values = times.to_numpy(dtype=float)[order]
        first = np.r_[True, codes[order][1:] != codes[order][:-1]]
        lags = np.where(first, np.nan, values - np.r_[np.nan, values[:-1]])
        bad = ~first & (lags <= 0)
        if bad.any():
            at = order[np.flatnonzero(bad)[0]]
            label = data.loc[index[at], group]
            kind = "repeats a time" if lags[bad][0] == 0 else "has times out of order"
            raise InputError(f"CAR1: {group} {label!r} {kind} in {self.time!r} (row {index[at]!r}); each "
                             f"observation of a {group} needs its own time, increasing in the order of the "
                             f"rows: sort the data by {group!r} and {self.time!r}, and remove duplicates")
        return SerialStructure(order, lags)

    transform = staticmethod(AR1.transform)

    @staticmethod
    def phi(free: float) -> float:
        return float(1.0 / (1.0 + np.exp(-free)))

    @staticmethod
    def free(phi: float) -> float:
        phi = float(np.clip(phi, 1e-12, 1 - 1e-12))
        return float(np.log(phi / (1 - phi)))

    def __repr__(self) -> str:
        return f"CAR1({self.time!r})"


class CompoundSymmetry:
    """Exchangeable errors within each group: corr(e_s, e_t) = phi for any two rows of a group,
    0 <= phi < 1 (nlme's ``corCompSymm(form = ~ 1 | g)``), for marginal models
    (:func:`lmmlib.fit_gls`): in a mixed model with a random intercept it is that intercept
    again, and ``fit_mixed`` refuses it.  (Negative within-group correlations, which nlme
    allows down to -1/(n_i - 1), are not fitted.)

    R_i = (1 - phi) I + phi 11' has eigenvalues 1 - phi (deviations from the group mean) and
    1 + (n_i - 1) phi (the mean), so R_i^(-1/2) v = (v - mean)/sqrt(1 - phi) +
    mean/sqrt(1 + (n_i - 1) phi), a symmetric square root that serves as L^-1.

    >>> CompoundSymmetry().label
    'compound symmetry'
    """

    label = "compound symmetry"
    time = None
    lower, upper = 0.0, 1.0
    structure = AR1.structure
    phi, free = staticmethod(CAR1.phi), staticmethod(CAR1.free)

    @staticmethod
    def transform(values: np.ndarray, structure: SerialStructure, phi: float) -> tuple[np.ndarray, float]:
        group = np.cumsum(np.isnan(structure.lags)) - 1              # 0.. in the structure's order
        sizes = np.bincount(group).astype(float)
        means = np.column_stack([np.bincount(group, weights=column) for column in values.T]) / sizes[:, None]
        centre = means[group]
        big = 1.0 + (sizes - 1.0) * phi
        whitened = (values - centre) / np.sqrt(1.0 - phi) + centre / np.sqrt(big[group])[:, None]
        logdet = float(np.sum((sizes - 1.0) * np.log(1.0 - phi) + np.log(big)))
        return whitened, logdet

    def __repr__(self) -> str:
        return "CompoundSymmetry()"


@dataclass(frozen=True)
class SerialEstimate:
    """The estimated serial correlation of a fit: the structure and phi."""

    structure: object
    phi: float
    boundary: str = ""

    def __str__(self) -> str:
        return f"{self.structure.label}, phi = {self.phi:.4f}"


#: the range searched for phi, in each structure's free coordinate (tanh for AR(1), logistic otherwise)
FREE_RANGE = {"AR(1)": (-6.0, 6.0)}
DEFAULT_FREE_RANGE = (-12.0, 12.0)


@dataclass(frozen=True)
class PhiSearch:
    """The minimum of a criterion over phi: phi, the derivative of the criterion there (in the free
    coordinate), and whether phi lies at the edge of its range."""

    phi: float
    slope: float
    at_edge: float | None      # the edge (e.g. 0 for CAR(1)) when phi is estimated there, else None


def minimize_over_phi(criterion, structure) -> PhiSearch:
    """Minimise *criterion(phi)* (a deviance already profiled over everything else) over the
    structure's range of phi: a grid of 7 points in the free coordinate, then Brent's method in
    the bracket around the best of them (the grid guards against a second local minimum)."""
    from scipy import optimize

    low, high = FREE_RANGE.get(structure.label, DEFAULT_FREE_RANGE)

    def of_free(free: float) -> float:
        return criterion(structure.phi(free))

    grid = np.linspace(low, high, 7)
    best = int(np.argmin([of_free(u) for u in grid]))
    bracket = (grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
    free = float(optimize.minimize_scalar(of_free, bounds=bracket, method="bounded",
                                          options={"xatol": 1e-9, "maxiter": 500}).x)
    step = 1e-4
    slope = (of_free(free + step) - of_free(free - step)) / (2 * step)
    edge = structure.lower if free - low < 1e-3 else structure.upper if high - free < 1e-3 else None
    return PhiSearch(structure.phi(free), slope, edge)


def phi_interval(fit, level: float = 0.95) -> pd.Series:
    """The profile-likelihood interval of phi for a fit with serially correlated errors (a
    :class:`lmmlib.MixedFit` or :class:`lmmlib.GlsFit`): the values of phi where the deviance,
    minimised over every other parameter, rises by at most the chi-square(1) quantile above its
    minimum.  An end that the rise does not reach inside phi's range is the edge of the range
    (0 or 1 for CAR(1), -1 or 1 for AR(1)).  The criterion is the fit's (REML or ML).

    Returns ``estimate``, ``lower`` and ``upper``.
    """
    from scipy import optimize, stats

    if getattr(fit, "correlation", None) is None:
        raise InputError("phi_interval needs a fit with serially correlated errors (correlation=AR1() or CAR1(...))")
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    structure, phi_hat = fit.correlation.structure, fit.correlation.phi
    criterion = _profiled_criterion(fit)
    rise = stats.chi2.ppf(level, 1)
    minimum = criterion(phi_hat)
    low, high = FREE_RANGE.get(structure.label, DEFAULT_FREE_RANGE)
    start = structure.free(phi_hat)

    def excess(free: float) -> float:
        return criterion(structure.phi(free)) - minimum - rise

    ends = []
    for edge in (low, high):
        if excess(edge) < 0:
            ends.append(structure.lower if edge == low else structure.upper)
        else:
            ends.append(structure.phi(optimize.brentq(excess, min(start, edge), max(start, edge), xtol=1e-10)))
    return pd.Series({"estimate": phi_hat, "lower": ends[0], "upper": ends[1]})


def _profiled_criterion(fit):
    """The fit's deviance as a function of phi, minimised over everything else."""
    from .engine import minimize_deviance

    model = getattr(fit, "model", None)
    if model is not None:                         # a mixed model: theta profiled by the engine
        reml = fit.method == "REML"

        def mixed(phi: float) -> float:
            cp, logdet = model.cross_products_at(phi)
            return minimize_deviance(cp, reml).evaluation.deviance + logdet
        return mixed
    return fit.deviance_at                          # a marginal model: beta and sigma in closed form
