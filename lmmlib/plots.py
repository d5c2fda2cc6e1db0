"""The book's figures: one style, labelled axes, legible in a book's text column.

Each function takes a DataFrame and returns the matplotlib Figure it drew, at most
:data:`FIGURE_WIDTH` inches wide (the width of the text column), so that no figure is
shrunk on the page and its 10-point labels stay 10 points.  The
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
>>> float(fig.get_figwidth())
6.5
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
#: Width, in inches, of every figure: the text column of the book (lmmbook.COLUMN_WIDTH).
FIGURE_WIDTH = 6.5
#: Interval plots name their groups on the axis only up to this many groups per panel;
#: beyond it a label would be smaller than :data:`MIN_TICK_LABEL_SIZE` or overlap its
#: neighbours, and the groups are shown as an ordered, unlabelled column.
MAX_LABELLED_GROUPS = 30


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


#: up to this many points a smooth is computed at every point (no interpolation)
EXACT_SMOOTH_POINTS = 1000


def _smooth(x, y, span: float = SMOOTH_SPAN) -> np.ndarray:
    """The book's lowess smooth of y on x, sorted by x: rows (x, smoothed y).

    statsmodels' ``lowess`` with span *span*; above :data:`EXACT_SMOOTH_POINTS` points, with
    ``delta`` of 1% of the range of x (points closer than that share a local fit, linearly
    interpolated: 0.02 s instead of about a second for the 7185 HSB students, and within
    0.01 of the full smooth).
    """
    from statsmodels.nonparametric.smoothers_lowess import lowess

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    delta = 0.01 * np.ptp(x[keep]) if keep.sum() > EXACT_SMOOTH_POINTS else 0.0
    return lowess(y[keep], x[keep], frac=span, delta=delta, return_sorted=True)


def _lowess_curve(x, y, color: str = "black", span: float = SMOOTH_SPAN, **facet_kws) -> None:
    """The solid lowess smooth of one panel, drawn on the current axes by ``FacetGrid.map``.

    seaborn draws a lowess curve itself (``lmplot(..., lowess=True)``), with statsmodels'
    ``lowess`` at its default ``frac`` of 2/3 and no way to change it, so the book's
    smooth (span :data:`SMOOTH_SPAN`, :func:`_smooth`) is drawn here.  ``FacetGrid.map``
    also passes lmplot's marker among *facet_kws*; a curve has none.
    """
    import matplotlib.pyplot as plt

    smooth = _smooth(x, y, span)
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


def trellis(data: pd.DataFrame, x: str, y: str, group: str, groups: Sequence, ncols: int = 4,
            color: str = "black", title: str | None = None, width: float = FIGURE_WIDTH) -> Figure:
    """One scatterplot per group in *groups*, with a broken least-squares line and a solid smooth.

    The panels fill a figure *width* inches wide (the text column), *ncols* to a row,
    as many rows as needed; each panel is a little less tall than wide.  The group's id
    is written at the top of its panel; all panels share their axes, and a key above
    the panels says which line is which.  A seaborn ``lmplot``.
    """
    require_frame(data, "trellis")
    require_columns(data, [x, y, group], "trellis")
    present = set(data[group])
    missing = [g for g in groups if g not in present]
    if missing:
        raise InputError(f"trellis: groups {missing} do not occur in column {group!r}")
    ncols = max(1, min(ncols, len(groups)))
    nrows = math.ceil(len(groups) / ncols)
    panel_width = width / ncols
    panel_height = 0.85 * panel_width
    grid = _scatter_grid(data[data[group].isin(list(groups))], x, y, col=group, col_order=groups,
                         col_wrap=ncols, panel_width=panel_width, panel_height=panel_height, color=color,
                         point_size=8, alpha=0.55, sharey=True)
    grid.set_titles("{col_name}", pad=2, size=MIN_TICK_LABEL_SIZE)
    fig = grid.figure
    # room above the panels for the key (and the title), below and left for the axis labels
    fig.set_size_inches(width, panel_height * nrows + 0.9 + (0.3 if title else 0.0))
    fig.supxlabel(x)
    fig.supylabel(y)
    _title_and_key(fig, title, color)
    return fig


def coefficients_against(fits: pd.DataFrame, x: str, terms: Sequence[str],
                         term_labels: Mapping[str, str] | None = None, xlabel: str | None = None,
                         title: str | None = None, width: float = FIGURE_WIDTH) -> Figure:
    """Per-group estimates of each term against a group-level variable *x*,
    with a broken least-squares line, a solid smooth and a key to the two lines.

    One panel per term side by side, *width* inches in all (a seaborn ``lmplot`` with a
    column per term); the panels share the x-axis, each term has its own y-axis.
    """
    require_columns(fits, [x, "term", "estimate"], "coefficients_against")
    _require_terms(fits, terms, "coefficients_against")
    term_labels = term_labels or {}
    panel_width = width / len(terms)
    panel_height = min(3.6, 0.95 * panel_width)
    grid = _scatter_grid(fits[fits["term"].isin(list(terms))], x, "estimate", col="term", col_order=terms,
                         col_wrap=None, panel_width=panel_width, panel_height=panel_height, color="black",
                         point_size=10, alpha=0.6, sharey=False)
    for ax, term in zip(grid.axes.flat, terms):
        ax.set_title("")
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(term_labels.get(term, f"{term} estimate"))
    fig = grid.figure
    fig.set_size_inches(width, panel_height + 0.5 + (0.3 if title else 0.0))
    _title_and_key(fig, title, "black")
    return fig


def coefficient_intervals(fits: pd.DataFrame, group: str, term: str, by: str | None = None,
                          labels: Mapping | None = None, colors: Mapping | None = None, color: str = "black",
                          xlabel: str | None = None, ylabel: str | None = None,
                          xlim: tuple[float, float] | None = None, reference: float | None = None,
                          max_labelled: int = MAX_LABELLED_GROUPS, width: float = FIGURE_WIDTH,
                          height: float | None = None, title: str | None = None) -> Figure:
    """Point estimates of one *term* with their confidence intervals, one row per group.

    *fits* is the output of :func:`lmmlib.ols_by_group`.  The groups are ordered by their
    estimate, lowest at the bottom, so that the figure shows the distribution of the
    estimates and the length of every interval.  With *by* (e.g. ``"sector"``) there is
    one panel per value of *by*, side by side with a common x-axis, each ordered on its
    own; *labels* names the values (panel titles, with the number of groups) and
    *colors* colours them; otherwise everything is drawn in *color*.

    A panel of at most *max_labelled* groups names each group at its row.  More groups
    cannot be named legibly (160 school ids would be a few pixels tall), so their rows
    carry no labels and the y-axis says *ylabel* (default: "<group>, ordered by
    estimate").  *xlim* fixes the x-range (see :func:`shared_limits`), *reference* draws
    a vertical line (e.g. at 0 for a slope).  The figure is *width* inches wide and, unless
    *height* says otherwise, tall enough for a row per group (at most 9 inches; pass a
    height no larger than the width for a slide).
    """
    # matplotlib, not seaborn: the intervals are given (the t intervals of ols_by_group), and
    # seaborn's pointplot only draws intervals it computes itself from raw observations;
    # precomputed error bars are not supported (mwaskom/seaborn#3740, #3345).
    import matplotlib.pyplot as plt

    require_columns(fits, [group, "term", "estimate", "lower", "upper"] + ([by] if by else []),
                    "coefficient_intervals")
    _require_terms(fits, [term], "coefficient_intervals")
    labels, colors = labels or {}, colors or {}
    rows = fits[fits["term"] == term]
    levels = sorted(rows[by].unique()) if by else [None]
    panels = [rows[rows[by] == level] if by else rows for level in levels]
    longest = max(len(panel) for panel in panels)
    named = longest <= max_labelled
    # rows 0.05 in apart (5 pixels at 110 dpi) when unlabelled; a labelled row needs the
    # height of its 10-point label
    pitch = 1.3 * MIN_TICK_LABEL_SIZE / 72 if named else 0.05
    height = height or min(9.0, max(2.6, pitch * longest + 1.2))
    fig, axes = plt.subplots(1, len(levels), figsize=(width, height), sharex=True, squeeze=False)
    for ax, level, panel in zip(axes.flat, levels, panels):
        panel = panel.sort_values("estimate", kind="stable")
        ypos = np.arange(len(panel))
        shade = colors.get(level, color) if by else color
        if reference is not None:
            ax.axvline(reference, color="grey", linewidth=1)
        ax.hlines(ypos, panel["lower"], panel["upper"], color=shade, linewidth=0.9)
        ax.plot(panel["estimate"], ypos, "o", color=shade, markersize=2.5)
        ax.set_ylim(-1, len(panel))
        ax.set_xlabel(xlabel or term)
        ax.grid(axis="x", alpha=0.3)
        if by:
            ax.set_title(f"{labels.get(level, level)} ({len(panel)})", fontsize=MIN_TICK_LABEL_SIZE + 1)
        if named:
            ax.set_yticks(ypos, [str(g) for g in panel[group]], fontsize=MIN_TICK_LABEL_SIZE)
        else:
            ax.set_yticks([])
    axes.flat[0].set_ylabel(ylabel or f"{group}, ordered by estimate")
    if xlim is not None:
        axes.flat[0].set_xlim(xlim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def coefficient_boxplots(fits: pd.DataFrame, by: str, terms: Sequence[str], labels: Mapping | None = None,
                         colors: Mapping | None = None, term_labels: Mapping[str, str] | None = None,
                         title: str | None = None, width: float = FIGURE_WIDTH) -> Figure:
    """Boxplots of per-group estimates of each term, one box per value of *by*; one panel
    per term, side by side, *width* inches in all.

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
    fig, axes = plt.subplots(1, len(terms), figsize=(width, min(3.6, width / len(terms))), squeeze=False)
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 4.0))
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
    # one key for both panels (they use the same colours), below them: the panels stay clear
    fig.legend(*left.get_legend_handles_labels(), loc="lower center", ncol=2, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def likelihood_profile(profile: pd.DataFrame, level: float = 0.95, ncols: int = 3) -> Figure:
    """zeta against each parameter, from :func:`lmmlib.likelihood_profile`, one panel per
    parameter, with the straight line a Wald interval assumes (broken) and the interval's
    ends where |zeta| reaches the normal quantile of *level* (dotted).

    seaborn's ``relplot`` draws the panels: a faceted line plot of long-form data is its job.

    >>> table = pd.DataFrame({"parameter": ["a"] * 3 + ["b"] * 3, "value": [1.0, 2.0, 3.0] * 2,
    ...                       "zeta": [-1.0, 0.0, 1.5] * 2, "wald": [-1.0, 0.0, 1.0] * 2})
    >>> [ax.get_title() for ax in likelihood_profile(table).axes]
    ['a', 'b']
    """
    import seaborn as sns
    from scipy import stats

    require_frame(profile, "profile")
    require_columns(profile, ["parameter", "value", "zeta", "wald"], "profile")
    if not 0 < level < 1:
        raise InputError(f"level must lie strictly between 0 and 1, not {level}")
    count = profile["parameter"].nunique()
    columns = min(ncols, count)
    rows = math.ceil(count / columns)
    panel = FIGURE_WIDTH / columns
    long = profile.melt(id_vars=["parameter", "value"], value_vars=["zeta", "wald"], var_name="line",
                        value_name="height")
    long["line"] = long["line"].map({"zeta": "profile (zeta)", "wald": "Wald (straight line)"})
    grid = sns.relplot(data=long, x="value", y="height", col="parameter", col_wrap=columns if count > 1 else None,
                       style="line", kind="line", color="black", height=min(panel * 0.9, 3.0), aspect=1 / 0.9,
                       facet_kws={"sharex": False, "sharey": True}, legend=True)
    z = stats.norm.ppf(0.5 + level / 2)
    for ax in grid.axes.flat:
        for sign in (-1, 1):
            ax.axhline(sign * z, color="0.5", linestyle=":", linewidth=1)
        ax.set_xlabel("")
    grid.set_titles("{col_name}")
    grid.set_ylabels("zeta")
    sns.move_legend(grid, "lower center", ncol=2, title=None, frameon=False, bbox_to_anchor=(0.5, -0.02))
    grid.figure.set_size_inches(FIGURE_WIDTH, min(panel * 0.9, 3.0) * rows + 0.6)
    grid.figure.tight_layout(rect=(0, 0.08, 1, 1))
    return grid.figure


def shrinkage(table: pd.DataFrame, term: str, color: str = "#4C72B0") -> Figure:
    """Partial pooling of one random term, from :func:`lmmlib.shrinkage`: for each group an
    arrow from its own least-squares coefficient to its mixed-model coefficient, against the
    group's size, with the fixed effect as a line; small groups move furthest.

    matplotlib, not seaborn: arrows from one estimate to another are not a seaborn plot.

    >>> table = pd.DataFrame({"group": [1, 2], "term": "Intercept", "n": [5, 50],
    ...                       "least squares": [8.0, 14.0], "mixed model": [11.0, 13.8],
    ...                       "fixed effect": 12.0, "reliability": [0.5, 0.95]})
    >>> len(shrinkage(table, "Intercept").axes)
    1
    """
    import matplotlib.pyplot as plt

    require_frame(table, "table")
    require_columns(table, ["term", "n", "least squares", "mixed model", "fixed effect"], "table")
    rows = table[table["term"] == term].dropna(subset=["least squares"])
    if rows.empty:
        raise InputError(f"no term {term!r} with least-squares estimates in the table; terms: "
                         f"{sorted(table['term'].unique())}")
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 4.0))
    for _, row in rows.iterrows():
        ax.annotate("", xy=(row["n"], row["mixed model"]), xytext=(row["n"], row["least squares"]),
                    arrowprops={"arrowstyle": "->", "color": color, "linewidth": 0.9, "alpha": 0.8})
    ax.scatter(rows["n"], rows["least squares"], s=12, color="0.45", label="group's own least squares", zorder=3)
    ax.scatter(rows["n"], rows["mixed model"], s=12, color=color, label="mixed model", zorder=3)
    ax.axhline(rows["fixed effect"].iloc[0], color="black", linestyle="--", linewidth=1.2, label="fixed effect")
    ax.set_xlabel("rows in the group")
    ax.set_ylabel(term)
    ax.legend(frameon=False, fontsize=9, loc="best")
    fig.tight_layout()
    return fig


