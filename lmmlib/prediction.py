"""Predictions of a fitted mixed model for new rows, with confidence and prediction intervals.

Two questions have different answers, and the caller says which one is asked
(``effects`` has no default):

* ``effects="marginal"``: the population average x'beta, for a typical group
  (b = 0).  Its confidence interval has the variance x'Cov(beta_hat)x; a
  prediction interval, for one new observation of a group drawn at random, adds
  the group's deviation and the level-1 error: + z'Psi z + sigma^2.
* ``effects="conditional"``: the mean x'beta + z'b_i of the row's own group i.
  For a group of the fit the prediction uses its conditional mode b_hat_i, and the
  confidence interval has the variance of the prediction error
  x'(beta_hat - beta) + z'(b_hat_i - b_i) (Henderson's mixed-model equations:
  it counts the uncertainty of beta_hat and of the mode, given the variance
  parameters); a prediction interval adds sigma^2.  A group that the fit has not
  seen is an error, unless ``new_groups="population"`` says to predict it from the
  population: the prediction is then x'beta_hat, and its intervals carry the
  unknown deviation of that group (+ z'Psi z).

All intervals treat the variance parameters as known (their uncertainty is not
propagated; with few groups the intervals are too narrow, and a parametric bootstrap
of the prediction, :func:`lmmlib.bootstrap_intervals` with a ``statistic``, is the
safer choice).  Intervals are normal (z) intervals.

>>> import lmmlib, pandas as pd
>>> data = lmmlib.examples.two_level_data()
>>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
>>> rows = pd.DataFrame({"group": ["g01", "g01"], "x": [0.0, 1.0]})
>>> table = predict(fit, rows, effects="conditional", interval="prediction")
>>> table.columns.tolist()
['prediction', 'se', 'lower', 'upper', 'new_group']
>>> bool((table["lower"] < table["prediction"]).all())
True
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .checks import require_frame, require_single_factor_independent_errors
from .engine import _solve, lambda_from_theta
from .errors import InputError
from .fitting import MixedFit

EFFECTS = ("conditional", "marginal")
INTERVALS = (None, "confidence", "prediction")
NEW_GROUPS = ("error", "population")


def predict(fit: MixedFit, rows: pd.DataFrame, *, effects: str, interval: str | None = None,
            level: float = 0.95, new_groups: str = "error") -> pd.DataFrame:
    """Predictions for *rows* (a DataFrame with the model's predictors, and its grouping column
    for conditional predictions), indexed like *rows*.

    Parameters
    ----------
    effects
        ``"conditional"`` (the mean of the row's own group) or ``"marginal"`` (the
        population average); see the module's description.
    interval
        None (the prediction only), ``"confidence"`` (for the mean predicted) or
        ``"prediction"`` (for one new observation).
    level
        The coverage of the intervals, in (0, 1).
    new_groups
        For conditional predictions, what to do with a group the fit has not seen:
        ``"error"`` (the default) or ``"population"`` (predict it as a group drawn
        from the population of groups).

    Returns
    -------
    DataFrame with ``prediction``, and with an interval its standard error ``se``,
    ``lower`` and ``upper``; for conditional predictions also ``new_group`` (whether
    the row's group was predicted from the population).
    """
    require_frame(rows, "predict")
    require_single_factor_independent_errors(fit, "predict")
    _check_choice("effects", effects, EFFECTS)
    _check_choice("interval", interval, INTERVALS)
    _check_choice("new_groups", new_groups, NEW_GROUPS)
    if not 0 < level < 1:
        raise InputError(f"level must be between 0 and 1 (for example 0.95), not {level!r}")
    x = fit.model.fixed_matrix(rows).to_numpy()
    z = fit.model.random_matrix(rows).to_numpy()
    prediction = x @ fit.fixed["estimate"].to_numpy()
    table = pd.DataFrame({"prediction": prediction}, index=rows.index)
    if effects == "conditional":
        known = _known_groups(fit, rows, new_groups)
        modes = fit.random_effects.reindex(rows[fit.group][known]).to_numpy()
        table.loc[known, "prediction"] += np.einsum("ij,ij->i", z[known], modes)
        table["new_group"] = ~known
    if interval is None:
        return table
    variance = _mean_variance(fit, x, z, rows, effects)
    if interval == "prediction":
        between = np.einsum("ij,jk,ik->i", z, fit.random_cov.to_numpy(), z) if effects == "marginal" else 0.0
        variance = variance + between + fit.residual_sd ** 2
    table.insert(1, "se", np.sqrt(variance))
    half = stats.norm.ppf(0.5 + level / 2) * table["se"]
    table.insert(2, "lower", table["prediction"] - half)
    table.insert(3, "upper", table["prediction"] + half)
    return table


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise InputError(f"{name} must be one of {list(choices)}, not {value!r}")


def _known_groups(fit: MixedFit, rows: pd.DataFrame, new_groups: str) -> np.ndarray:
    """Which rows belong to a group of the fit; an error for the others unless they may be new."""
    if fit.group not in rows.columns:
        raise InputError(f"conditional predictions need the grouping column {fit.group!r} in the rows "
                         "(or ask for effects='marginal', the population average)")
    if rows[fit.group].isna().any():
        raise InputError(f"the grouping column {fit.group!r} has missing values in the rows")
    known = rows[fit.group].isin(fit.random_effects.index).to_numpy()
    if not known.all() and new_groups == "error":
        unseen = list(dict.fromkeys(rows[fit.group][~known]))
        raise InputError(f"the fit has no {fit.group!r} {unseen[:5]}{' ...' if len(unseen) > 5 else ''}: "
                         "pass new_groups='population' to predict them as new groups from the population "
                         "(their intervals then include the variance between groups), or use "
                         "effects='marginal'")
    return known


def _mean_variance(fit: MixedFit, x: np.ndarray, z: np.ndarray, rows: pd.DataFrame, effects: str) -> np.ndarray:
    """The variance of the error of the predicted mean, row by row."""
    model, sigma2 = fit.model, fit.residual_sd ** 2
    cp = model.cross_products
    solution = _solve(lambda_from_theta(fit.internal_theta, cp.structure), cp)
    w_inverse = np.linalg.inv(solution.w)
    x_internal = x @ model.x_scaling
    fixed_part = sigma2 * np.einsum("ij,jk,ik->i", x_internal, w_inverse, x_internal)
    if effects == "marginal":
        return fixed_part
    known = _known_groups(fit, rows, "population")
    # a new group: the error of beta_hat and the group's unknown deviation z'b, b ~ N(0, Psi)
    variance = fixed_part + np.einsum("ij,jk,ik->i", z, fit.random_cov.to_numpy(), z)
    if known.any():
        # Henderson: with v = Lambda' z, the error x'(beta_hat - beta) + z'(b_hat - b) has variance
        # sigma^2 [(x - C'v)' W^-1 (x - C'v) + v' A^-1 v] (C_i = A_i^-1 Lambda' F_i)
        lam = lambda_from_theta(fit.internal_theta, cp.structure)
        position = pd.Index(cp.groups).get_indexer(rows[fit.group][known])
        v = (z[known] @ model.scaling) @ lam                           # rows of (Lambda' z)'
        a_inverse = solution.a_inv[:, :, position]
        c = solution.c[:, :, position]
        adjusted = x_internal[known] - np.einsum("ki,ijk->kj", v, c)
        variance[known] = sigma2 * (np.einsum("ij,jk,ik->i", adjusted, w_inverse, adjusted)
                                    + np.einsum("ki,ijk,kj->k", v, a_inverse, v))
    return variance
