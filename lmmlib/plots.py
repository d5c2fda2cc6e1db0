"""The book's figures: one style, labelled axes, readable at slide size.

Each function takes a DataFrame and returns the matplotlib Figure it drew.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fig = lmmlib.plots.trellis(hsb, "cses", "mathach", "school", groups=[1224, 1288], ncols=2)
>>> len(fig.axes)
2
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from statsmodels.nonparametric.smoothers_lowess import lowess

from .checks import require_columns, require_frame
from .errors import InputError

#: Colours used for the two sectors throughout the book.
SECTOR_COLORS = {0: "#C44E52", 1: "#4C72B0"}
SECTOR_NAMES = {0: "Public", 1: "Catholic"}
#: Fraction of the data in each local regression of the smooth curves.
SMOOTH_SPAN = 0.8


def least_squares_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of the least-squares line of y on x."""
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _fit_and_smooth(ax, x, y, color="black", span=SMOOTH_SPAN):
    """Broken least-squares line and solid nonparametric (lowess) curve through (x, y)."""
    grid = np.linspace(np.min(x), np.max(x), 50)
    intercept, slope = least_squares_line(x, y)
    ax.plot(grid, intercept + slope * grid, linestyle="--", color=color, linewidth=1.3)
    smooth = lowess(y, x, frac=span, return_sorted=True)
    ax.plot(smooth[:, 0], smooth[:, 1], linestyle="-", color=color, linewidth=1.6)


def trellis(data: pd.DataFrame, x: str, y: str, group: str, groups: Sequence, ncols: int = 5,
            color: str = "black", title: str | None = None) -> plt.Figure:
    """One scatterplot per group in *groups*, with a broken least-squares line and a solid smooth.

    The group's id is written at the top of its panel; all panels share their axes.
    """
    require_frame(data, "trellis")
    require_columns(data, [x, y, group], "trellis")
    missing = [g for g in groups if g not in set(data[group])]
    if missing:
        raise InputError(f"trellis: groups {missing} do not occur in column {group!r}")
    nrows = int(np.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, 2.1 * nrows + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    for ax, key in zip(axes.flat, groups):
        rows = data[data[group] == key]
        ax.scatter(rows[x], rows[y], s=8, color=color, alpha=0.45, linewidths=0)
        _fit_and_smooth(ax, rows[x].to_numpy(), rows[y].to_numpy(), color=color)
        ax.set_title(str(key), fontsize=10, pad=2)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.supxlabel(x)
    fig.supylabel(y)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficient_intervals(fits: pd.DataFrame, group: str, terms: Sequence[str],
                          color: str = "black", title: str | None = None) -> plt.Figure:
    """Point estimates with confidence intervals for each group, one panel per term.

    *fits* is the output of :func:`lmmlib.ols_by_group`.  Groups are listed in the
    order of their estimate of the first term.
    """
    require_columns(fits, [group, "term", "estimate", "lower", "upper"], "coefficient_intervals")
    first = fits[fits["term"] == terms[0]].sort_values("estimate")
    order = list(first[group])
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 0.12 * len(order) + 1.6),
                             sharey=True, squeeze=False)
    positions = {key: k for k, key in enumerate(order)}
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        if rows.empty:
            raise InputError(f"coefficient_intervals: no term {term!r} in the fits")
        ypos = rows[group].map(positions)
        ax.hlines(ypos, rows["lower"], rows["upper"], color=color, linewidth=1)
        ax.plot(rows["estimate"], ypos, "o", color=color, markersize=3)
        ax.set_xlabel(term)
        ax.grid(axis="x", alpha=0.3)
    axes.flat[0].set_yticks(range(len(order)), [str(k) for k in order], fontsize=6)
    axes.flat[0].set_ylabel(group)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficient_boxplots(fits: pd.DataFrame, by: str, terms: Sequence[str],
                         labels: dict | None = None) -> plt.Figure:
    """Boxplots of per-group estimates of each term, one box per value of *by*."""
    require_columns(fits, [by, "term", "estimate"], "coefficient_boxplots")
    labels = labels or {}
    levels = sorted(fits[by].unique())
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 4.2), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        ax.boxplot([rows.loc[rows[by] == level, "estimate"] for level in levels],
                   tick_labels=[labels.get(level, str(level)) for level in levels], widths=0.5)
        ax.set_title(term)
        ax.set_ylabel("estimate")
    fig.tight_layout()
    return fig


def coefficients_against(fits: pd.DataFrame, x: str, terms: Sequence[str]) -> plt.Figure:
    """Per-group estimates of each term against a group-level variable *x*,
    with a broken least-squares line and a solid smooth."""
    require_columns(fits, [x, "term", "estimate"], "coefficients_against")
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms), 4.0), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        ax.scatter(rows[x], rows["estimate"], s=14, color="black", alpha=0.6, linewidths=0)
        _fit_and_smooth(ax, rows[x].to_numpy(), rows["estimate"].to_numpy())
        ax.set_xlabel(x)
        ax.set_ylabel(f"{term} estimate")
    fig.tight_layout()
    return fig