#: In :func:`residual_plots`, a column with at most this many distinct values (an indicator
#: such as sector, a small factor) gets a box of residuals per value instead of a scatter.
RESIDUAL_BOX_LEVELS = 10


def residual_plots(fit, against: str | Sequence[str] | None = None, kind: str = "conditional",
                   scale: str = "standardized", fitted: bool = True, ncols: int | None = None,
                   color: str = "#4C72B0", width: float = FIGURE_WIDTH) -> Figure:
    """Residuals of a mixed-model fit against its fitted values and against columns of its data,
    one panel each: the points, a lowess smooth and a line at zero, on a shared y-axis.

    The residuals are ``lmmlib.residuals(fit, kind, scale)``: conditional ones check the
    level-1 model given each group's random effects, raw marginal ones the whole mean and
    covariance model.  The first panel (unless *fitted* is False) has the fitted values that
    go with them on the x-axis: X beta + Z b for conditional residuals, X beta for marginal
    ones.  Then comes one panel per column named in *against* (a name or a list), taken
    from the rows the fit used (``fit.model.design.frame``); a column the model leaves out
    is allowed, and is where a missing predictor shows.  A column with at most
    :data:`RESIDUAL_BOX_LEVELS` distinct values, or a non-numeric one, gets a box of
    residuals per value, where a difference in spread is easier to see than in a scatter.

    A scatter panel draws every residual as a small translucent point (thousands of them
    overlap) in *color*, the book's lowess smooth (span :data:`SMOOTH_SPAN`) in black and
    a grey line at zero.  The smooth uses statsmodels' ``delta`` of 1% of the range of x,
    which fits the local regressions at points that far apart and interpolates between them:
    seven thousand points take a fiftieth of a second instead of more than one.  The panels
    are *ncols* to a row (default: all of up to three in one row, four as 2 x 2, otherwise three
    to a row) and *width* inches wide in all, no taller than wide; the shared y-axis has one
    label beside all rows (on two lines when the panels are too low for it), and a box panel
    with more values than fit side by side at 10 points leaves them unnamed.

    Standardized marginal residuals are refused: they are decorrelated within each group
    by a Cholesky factor, which mixes the group's rows, so they do not belong to one x each;
    look at them in a :func:`normal_qq` plot.

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")
    >>> fig = residual_plots(fit, against="x")
    >>> [ax.get_xlabel() for ax in fig.axes], fig.get_supylabel()
    (['fitted value', 'x'], 'standardized conditional residual')
    >>> residual_plots(fit, against="z")
    Traceback (most recent call last):
    ...
    lmmlib.errors.InputError: residual_plots: no column 'z' in the data of the fit ...
    """
    # matplotlib, not seaborn: the panels put one set of residuals against x-values from
    # different sources (fitted values, data columns, numeric or not), mixing scatters and
    # boxes, and the smooth is the book's (seaborn's lowess has a fixed span of 2/3).
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba
    from matplotlib.font_manager import FontProperties
    from pandas.api.types import is_numeric_dtype

    from .checking import residuals
    from .fitting import MixedFit

    if not isinstance(fit, MixedFit):
        raise InputError(f"residual_plots needs a fit from lmmlib.fit_mixed, not {type(fit).__name__}")
    if kind == "marginal" and scale == "standardized":
        raise InputError("residual_plots: standardized marginal residuals are decorrelated within each group, "
                         "which mixes the group's rows, so they belong to no single x; use scale='raw', or "
                         "lmmlib.plots.normal_qq for a QQ plot of them")
    values = residuals(fit, kind, scale)
    names = [against] if isinstance(against, str) else list(against or [])
    frame = fit.model.design.frame
    unknown = [name for name in names if name not in frame.columns]
    if unknown:
        raise InputError(f"residual_plots: no column {unknown[0]!r} in the data of the fit; its columns are "
                         f"{', '.join(repr(column) for column in frame.columns)}")
    if kind == "conditional":
        panels = [("fitted value", fit.fitted)] if fitted else []
    else:                                        # raw marginal: y - X beta, against X beta
        panels = [("fitted value, fixed part", fit.response - values)] if fitted else []
    panels += [(name, frame[name]) for name in names]
    if not panels:
        raise InputError("residual_plots has nothing to draw: fitted=False and no column in against")
    count = len(panels)
    columns = ncols or (2 if count == 4 else min(count, 3))
    if not 1 <= columns <= count:
        raise InputError(f"residual_plots: ncols must lie between 1 and the number of panels ({count}), "
                         f"not {ncols}")
    rows = math.ceil(count / columns)
    panel_height = min(0.9 * width / columns, 3.4)
    fig, axes = plt.subplots(rows, columns, figsize=(width, min(width, rows * panel_height + 0.5)),
                             sharey=True, squeeze=False)
    ylabel = f"{'standardized ' if scale == 'standardized' else ''}{kind} residual"
    for ax, (label, x) in zip(axes.flat, panels):
        x = pd.Series(np.asarray(x), index=values.index)
        keep = x.notna() & np.isfinite(values)
        x, y = x[keep], values[keep]
        levels = sorted(x.unique())
        ax.axhline(0, color="0.45", linewidth=1, zorder=0)
        if len(levels) <= RESIDUAL_BOX_LEVELS or not is_numeric_dtype(x):
            names = [f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in levels]
            ax.boxplot([y[x == level].to_numpy() for level in levels], tick_labels=names, widths=0.5,
                       medianprops={"color": "black", "linewidth": 1.5},
                       flierprops={"markersize": 2, "alpha": 0.4, "markeredgecolor": color},
                       patch_artist=True, boxprops={"facecolor": to_rgba(color, 0.35)})
            # 10-point labels side by side, a character about 0.6 em wide and 0.1 in apart
            room = width / columns
            if len(names) * (0.6 * MIN_TICK_LABEL_SIZE / 72 * max(map(len, names)) + 0.1) > room:
                ax.set_xticks([])                   # too many to name legibly
                label = f"{label} ({len(levels)} values)"
        else:
            xs = x.to_numpy(dtype=float)
            ax.scatter(xs, y.to_numpy(), s=3, color=color, alpha=0.25, linewidths=0)
            smooth = _smooth(xs, y.to_numpy())
            ax.plot(smooth[:, 0], smooth[:, 1], color="black", linewidth=SMOOTH_WIDTH)
        ax.set_xlabel(label)
    for ax in axes.flat[count:]:
        fig.delaxes(ax)
    # one label for the shared y-axis, beside all rows (a label per row would not fit in a
    # panel's height); on two lines when it is longer than the panels are high (a character
    # is about 0.55 em wide)
    size = FontProperties(size=plt.rcParams["axes.labelsize"]).get_size_in_points()
    if 0.55 * size / 72 * len(ylabel) > rows * panel_height:
        ylabel = ylabel.replace(" ", "\n", 1)
    fig.supylabel(ylabel, fontsize=size)
    fig.tight_layout()
    return fig


