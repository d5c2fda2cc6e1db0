"""The book's figures: one style, labelled axes, readable at slide size.

Each function takes a DataFrame and returns the matplotlib Figure it drew.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fig = lmmlib.plots.trellis(hsb, "cses", "mathach", "school", groups=[1224, 1288], ncols=2)
>>> len(fig.axes)
2
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.nonparametric.smoothers_lowess import lowess

from .checks import require_columns, require_frame
from .errors import InputError
from .likelihood_ratio import mixture_pvalue

#: Colours used for the two sectors throughout the book.
SECTOR_COLORS = {0: "#C44E52", 1: "#4C72B0"}
SECTOR_NAMES = {0: "Public", 1: "Catholic"}
#: Fraction of the data in each local regression of the smooth curves.
SMOOTH_SPAN = 0.8


def line_key(color: str = "black") -> list[Line2D]:
    """Legend handles for the two lines drawn through every scatter: broken LS, solid smooth."""
    return [Line2D([], [], color=color, linestyle="--", label="least-squares line"),
            Line2D([], [], color=color, linestyle="-", label="nonparametric smooth (lowess)")]


def shared_limits(fits: pd.DataFrame, terms: Sequence[str], pad: float = 0.03) -> dict[str, tuple[float, float]]:
    """x-limits per term covering every interval in *fits*, so several interval plots share scales."""
    limits = {}
    for term in terms:
        rows = fits[fits["term"] == term]
        span = rows["upper"].max() - rows["lower"].min()
        limits[term] = (rows["lower"].min() - pad * span, rows["upper"].max() + pad * span)
    return limits


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

    The group's id is written at the top of its panel; all panels share their axes,
    and a key above the panels says which line is which.
    """
    require_frame(data, "trellis")
    require_columns(data, [x, y, group], "trellis")
    missing = [g for g in groups if g not in set(data[group])]
    if missing:
        raise InputError(f"trellis: groups {missing} do not occur in column {group!r}")
    nrows = int(np.ceil(len(groups) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.4 * ncols, 2.3 * nrows + 1.0),
                             sharex=True, sharey=True, squeeze=False)
    for ax, key in zip(axes.flat, groups):
        rows = data[data[group] == key]
        ax.scatter(rows[x], rows[y], s=12, color=color, alpha=0.55, linewidths=0)
        _fit_and_smooth(ax, rows[x].to_numpy(), rows[y].to_numpy(), color=color)
        ax.set_title(str(key), fontsize=12, pad=2)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_visible(False)
    fig.supxlabel(x)
    fig.supylabel(y)
    top = 1 - 0.7 / fig.get_figheight()          # room for the title and the key, in figure units
    if title:
        fig.suptitle(title, y=0.995)
    fig.legend(handles=line_key(color), loc="upper center", bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()),
               ncols=2, frameon=False, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def coefficient_intervals(fits: pd.DataFrame, group: str, terms: Sequence[str], color: str = "black",
                          title: str | None = None, term_labels: Mapping[str, str] | None = None,
                          xlim: Mapping[str, tuple[float, float]] | None = None,
                          reference: Mapping[str, float] | None = None) -> plt.Figure:
    """Point estimates with confidence intervals for each group, one panel per term.

    *fits* is the output of :func:`lmmlib.ols_by_group`.  Groups are listed in the
    order of their estimate of the first term (in every panel).  *term_labels* gives
    axis labels, *xlim* fixed x-ranges per term (see :func:`shared_limits`) and
    *reference* a vertical line per term (e.g. ``{"cses": 0}``).
    """
    require_columns(fits, [group, "term", "estimate", "lower", "upper"], "coefficient_intervals")
    term_labels, xlim, reference = term_labels or {}, xlim or {}, reference or {}
    first = fits[fits["term"] == terms[0]].sort_values("estimate")
    order = list(first[group])
    fig, axes = plt.subplots(1, len(terms), figsize=(4.6 * len(terms), 0.1 * len(order) + 1.4),
                             sharey=True, squeeze=False)
    positions = {key: k for k, key in enumerate(order)}
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        if rows.empty:
            raise InputError(f"coefficient_intervals: no term {term!r} in the fits")
        ypos = rows[group].map(positions)
        if term in reference:
            ax.axvline(reference[term], color="grey", linewidth=1)
        ax.hlines(ypos, rows["lower"], rows["upper"], color=color, linewidth=1)
        ax.plot(rows["estimate"], ypos, "o", color=color, markersize=3)
        ax.set_xlabel(term_labels.get(term, term))
        if term in xlim:
            ax.set_xlim(xlim[term])
        ax.grid(axis="x", alpha=0.3)
    axes.flat[0].set_yticks(range(len(order)), [str(k) for k in order], fontsize=6)
    axes.flat[0].set_ylim(-1, len(order))
    axes.flat[0].set_ylabel(group)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficient_boxplots(fits: pd.DataFrame, by: str, terms: Sequence[str], labels: Mapping | None = None,
                         colors: Mapping | None = None, term_labels: Mapping[str, str] | None = None,
                         title: str | None = None) -> plt.Figure:
    """Boxplots of per-group estimates of each term, one box per value of *by*.

    *labels* names the values of *by* (e.g. :data:`SECTOR_NAMES`), *colors* colours
    their boxes (e.g. :data:`SECTOR_COLORS`), *term_labels* titles the panels.
    """
    require_columns(fits, [by, "term", "estimate"], "coefficient_boxplots")
    labels, colors, term_labels = labels or {}, colors or {}, term_labels or {}
    levels = sorted(fits[by].unique())
    fig, axes = plt.subplots(1, len(terms), figsize=(4.4 * len(terms), 4.4), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        boxes = ax.boxplot([rows.loc[rows[by] == level, "estimate"] for level in levels],
                           tick_labels=[labels.get(level, str(level)) for level in levels], widths=0.5,
                           patch_artist=True, medianprops={"color": "black", "linewidth": 1.5})
        for patch, level in zip(boxes["boxes"], levels):
            patch.set_facecolor(colors.get(level, "white"))
            patch.set_alpha(0.6)
        ax.set_title(term_labels.get(term, term))
        ax.set_ylabel("estimate")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficients_against(fits: pd.DataFrame, x: str, terms: Sequence[str],
                         term_labels: Mapping[str, str] | None = None, xlabel: str | None = None,
                         title: str | None = None) -> plt.Figure:
    """Per-group estimates of each term against a group-level variable *x*,
    with a broken least-squares line, a solid smooth and a key to the two lines."""
    require_columns(fits, [x, "term", "estimate"], "coefficients_against")
    term_labels = term_labels or {}
    fig, axes = plt.subplots(1, len(terms), figsize=(4.6 * len(terms), 4.2), squeeze=False)
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        ax.scatter(rows[x], rows["estimate"], s=14, color="black", alpha=0.6, linewidths=0)
        _fit_and_smooth(ax, rows[x].to_numpy(), rows["estimate"].to_numpy())
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(term_labels.get(term, f"{term} estimate"))
    axes.flat[0].legend(handles=line_key(), loc="upper left", frameon=False, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def bootstrap_distribution(result, title: str | None = None) -> plt.Figure:
    """The replicate G^2 values of a :func:`lmmlib.parametric_bootstrap_lrt` result against the chi-square(df) and the 50:50 mixture references.

    Left: histogram of the replicates with the two densities; right: the upper
    tail P(G^2 >= g) of each on a log scale, which is where p-values are read.
    The observed G^2 is marked in both panels.

    >>> from lmmlib.bootstrap import BootstrapLikelihoodRatioTest
    >>> fake = BootstrapLikelihoodRatioTest(g2=3.0, df=2, replicate_g2=np.array([0.1, 1.0, 4.0]),
    ...     p_bootstrap=0.5, p_naive=0.22, p_boundary=0.15, method="REML", removed=("var(x)",),
    ...     replicates=3, failed=0, seed=1)
    >>> len(bootstrap_distribution(fake).axes)
    2
    """
    g2 = np.sort(result.replicate_g2)
    df = result.df
    top = max(np.quantile(g2, 0.995), result.g2) * 1.1
    grid = np.linspace(top / 400, top, 400)
    lower_density = stats.chi2.pdf(grid, df - 1) if df > 1 else np.zeros_like(grid)
    mixture_density = 0.5 * lower_density + 0.5 * stats.chi2.pdf(grid, df)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    heights = left.hist(g2[g2 <= top], bins=40, range=(0, top), density=True, color="0.7", edgecolor="white",
                        label=f"{len(g2)} bootstrap replicates")[0]
    left.plot(grid, stats.chi2.pdf(grid, df), color="black", linewidth=2.2, label=rf"$\chi^2_{df}$")
    left.plot(grid, mixture_density, color="#4C72B0", linewidth=2.5,
              label=rf"50:50 mixture of $\chi^2_{df - 1}$ and $\chi^2_{df}$")
    left.set_ylim(0, 1.3 * max(heights.max(), mixture_density[grid >= top / 20].max()))
    left.set_xlabel(r"$G^2$")
    left.set_ylabel("density")
    tail = 1.0 - np.arange(len(g2)) / len(g2)
    right.step(g2, tail, where="post", color="0.55", linewidth=2.5)
    right.plot(grid, stats.chi2.sf(grid, df), color="black", linewidth=2.2)
    right.plot(grid, [mixture_pvalue(g, df) for g in grid], color="#4C72B0", linewidth=2.5)
    right.set_yscale("log")
    right.set_ylim(0.5 / len(g2), 1.2)
    right.set_xlim(0, top)
    right.set_xlabel(r"$g$")
    right.set_ylabel(r"$P(G^2 \geq g)$")
    left.axvline(result.g2, color="#C44E52", linestyle="--", linewidth=2, label=f"observed $G^2$ = {result.g2:.2f}")
    right.axvline(result.g2, color="#C44E52", linestyle="--", linewidth=2)
    left.legend(frameon=False, loc="upper center")   # the right panel uses the same colours
    if title:
        fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    return fig
