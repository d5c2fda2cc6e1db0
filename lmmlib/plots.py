"""The book's figures: one style, labelled axes, readable at slide size.

Each function takes a DataFrame and returns the matplotlib Figure it drew.  The
scatterplot grids (:func:`trellis`, :func:`coefficients_against`) are seaborn
``lmplot`` figures; the other figures are drawn with matplotlib, for the reasons
given in each function.  seaborn, pyplot, scipy.stats and statsmodels' lowess are
imported by the functions that use them, not with this module (importing seaborn
alone takes more than a second).

>>> rng = np.random.default_rng(0)
>>> data = pd.DataFrame({"school": np.repeat([1224, 1288], 20), "x": rng.normal(size=40)})
>>> data["y"] = 2 * data["x"] + rng.normal(size=40)
>>> fig = trellis(data, "x", "y", "school", groups=[1224, 1288], ncols=2)
>>> [ax.get_title() for ax in fig.axes]
['1224', '1288']
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .checks import require_columns, require_frame
from .errors import InputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

#: Fraction of the data in each local regression of the smooth curves.
SMOOTH_SPAN = 0.8
#: Line widths of the broken least-squares line and the solid smooth in every scatterplot.
LINE_WIDTH = 1.3
SMOOTH_WIDTH = 1.6
#: Smallest size, in points, of any tick label (the figures are shown on slides).
MIN_TICK_LABEL_SIZE = 10.0


def line_key(color: str = "black") -> list[Line2D]:
    """Legend handles for the two lines drawn through every scatter: broken LS, solid smooth."""
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=color, linestyle="--", linewidth=LINE_WIDTH, label="least-squares line"),
            Line2D([], [], color=color, linestyle="-", linewidth=SMOOTH_WIDTH,
                   label="nonparametric smooth (lowess)")]


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


def _require_terms(fits: pd.DataFrame, terms: Sequence[str], what: str) -> None:
    absent = [term for term in terms if not (fits["term"] == term).any()]
    if absent:
        raise InputError(f"{what}: no term {absent[0]!r} in the fits")


def _lowess_curve(x, y, color: str = "black", span: float = SMOOTH_SPAN, **facet_kws) -> None:
    """The solid lowess smooth of one panel, drawn on the current axes by ``FacetGrid.map``.

    seaborn draws a lowess curve itself (``lmplot(..., lowess=True)``), with statsmodels'
    ``lowess`` at its default ``frac`` of 2/3 and no way to change it, so the book's
    smooth (span :data:`SMOOTH_SPAN`) is drawn here.  ``FacetGrid.map`` also passes
    lmplot's marker among *facet_kws*; a curve has none.
    """
    import matplotlib.pyplot as plt
    from statsmodels.nonparametric.smoothers_lowess import lowess

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    smooth = lowess(y[keep], x[keep], frac=span, return_sorted=True)
    plt.gca().plot(smooth[:, 0], smooth[:, 1], linestyle="-", color=color, linewidth=SMOOTH_WIDTH)


def _scatter_grid(data: pd.DataFrame, x: str, y: str, col: str, col_order: Sequence, col_wrap: int | None,
                  panel_width: float, panel_height: float, color: str, point_size: float, alpha: float,
                  sharey: bool):
    """seaborn ``lmplot`` of y on x, one panel per value of *col*: the scatter, the broken
    least-squares line (``ci=None``: no band) over the range of the panel's data, and
    the solid smooth.  The grid's axis labels are left to the caller."""
    import seaborn as sns

    grid = sns.lmplot(data, x=x, y=y, col=col, col_order=list(col_order), col_wrap=col_wrap,
                      height=panel_height, aspect=panel_width / panel_height, ci=None, truncate=True,
                      scatter_kws={"s": point_size, "color": color, "alpha": alpha, "linewidths": 0},
                      line_kws={"color": color, "linestyle": "--", "linewidth": LINE_WIDTH},
                      facet_kws={"sharex": True, "sharey": sharey})
    grid.map(_lowess_curve, x, y, color=color)
    grid.set_axis_labels("", "")
    return grid