def normal_qq(values: pd.DataFrame | pd.Series, color: str = "#4C72B0") -> Figure:
    """Normal QQ plots, one panel per column of *values* (for instance standardized marginal
    residuals from :func:`lmmlib.residuals`, or the conditional modes of each random term,
    ``fit.random_effects``), each with the line through the quartiles: points in *color*
    (the book's blue), the line in black.

    statsmodels' ``qqplot`` draws each panel: the quantiles and the reference line are its job.

    >>> fig = normal_qq(pd.DataFrame({"a": np.linspace(-2, 2, 30), "b": np.linspace(0, 1, 30) ** 2}))
    >>> [ax.get_title() for ax in fig.axes]
    ['a', 'b']
    """
    import matplotlib.pyplot as plt
    from statsmodels.graphics.gofplots import qqplot

    frame = values.to_frame() if isinstance(values, pd.Series) else values
    require_frame(frame, "values")
    empty = [column for column in frame.columns if frame[column].dropna().size < 3]
    if empty:
        raise InputError(f"a QQ plot needs at least 3 values; columns {empty} have fewer")
    count = frame.shape[1]
    fig, axes = plt.subplots(1, count, figsize=(FIGURE_WIDTH, min(3.6, FIGURE_WIDTH / count + 0.6)), squeeze=False)
    for ax, column in zip(axes[0], frame.columns):
        qqplot(frame[column].dropna().to_numpy(), line="q", ax=ax, markersize=3, alpha=0.6,
               markerfacecolor=color, markeredgecolor=color)
        ax.get_lines()[-1].set_color("black")           # the reference line
        ax.set_title(str(column))
        ax.set_xlabel("normal quantile")
        ax.set_ylabel("sample quantile" if ax is axes[0][0] else "")
    fig.tight_layout()
    return fig


