"""Cross-classified data, for the chapter on crossed random effects.

Observations classified by two factors that are not nested in each other (pupils by
primary and by secondary school; responses by subject and by item).
:func:`membership_counts` and :func:`spread` describe how the two classifications
overlap; :func:`plot_membership` draws the table of counts as a heat-map;
:func:`variance_table` lays the variance components of several fits side by side
(one-factor ``MixedFit`` and several-factor ``MultilevelFit`` alike) and
:func:`plot_variance_shift` shows where the variance of an ignored factor goes;
:func:`plot_modes` draws conditional modes with their conditional SDs, one panel per
factor; :func:`simulate_subjects_items` makes a subjects-by-items experiment with a
known truth.

>>> data = pd.DataFrame({"pupil": range(6), "primary": [1, 1, 1, 2, 2, 3],
...                      "second": ["a", "a", "b", "b", "b", "b"]})
>>> membership_counts(data, "primary", "second").to_numpy().tolist()
[[2, 1], [0, 2], [0, 1]]
>>> spread(data, "primary", "second")["levels"].tolist()
[2, 1, 1]
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import BLUE, ORANGE, RED

__all__ = ["membership_counts", "spread", "plot_membership", "variance_table", "plot_variance_shift",
           "coefficient_table", "plot_modes", "simulate_subjects_items"]


def membership_counts(data: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """The number of observations in each combination of the levels of two factors (levels
    sorted; combinations without observations are 0)."""
    return pd.crosstab(data[rows], data[columns])


def spread(data: pd.DataFrame, unit: str, other: str) -> pd.DataFrame:
    """Per level of *unit*: its observations (``n``), how many levels of *other* they meet
    (``levels``), the level of *other* that most of them share (``main``) and the share of
    the observations in it (``main share``).

    Under a nesting of *unit* in *other*, ``levels`` is 1 everywhere.

    >>> data = pd.DataFrame({"p": [1, 1, 1, 2], "s": ["x", "y", "y", "x"]})
    >>> spread(data, "p", "s")[["levels", "main", "main share"]].to_numpy().tolist()
    [[2, 'y', 0.6666666666666666], [1, 'x', 1.0]]
    """
    counts = membership_counts(data, unit, other)
    return pd.DataFrame({"n": counts.sum(axis=1), "levels": (counts > 0).sum(axis=1),
                         "main": counts.idxmax(axis=1),
                         "main share": counts.max(axis=1) / counts.sum(axis=1)})


def plot_membership(data: pd.DataFrame, rows: str, columns: str, ax=None, row_label: str | None = None,
                    column_label: str | None = None, value_label: str = "observations"):
    """Heat-map of :func:`membership_counts`: one row per level of *rows*, one column per
    level of *columns*, the columns ordered by the row most of their observations fall in
    (then by size), so that a nesting would show as a staircase of blocks and every
    coloured cell off it is a crossing.  Empty cells are white.  Returns the figure."""
    counts = membership_counts(data, rows, columns)
    shares = spread(data, columns, rows)
    position = {level: k for k, level in enumerate(counts.index)}
    order = sorted(counts.columns, key=lambda c: (position[shares.loc[c, "main"]], -shares.loc[c, "n"]))
    shown = counts[order].to_numpy(float, copy=True)
    shown[shown == 0] = np.nan
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
    else:
        fig = ax.figure
    image = ax.imshow(shown, aspect="auto", cmap="viridis_r", interpolation="nearest")
    ax.set_yticks(range(len(counts.index)), [str(level) for level in counts.index], fontsize=8)
    ax.set_xticks([])
    ax.set_xlabel(column_label or f"{len(order)} levels of {columns!r}")
    ax.set_ylabel(row_label or rows)
    fig.colorbar(image, ax=ax, label=value_label, fraction=0.04, pad=0.02)
    return fig


def _components(fit) -> dict[str, float]:
    """factor -> variance of its random intercept, and ``Residual``, for a one-factor fit
    (``group``, a 1 x 1 ``random_cov``) or a several-factor fit (``random_cov`` per factor)."""
    if isinstance(fit.random_cov, Mapping):
        variances = {factor: float(cov.iloc[0, 0]) for factor, cov in fit.random_cov.items()
                     if cov.shape == (1, 1)}
        if len(variances) != len(fit.random_cov):
            raise ValueError(f"{fit.formula}: variance_table needs one random intercept per factor")
    else:
        if fit.random_cov.shape != (1, 1):
            raise ValueError(f"{fit.formula}: variance_table needs one random intercept per factor")
        variances = {fit.group: float(fit.random_cov.iloc[0, 0])}
    variances["Residual"] = fit.residual_sd ** 2
    return variances


def variance_table(fits: Mapping[str, object]) -> pd.DataFrame:
    """The variance components of several random-intercept fits side by side: one row per
    fit, one column per grouping factor (0 where a fit has no such factor) and the residual,
    then their ``total``.

    >>> class Fit:  # the attributes of a one-factor lmmlib.MixedFit
    ...     group, residual_sd = "school", 2.0
    ...     random_cov = pd.DataFrame([[1.0]])
    >>> variance_table({"one factor": Fit()}).to_dict("records")
    [{'school': 1.0, 'Residual': 4.0, 'total': 5.0}]
    """
    rows = {name: _components(fit) for name, fit in fits.items()}
    factors = list(dict.fromkeys(f for row in rows.values() for f in row if f != "Residual"))
    table = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=factors + ["Residual"]).fillna(0.0)
    table["total"] = table.sum(axis=1)
    return table.rename_axis("fit")


def plot_variance_shift(table: pd.DataFrame, reference: str, others: Sequence[str] | None = None,
                        colors: Mapping[str, str] | None = None):
    """Bar charts, one panel per fit of *others*, of each component's variance minus its
    variance in the *reference* fit (rows of :func:`variance_table`; ``total`` left out): the
    component a fit leaves out shows as a negative bar, and the bars above zero show where
    its variance went.  Returns the figure."""
    others = [name for name in table.index if name != reference] if others is None else list(others)
    components = [c for c in table.columns if c != "total"]
    palette = dict(zip(components, [BLUE, ORANGE, RED, "0.5", "0.3"]))
    palette.update(colors or {})
    change = table.loc[others, components] - table.loc[reference, components]
    fig, axes = plt.subplots(1, len(others), figsize=(6.5, 3.0), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], others):
        values = change.loc[name]
        ax.bar(range(len(components)), values, color=[palette[c] for c in components], width=0.6)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(components)), components)
        ax.set_title(name, fontsize=11)
        for k, value in enumerate(values):
            ax.annotate(f"{value:+.2f}", (k, value), ha="center", va="bottom" if value >= 0 else "top",
                        xytext=(0, 2 if value >= 0 else -2), textcoords="offset points", fontsize=9)
    axes[0][0].set_ylabel(f"variance minus {reference}")
    low, high = axes[0][0].get_ylim()
    axes[0][0].set_ylim(low - 0.08 * (high - low), high + 0.08 * (high - low))
    fig.tight_layout()
    return fig


def coefficient_table(fits: Mapping[str, object], column: str = "se") -> pd.DataFrame:
    """One column of every fit's ``fixed`` table (``estimate``, ``se`` or ``z``), one
    column per fit, rows in the order of the first fit.

    >>> class Fit:
    ...     fixed = pd.DataFrame({"estimate": [1.0], "se": [0.5]}, index=pd.Index(["x"], name="term"))
    >>> coefficient_table({"a": Fit(), "b": Fit()}).to_dict("records")
    [{'a': 0.5, 'b': 0.5}]
    """
    table = pd.DataFrame({name: fit.fixed[column] for name, fit in fits.items()})
    first = next(iter(fits.values())).fixed.index
    return table.loc[[t for t in first if t in table.index] + [t for t in table.index if t not in first]]


def plot_modes(fit, factors: Sequence[str] | None = None, z: float = 1.96, xlabel: str = "conditional mode"):
    """Caterpillar plot of a several-factor fit: one panel per factor (of *factors*, default
    all) side by side, its levels ordered by their conditional mode of the random intercept,
    each with ``mode ± z`` conditional SDs.  The panels share the x axis, so that the spread
    of the factors can be compared.  Returns the figure."""
    factors = list(fit.factors if factors is None else factors)
    fig, axes = plt.subplots(1, len(factors), figsize=(6.5, 3.9), sharex=True, squeeze=False)
    for ax, factor, color in zip(axes[0], factors, [BLUE, ORANGE, RED]):
        modes = fit.random_effects[factor].iloc[:, 0]
        sd = fit.random_effects_se[factor].iloc[:, 0]
        order = modes.sort_values().index
        y = np.arange(len(order))
        ax.errorbar(modes[order], y, xerr=z * sd[order], fmt="o", ms=4, color=color, ecolor=color,
                    elinewidth=1.2, capsize=0)
        ax.axvline(0, color="0.5", lw=0.8, ls="--")
        ax.set_yticks(y, [str(level) for level in order], fontsize=8 if len(order) > 12 else 10)
        ax.set_ylim(-0.7, len(order) - 0.3)
        ax.set_title(f"{factor} ({len(order)})", fontsize=11)
        ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def simulate_subjects_items(n_subjects: int = 30, n_items: int = 20, effect: float = 0.0,
                            subject_sd: float = 1.0, item_sd: float = 1.0, residual_sd: float = 1.0,
                            seed: int | np.random.Generator = 0) -> pd.DataFrame:
    """A subjects-by-items experiment: every subject responds once to every item; half of the
    items are in condition ``B`` (an item-level treatment with the given *effect*), the others
    in ``A``; responses = ``effect`` x [B] + subject effect + item effect + error, all normal.

    Columns ``subject`` (``s01`` ...), ``item`` (``i01`` ...), ``condition`` and ``y``.  The
    same item labels appear for every subject: the factors are completely crossed.

    >>> data = simulate_subjects_items(4, 6, seed=1)
    >>> data.shape, data.groupby("condition")["item"].nunique().tolist()
    ((24, 4), [3, 3])
    """
    rng = np.random.default_rng(seed)
    if n_items < 2:
        raise ValueError("at least two items (one per condition)")
    subjects = [f"s{k + 1:02d}" for k in range(n_subjects)]
    items = [f"i{k + 1:02d}" for k in range(n_items)]
    condition = np.where(np.arange(n_items) < n_items // 2, "A", "B")
    u, w = rng.normal(0, subject_sd, n_subjects), rng.normal(0, item_sd, n_items)
    s, i = np.repeat(np.arange(n_subjects), n_items), np.tile(np.arange(n_items), n_subjects)
    y = effect * (condition[i] == "B") + u[s] + w[i] + rng.normal(0, residual_sd, len(s))
    return pd.DataFrame({"subject": np.array(subjects)[s], "item": np.array(items)[i],
                         "condition": condition[i], "y": y})