def _title_and_key(fig: Figure, title: str | None, color: str) -> None:
    """Title at the top of *fig*, the key to the two lines under it, the panels below both."""
    suptitle = fig.suptitle(title, y=0.995) if title else None
    key = fig.legend(handles=line_key(color), loc="upper center",
                     bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()), ncols=2, frameon=False)
    # The panels fill the figure below the key.  tight_layout would reserve room for the title
    # a second time, so the title sits out of the layout while it runs (and only then: saving
    # with bbox_inches="tight", as notebooks do, leaves out what is outside the layout).
    if suptitle:
        suptitle.set_in_layout(False)
    fig.tight_layout(rect=(0, 0, 1, key.get_window_extent().y0 / fig.bbox.height))
    if suptitle:
        suptitle.set_in_layout(True)


def trellis(data: pd.DataFrame, x: str, y: str, group: str, groups: Sequence, ncols: int = 5,
            color: str = "black", title: str | None = None) -> Figure:
    """One scatterplot per group in *groups*, with a broken least-squares line and a solid smooth.

    The group's id is written at the top of its panel; all panels share their axes,
    and a key above the panels says which line is which.  A seaborn ``lmplot``.
    """
    require_frame(data, "trellis")
    require_columns(data, [x, y, group], "trellis")
    present = set(data[group])
    missing = [g for g in groups if g not in present]
    if missing:
        raise InputError(f"trellis: groups {missing} do not occur in column {group!r}")
    nrows = math.ceil(len(groups) / ncols)
    grid = _scatter_grid(data[data[group].isin(list(groups))], x, y, col=group, col_order=groups,
                         col_wrap=ncols, panel_width=2.4, panel_height=2.3, color=color, point_size=12,
                         alpha=0.55, sharey=True)
    grid.set_titles("{col_name}", pad=2)
    fig = grid.figure
    fig.set_size_inches(2.4 * ncols, 2.3 * nrows + 1.0)    # one inch more for the title and the key
    fig.supxlabel(x)
    fig.supylabel(y)
    _title_and_key(fig, title, color)
    return fig


def coefficients_against(fits: pd.DataFrame, x: str, terms: Sequence[str],
                         term_labels: Mapping[str, str] | None = None, xlabel: str | None = None,
                         title: str | None = None) -> Figure:
    """Per-group estimates of each term against a group-level variable *x*,
    with a broken least-squares line, a solid smooth and a key to the two lines.

    One panel per term (a seaborn ``lmplot`` with a column per term); the panels share
    the x-axis, each term has its own y-axis.
    """
    require_columns(fits, [x, "term", "estimate"], "coefficients_against")
    _require_terms(fits, terms, "coefficients_against")
    term_labels = term_labels or {}
    grid = _scatter_grid(fits[fits["term"].isin(list(terms))], x, "estimate", col="term", col_order=terms,
                         col_wrap=None, panel_width=4.6, panel_height=4.2, color="black", point_size=14,
                         alpha=0.6, sharey=False)
    for ax, term in zip(grid.axes.flat, terms):
        ax.set_title("")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(term_labels.get(term, f"{term} estimate"))
    fig = grid.figure
    fig.set_size_inches(4.6 * len(terms), 4.2)
    _title_and_key(fig, title, "black")
    return fig