#: The colours of the three tests of :mod:`lmmlib.power` in :func:`actual_sizes` (seaborn's "deep"
#: red, orange and blue, the book's colours): the z-test red, Satterthwaite orange, Kenward-Roger blue.
TEST_COLORS = {"z": "#C44E52", "Satterthwaite": "#DD8452", "Kenward-Roger": "#4C72B0"}


def _frame_with_columns(table, columns: Sequence[str], what: str) -> pd.DataFrame:
    """*table* with *columns*, which may also be levels of its index (``set_index`` was applied)."""
    require_frame(table, what)
    levels = [name for name in table.index.names if name in columns and name not in table.columns]
    if levels:
        table = table.reset_index(levels)
    require_columns(table, columns, what)
    return table


def actual_sizes(table: pd.DataFrame, alpha: float | None = None, labels: Mapping[str, str] | None = None,
               colors: Mapping[str, str] | None = None, height: float = 3.2, width: float = FIGURE_WIDTH) -> Figure:
    """The actual size of each test of each hypothesis, from :func:`lmmlib.simulated_size`, with
    bars of two Monte Carlo standard errors either side and a broken line at the nominal level.

    One row of the figure per hypothesis (top to bottom in the order of *labels*, a mapping
    from the hypotheses to the names shown on the axis, or else in the order of the table),
    and in it one point per test, a little apart, in the colour *colors* gives it (default
    :data:`TEST_COLORS`); the key names the tests.  *alpha* is the nominal level (default: the
    table's ``attrs["alpha"]``, which simulated_size sets, else 0.05).  *table* may also have
    ``hypothesis`` and ``test`` as its index.  A point whose size is NaN (no replicate could
    be used) is not drawn.

    matplotlib, not seaborn: the error bars are given (the Monte Carlo standard errors), and
    seaborn's pointplot only draws intervals it computes from raw observations.

    >>> table = pd.DataFrame({"hypothesis": "x", "test": ["z", "Satterthwaite", "Kenward-Roger"],
    ...                       "size": [0.09, 0.06, 0.05], "Monte Carlo SE": [0.013, 0.011, 0.010]})
    >>> fig = actual_sizes(table, labels={"x": "slope of x"})
    >>> [label.get_text() for label in fig.axes[0].get_yticklabels()]
    ['slope of x']
    >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    ['z', 'Satterthwaite', 'Kenward-Roger']
    """
    import matplotlib.pyplot as plt

    table = _frame_with_columns(table, ["hypothesis", "test", "size", "Monte Carlo SE"], "actual_sizes")
    if table.duplicated(["hypothesis", "test"]).any():
        raise InputError("actual_sizes needs one row per hypothesis and test; the table has some twice (a table "
                         "of several simulations? draw one at a time)")
    alpha = table.attrs.get("alpha", 0.05) if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 1:
        raise InputError(f"actual_sizes: alpha (the nominal level) must lie strictly between 0 and 1, not {alpha!r}")
    hypotheses = list(labels) if labels else list(dict.fromkeys(table["hypothesis"]))
    absent = [h for h in hypotheses if h not in set(table["hypothesis"])]
    if absent:
        raise InputError(f"actual_sizes: no hypothesis {absent[0]!r} in the table; its hypotheses are "
                         f"{list(dict.fromkeys(table['hypothesis']))}")
    labels = labels or {}
    tests = list(dict.fromkeys(table["test"]))
    colors = {**TEST_COLORS, **(colors or {})}
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    shade = {test: colors.get(test, cycle[k % len(cycle)]) for k, test in enumerate(tests)}
    shifts = 0.2 * (np.arange(len(tests)) - (len(tests) - 1) / 2)
    rows = table.set_index(["hypothesis", "test"])
    fig, ax = plt.subplots(figsize=(width, height))
    for row, hypothesis in enumerate(hypotheses):
        for shift, test in zip(shifts, tests):
            if (hypothesis, test) not in rows.index:
                continue
            size, se = rows.loc[(hypothesis, test), ["size", "Monte Carlo SE"]]
            ax.errorbar(size, row + shift, xerr=2 * se, fmt="o", ms=7, color=shade[test], capsize=3,
                        label=test if row == 0 else None)
    ax.axvline(alpha, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(hypotheses)), [labels.get(h, h) for h in hypotheses])
    ax.set_ylim(len(hypotheses) - 0.5, -0.5)
    ax.set_xlim(0, None)
    ax.set_xlabel(f"share of replicates rejecting a true null (nominal {alpha:g})")
    ax.legend(frameon=False, loc="lower right")
    fig.tight_layout()
    return fig


def power_curves(table: pd.DataFrame, terms: Sequence[str] | None = None, titles: Mapping[str, str] | None = None,
                 test: str | None = None, target: float | None = 0.8, xlabel: str = "number of groups",
                 legend_title: str = "group size", height: float = 3.4, width: float = FIGURE_WIDTH) -> Figure:
    """Power against the number of groups, from :func:`lmmlib.power_curve`: one panel per term
    (side by side, sharing the y-axis from 0 to 1), one line per group size, in shades of blue
    from light (smallest) to dark (largest), each with its own marker.

    The x-axis is on a log scale (base 2) with a tick at every number of groups of the table;
    *titles* names the panels (default: the terms), *target* draws a dotted line at that
    power (None: no line).  A table of several tests needs *test* (e.g. ``"z"``), and the
    y-axis names it.  The key, titled *legend_title*, is in the last panel.

    matplotlib, not seaborn: each line is drawn as the table gives it (seaborn's lineplot
    would aggregate and add intervals), with markers and shades chosen per group size.

    >>> table = pd.DataFrame({"groups": [10, 20, 10, 20], "group size": [5, 5, 20, 20], "term": "w",
    ...                       "test": "z", "power": [0.2, 0.4, 0.3, 0.6]})
    >>> fig = power_curves(table)
    >>> [ax.get_title() for ax in fig.axes], fig.axes[0].get_ylabel()
    (['w'], 'power of the z-test')
    """
    import matplotlib.pyplot as plt

    table = _frame_with_columns(table, ["groups", "group size", "term", "power"], "power_curves")
    if "test" in table.columns:
        present = list(dict.fromkeys(table["test"]))
        if test is None and len(present) > 1:
            raise InputError(f"power_curves: the table holds several tests {present}; choose one with test=")
        test = present[0] if test is None else test
        if test not in present:
            raise InputError(f"power_curves: no test {test!r} in the table; its tests are {present}")
        table = table[table["test"] == test]
    terms = list(terms) if terms is not None else list(dict.fromkeys(table["term"]))
    if not terms:
        raise InputError("power_curves: name at least one term")
    absent = [term for term in terms if term not in set(table["term"])]
    if absent:
        raise InputError(f"power_curves: no term {absent[0]!r} in the table; its terms are "
                         f"{list(dict.fromkeys(table['term']))}")
    if table.duplicated(["groups", "group size", "term"]).any():
        raise InputError("power_curves needs one row per number of groups, group size and term (and test)")
    titles = titles or {}
    sizes = sorted(table["group size"].unique())
    shades = dict(zip(sizes, plt.cm.Blues(np.linspace(0.4, 1.0, len(sizes)) if len(sizes) > 1 else [1.0])))
    markers = dict(zip(sizes, ["o", "s", "^", "D", "v", "P", "X", "*"] * len(sizes)))
    ticks = sorted(table["groups"].unique())
    fig, axes = plt.subplots(1, len(terms), figsize=(width, height), sharey=True, squeeze=False)
    for ax, term in zip(axes.flat, terms):
        rows = table[table["term"] == term]
        for size, line in rows.groupby("group size"):
            line = line.sort_values("groups")
            ax.plot(line["groups"], line["power"], marker=markers[size], color=shades[size], lw=2, label=f"{size}")
        if target is not None:
            ax.axhline(target, color="grey", lw=1, ls=":")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{g}" for g in ticks])
        ax.minorticks_off()
        ax.set_title(titles.get(term, term))
        ax.set_xlabel(xlabel)
    name = "z-test" if test == "z" else f"{test} test" if test else "test"
    axes.flat[0].set_ylabel(f"power of the {name}")
    axes.flat[0].set_ylim(0, 1.02)
    axes.flat[-1].legend(title=legend_title, frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


def prediction_bands(fit, groups: Sequence, x: str, grid: Sequence[float] | None = None,
                     interval: str = "confidence", level: float = 0.95, least_squares: bool = True,
                     group_label: str | None = None, rows_label: str = "rows", ylabel: str | None = None,
                     color: str = "#4C72B0", points: int = 60, height: float = 3.8,
                     width: float = FIGURE_WIDTH) -> Figure:
    """Predicted lines of a few groups against *x*, with their bands, beside the population line.

    One panel per group of *groups* (side by side, sharing the y-axis), each with the group's
    rows (grey dots), the population average with its band (black line, grey band), the
    group's line from the mixed model with its band (*color*), and, with *least_squares*, the
    group's own least-squares line of the response on *x* (broken, *color*).  The lines are
    :func:`lmmlib.predict` of *fit* at the points *grid* of *x* (default: *points* points over
    the group's observed range of *x*, so that no line goes beyond the group's data), with
    ``effects="conditional"`` for the group and ``"marginal"`` for the population, both with
    *interval* (``"confidence"``: for the mean; ``"prediction"``: for one new row) at *level*.
    Every other predictor of the model must be constant within each group (a group-level
    variable such as sector): the grid takes the group's value.

    The function takes the fit, not predict's tables: each panel needs two predictions on the
    same grid, the group's rows and its own line, and building them inside keeps them
    consistent (the same grid, the same group, the same interval); a caller who wants other
    lines can draw on the returned axes.

    Titles read "<group_label> <group>, <n> <rows_label>" (*group_label* defaults to the
    fit's grouping column), the y-axis *ylabel* (default: the response).

    >>> import lmmlib
    >>> fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")
    >>> fig = prediction_bands(fit, ["g01", "g02"], "x")
    >>> [ax.get_title() for ax in fig.axes]
    ['group g01, 8 rows', 'group g02, 8 rows']
    """
    import matplotlib.pyplot as plt

    from .fitting import MixedFit
    from .prediction import predict

    if not isinstance(fit, MixedFit):
        raise InputError(f"prediction_bands needs a fit from lmmlib.fit_mixed, not {type(fit).__name__}")
    data = fit.model.design.frame
    response = fit.model.formula.response
    if x not in data.columns:
        raise InputError(f"prediction_bands: no column {x!r} in the data of the fit; its columns are "
                         f"{', '.join(repr(column) for column in data.columns)}")
    groups = [groups] if isinstance(groups, (str, int, np.integer)) else list(groups)
    if not groups:
        raise InputError("prediction_bands: name at least one group")
    absent = [g for g in groups if g not in set(data[fit.group])]
    if absent:
        raise InputError(f"prediction_bands: no group {absent[0]!r} in column {fit.group!r} of the fit's data")
    if interval not in ("confidence", "prediction"):
        raise InputError(f"prediction_bands: interval must be 'confidence' or 'prediction', not {interval!r}")
    if grid is not None:
        grid = np.asarray(grid, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or not np.isfinite(grid).all():
            raise InputError("prediction_bands: grid must be at least two finite values of x")
    group_label = fit.group if group_label is None else group_label
    fig, axes = plt.subplots(1, len(groups), figsize=(width, height), sharey=True, squeeze=False)
    for ax, group in zip(axes.flat, groups):
        rows = data[data[fit.group] == group]
        xs = grid if grid is not None else np.linspace(rows[x].min(), rows[x].max(), points)
        line = pd.DataFrame({fit.group: group, x: xs})
        # group-level predictors: the group's value (a variable that varies within the group is left out,
        # and predict says which one the model needs)
        for column in data.columns.drop([fit.group, x, response], errors="ignore"):
            if rows[column].nunique(dropna=False) == 1:
                line[column] = rows[column].iloc[0]
        try:
            own = predict(fit, line, effects="conditional", interval=interval, level=level)
            population = predict(fit, line, effects="marginal", interval=interval, level=level)
        except InputError as problem:
            raise InputError(f"prediction_bands draws lines against {x!r} alone, so every other predictor "
                             f"must be constant within each group; {problem}") from None
        ax.scatter(rows[x], rows[response], s=9, color="0.65")
        ax.fill_between(xs, population["lower"], population["upper"], color="0.75", alpha=0.6)
        ax.plot(xs, population["prediction"], color="black", lw=1.3, label="population average")
        ax.fill_between(xs, own["lower"], own["upper"], color=color, alpha=0.25)
        ax.plot(xs, own["prediction"], color=color, lw=2.2, label=f"{group_label}, mixed model")
        if least_squares:
            intercept, slope = least_squares_line(rows[x].to_numpy(float), rows[response].to_numpy(float))
            ax.plot(xs, intercept + slope * xs, color=color, lw=1.3, ls="--",
                    label=f"{group_label}, own least squares")
        ax.set_title(f"{group_label} {group}, {len(rows)} {rows_label}", fontsize=11)
        ax.set_xlabel(x)
    axes.flat[0].set_ylabel(response if ylabel is None else ylabel)
    axes.flat[0].legend(frameon=False, loc="upper left", fontsize=MIN_TICK_LABEL_SIZE)
    fig.tight_layout()
    return fig


def shrinkage_plane(table: pd.DataFrame, x_term: str, y_term: str, color: str = "#4C72B0",
                    xlabel: str | None = None, ylabel: str | None = None, group_label: str = "group",
                    labelled: bool = True, label_offsets: Mapping | None = None,
                    xlim: tuple[float, float] | None = None, height: float = 4.4,
                    width: float = FIGURE_WIDTH) -> Figure:
    """Partial pooling of two random terms at once, from :func:`lmmlib.shrinkage`: each group
    in the plane of *x_term* and *y_term* (for instance intercept and slope), with an arrow
    from its own least-squares pair (grey dot) to its mixed-model pair (dot in *color*), and
    the fixed effects as a black cross.

    :func:`shrinkage` draws one term against the group's size; here the two coefficients of
    a group move together (the pull of one depends on the other's deviation), which only the
    plane shows.  With *labelled*, each group is named at its least-squares dot as
    "<group> (<n>)", 7 points to the right; *label_offsets* maps a group to
    ``(dx, dy, ha)``, a shift in points and a horizontal alignment, for labels that would
    collide.  Groups without least-squares estimates (too few rows) are left out.  The
    legend names the dots "<group_label>'s own least squares" and "mixed model".

    matplotlib, not seaborn: arrows from one estimate to another are not a seaborn plot.

    >>> table = pd.DataFrame({"group": [1, 1, 2, 2], "term": ["a", "b"] * 2, "n": [5, 5, 50, 50],
    ...                       "least squares": [8.0, 1.0, 14.0, 2.5], "mixed model": [11.0, 1.6, 13.8, 2.4],
    ...                       "fixed effect": [12.0, 2.0] * 2, "reliability": [0.5, 0.4, 0.95, 0.9]})
    >>> fig = shrinkage_plane(table, "a", "b")
    >>> [text.get_text() for text in fig.axes[0].texts]
    ['', '1 (5)', '', '2 (50)']
    """
    import matplotlib.pyplot as plt

    require_frame(table, "shrinkage_plane")
    require_columns(table, ["group", "term", "n", "least squares", "mixed model", "fixed effect"],
                    "shrinkage_plane")
    if x_term == y_term:
        raise InputError(f"shrinkage_plane needs two different terms, not {x_term!r} twice")
    terms = list(dict.fromkeys(table["term"]))
    for term in (x_term, y_term):
        if term not in terms:
            raise InputError(f"shrinkage_plane: no term {term!r} in the table; its terms are {terms}")
    if table.duplicated(["group", "term"]).any():
        raise InputError("shrinkage_plane needs one row per group and term (the table of lmmlib.shrinkage)")
    wide = table[table["term"].isin([x_term, y_term])].pivot(index="group", columns="term")
    wide = wide.dropna(subset=[("least squares", x_term), ("least squares", y_term)])
    if wide.empty:
        raise InputError("shrinkage_plane: no group has least-squares estimates of both terms")
    own = wide["least squares"][[x_term, y_term]]
    mixed = wide["mixed model"][[x_term, y_term]]
    offsets = label_offsets or {}
    fig, ax = plt.subplots(figsize=(width, height))
    for group in wide.index:
        ax.annotate("", xy=tuple(mixed.loc[group]), xytext=tuple(own.loc[group]),
                    arrowprops={"arrowstyle": "->", "color": color, "lw": 1.4})
        if labelled:
            dx, dy, align = offsets.get(group, (7, 0, "left"))
            ax.annotate(f"{group} ({wide.loc[group, ('n', x_term)]:.0f})", tuple(own.loc[group]), ha=align,
                        va="center", textcoords="offset points", xytext=(dx, dy), fontsize=MIN_TICK_LABEL_SIZE)
    ax.scatter(own[x_term], own[y_term], s=18, color="0.45", label=f"{group_label}'s own least squares", zorder=3)
    ax.scatter(mixed[x_term], mixed[y_term], s=18, color=color, label="mixed model", zorder=3)
    fixed = wide["fixed effect"].iloc[0]
    ax.plot(fixed[x_term], fixed[y_term], "k+", ms=14, mew=2, label="fixed effects")
    ax.set_xlabel(x_term if xlabel is None else xlabel)
    ax.set_ylabel(y_term if ylabel is None else ylabel)
    if xlim is not None:
        ax.set_xlim(xlim)
    ax.legend(frameon=False, loc="upper right")
    fig.tight_layout()
    return fig