def coefficient_intervals(fits: pd.DataFrame, group: str, terms: Sequence[str], color: str = "black",
                          title: str | None = None, term_labels: Mapping[str, str] | None = None,
                          xlim: Mapping[str, tuple[float, float]] | None = None,
                          reference: Mapping[str, float] | None = None) -> Figure:
    """Point estimates with confidence intervals for each group, one panel per term.

    *fits* is the output of :func:`lmmlib.ols_by_group`.  Groups are listed in the
    order of their estimate of the first term (in every panel).  *term_labels* gives
    axis labels, *xlim* fixed x-ranges per term (see :func:`shared_limits`) and
    *reference* a vertical line per term (e.g. ``{"cses": 0}``).  Every group has a
    tick; when the groups are too many for a legible label on each, every second
    (third, ...) group is labelled, counting from the top.
    """
    # matplotlib, not seaborn: the intervals are given (the t intervals of ols_by_group), and
    # seaborn's pointplot only draws intervals it computes itself from raw observations;
    # precomputed error bars are not supported (mwaskom/seaborn#3740, #3345).
    import matplotlib.pyplot as plt

    require_columns(fits, [group, "term", "estimate", "lower", "upper"], "coefficient_intervals")
    _require_terms(fits, terms, "coefficient_intervals")
    term_labels, xlim, reference = term_labels or {}, xlim or {}, reference or {}
    first = fits[fits["term"] == terms[0]].sort_values("estimate")
    order = list(first[group])
    fig, axes = plt.subplots(1, len(terms), figsize=(4.6 * len(terms), 0.1 * len(order) + 1.4),
                             sharey=True, squeeze=False)
    positions = {key: k for k, key in enumerate(order)}
    for ax, term in zip(axes.flat, terms):
        rows = fits[fits["term"] == term]
        ypos = rows[group].map(positions)
        if term in reference:
            ax.axvline(reference[term], color="grey", linewidth=1)
        ax.hlines(ypos, rows["lower"], rows["upper"], color=color, linewidth=1)
        ax.plot(rows["estimate"], ypos, "o", color=color, markersize=3)
        ax.set_xlabel(term_labels.get(term, term))
        if term in xlim:
            ax.set_xlim(xlim[term])
        ax.grid(axis="x", alpha=0.3)
    first_ax = axes.flat[0]
    first_ax.set_ylim(-1, len(order))
    first_ax.set_ylabel(group)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    # Label as many groups as fit at the tick-label size: rows closer than 1.25 label heights
    # would overlap.
    size = max(MIN_TICK_LABEL_SIZE, first_ax.yaxis.get_major_ticks()[0].label1.get_fontsize())
    pitch = first_ax.get_position().height * fig.get_figheight() * 72 / (len(order) + 1)
    step = max(1, math.ceil(1.25 * size / pitch))
    labelled = list(range(len(order) - 1, -1, -step))
    first_ax.set_yticks(range(len(order)), minor=True)
    first_ax.set_yticks(labelled, [str(order[k]) for k in labelled], fontsize=size)
    fig.tight_layout()
    return fig


def coefficient_boxplots(fits: pd.DataFrame, by: str, terms: Sequence[str], labels: Mapping | None = None,
                         colors: Mapping | None = None, term_labels: Mapping[str, str] | None = None,
                         title: str | None = None) -> Figure:
    """Boxplots of per-group estimates of each term, one box per value of *by*.

    *labels* names the values of *by* (e.g. ``{0: "Public", 1: "Catholic"}``), *colors*
    colours their boxes (e.g. ``{0: "#C44E52", 1: "#4C72B0"}``), *term_labels* titles the panels.
    """
    # matplotlib, not seaborn: seaborn 0.13.2's boxplot calls Axes.bxp(vert=...), which
    # matplotlib 3.11 deprecates, so every sns.boxplot call prints a MatplotlibDeprecationWarning
    # (fixed in seaborn after 0.13.2, mwaskom/seaborn#3820) and the chapters' stored outputs
    # are compared as text.  Axes.boxplot with tick_labels= prints nothing.
    import matplotlib.pyplot as plt

    require_columns(fits, [by, "term", "estimate"], "coefficient_boxplots")
    _require_terms(fits, terms, "coefficient_boxplots")
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


def bootstrap_distribution(result, title: str | None = None) -> Figure:
    """The replicate G^2 values of a :func:`lmmlib.parametric_bootstrap_lrt` result against two references:
    the chi-square(df) distribution and the 50:50 mixture.

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
    # matplotlib, not seaborn: both panels compare the replicates with reference curves
    # computed from formulas (chi-square and mixture densities and tail probabilities),
    # which seaborn does not draw, and the right panel's empirical tail is P(G^2 >= g),
    # the bootstrap p-value, whose last step stays at 1/n on the log scale; seaborn's
    # ecdfplot(complementary=True) draws P(G^2 > g), which falls to 0 there.
    import matplotlib.pyplot as plt
    from scipy import stats

    from .likelihood_ratio import mixture_pvalue

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
