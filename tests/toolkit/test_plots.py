"""The figure functions draw what they promise, legibly and silently, and reject bad input.

The figures of the chapters are checked with the chapters' own calls: what each panel
holds (the data, the least-squares line against numpy.polyfit, the smooth against
statsmodels' lowess at the book's span), the panel titles, the shared axes, the key,
the figure size and number of Axes (nbval compares ``<Figure size WxH with N Axes>``
as text), a width no larger than the book's text column, tick labels of at least 10
points, no per-group labels when the groups are too many to name legibly, and that no
warning is raised.
"""
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402
from statsmodels.nonparametric.smoothers_lowess import lowess  # noqa: E402

import lmmlib  # noqa: E402
from lmmbook import COLUMN_WIDTH, SECTOR_COLORS, SECTOR_NAMES, setup_notebook  # noqa: E402
from lmmlib import plots  # noqa: E402

KEY = ["least-squares line", "nonparametric smooth (lowess)"]
TERMS = ["Intercept", "cses"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def school_fits(hsb):
    return lmmlib.ols_by_group(hsb, "mathach ~ cses", "school", keep=["sector", "meanses"])


@pytest.fixture(scope="module")
def catholic_sample(hsb):
    """The chapter's random sample of 20 Catholic schools (exploring_hsb.ipynb)."""
    schools = hsb.groupby("school")["sector"].first()
    rng = np.random.default_rng(1982)
    return list(rng.choice(np.sort(schools.index[schools == 1].to_numpy()), size=20, replace=False))


@pytest.fixture(params=["matplotlib defaults", "setup_notebook"])
def style(request):
    """Draw under matplotlib's own defaults (10-point text) and under the chapters' settings."""
    restore_pandas = [item for name in ("display.precision", "display.max_columns", "display.max_colwidth")
                      for item in (name, pd.get_option(name))]
    with mpl.rc_context(), pd.option_context(*restore_pandas):
        mpl.rcdefaults()
        if request.param == "setup_notebook":
            setup_notebook()
        yield request.param


def silently(function, *args, **kwargs):
    """Call a figure function; any warning (a deprecation, say) fails the test, since a
    chapter's stored output would change."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = function(*args, **kwargs)
        fig.canvas.draw()
    return fig


def check_fits_the_column(fig):
    """At most the text column's width (lmmbook.COLUMN_WIDTH), and nothing drawn outside it."""
    assert fig.get_figwidth() <= COLUMN_WIDTH + 1e-9
    assert plots.FIGURE_WIDTH == COLUMN_WIDTH
    whole = fig.get_tightbbox()
    assert whole.x0 >= -1e-9 and whole.x1 <= fig.get_figwidth() + 1e-9


def rows_of(points) -> list[tuple[float, float]]:
    return sorted(map(tuple, np.round(np.asarray(points, dtype=float), 10)))


def check_scatter_panel(ax, x, y, color):
    """One scatter of (x, y); a broken least-squares line over the range of x; a solid smooth."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    (scatter,) = ax.collections
    assert rows_of(scatter.get_offsets()) == rows_of(np.column_stack([x, y]))
    assert to_hex(scatter.get_facecolor()[0], keep_alpha=False) == to_hex(color)
    ls_line, smooth = ax.get_lines()
    assert ls_line.get_linestyle() == "--" and smooth.get_linestyle() == "-"
    assert to_hex(ls_line.get_color()) == to_hex(smooth.get_color()) == to_hex(color)
    slope, intercept = np.polyfit(x, y, 1)
    line_x, line_y = np.asarray(ls_line.get_xdata()), np.asarray(ls_line.get_ydata())
    np.testing.assert_allclose(line_x[[0, -1]], [x.min(), x.max()])
    np.testing.assert_allclose(line_y[[0, -1]], intercept + slope * line_x[[0, -1]], rtol=1e-10)
    expected = lowess(y, x, frac=plots.SMOOTH_SPAN)
    np.testing.assert_allclose(smooth.get_xdata(), expected[:, 0])
    np.testing.assert_allclose(smooth.get_ydata(), expected[:, 1], rtol=1e-10)
    # seaborn's own lowess (statsmodels' default span, 2/3) would not pass the line above
    assert not np.allclose(lowess(y, x)[:, 1], expected[:, 1])


def check_key_above_panels(fig, title=None):
    (key,) = fig.legends
    assert [text.get_text() for text in key.get_texts()] == KEY
    assert [handle.get_linestyle() for handle in key.legend_handles] == ["--", "-"]
    key_box = key.get_window_extent()
    assert key_box.y0 >= max(ax.get_tightbbox().y1 for ax in fig.axes) - 0.5
    if title is not None:
        assert fig.get_suptitle() == title
        assert fig._suptitle.get_window_extent().y0 >= key_box.y1 - 0.5
    whole = fig.get_tightbbox()                        # in inches: nothing drawn outside the figure
    assert whole.x0 >= 0 and whole.y0 >= 0
    assert whole.x1 <= fig.get_figwidth() + 1e-9 and whole.y1 <= fig.get_figheight() + 1e-9


def check_tick_labels_legible(fig):
    sizes = [label.get_fontsize() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for label in axis.get_ticklabels(which="both") if label.get_visible() and label.get_text()]
    assert sizes and min(sizes) >= 10


@pytest.mark.slow
def test_trellis_draws_the_chapter_sample(hsb, catholic_sample, style):
    color = SECTOR_COLORS[1]
    title = "Catholic schools: 20 chosen at random"
    fig = silently(plots.trellis, hsb, "cses", "mathach", "school", groups=catholic_sample,
                   color=color, title=title)
    assert len(fig.axes) == 20
    # four panels a row at the column's width, five rows, room for the title and the key
    assert tuple(fig.get_size_inches()) == pytest.approx((6.5, 5 * 0.85 * 6.5 / 4 + 1.2))
    check_fits_the_column(fig)
    titles = [ax.title for ax in fig.axes]
    assert min(t.get_fontsize() for t in titles) >= 10
    boxes = [t.get_window_extent() for t in titles]     # panel titles do not run into each other
    assert all(not a.overlaps(b) for k, a in enumerate(boxes) for b in boxes[k + 1:])
    assert [ax.get_title() for ax in fig.axes] == [str(school) for school in catholic_sample]
    for ax, school in zip(fig.axes, catholic_sample):
        rows = hsb[hsb["school"] == school]
        check_scatter_panel(ax, rows["cses"], rows["mathach"], color)
    sample = hsb[hsb["school"].isin(catholic_sample)]
    for limits, column in ((ax.get_xlim() for ax in fig.axes), "cses"), ((ax.get_ylim() for ax in fig.axes), "mathach"):
        (shared,) = set(limits)                        # every panel has the same limits ...
        assert shared[0] <= sample[column].min() and sample[column].max() <= shared[1]   # ... covering all data
    assert fig._supxlabel.get_text() == "cses" and fig._supylabel.get_text() == "mathach"
    check_key_above_panels(fig, title)
    check_tick_labels_legible(fig)


def test_trellis_with_an_incomplete_last_row(hsb):
    fig = silently(plots.trellis, hsb, "cses", "mathach", "school", groups=[1224, 1288, 1296], ncols=2)
    assert [ax.get_title() for ax in fig.axes] == ["1224", "1288", "1296"]
    assert tuple(fig.get_size_inches()) == pytest.approx((6.5, 2 * 0.85 * 6.5 / 2 + 0.9))
    rows = hsb[hsb["school"] == 1296]
    check_scatter_panel(fig.axes[2], rows["cses"], rows["mathach"], "black")
    top_right = fig.axes[1]                            # nothing below it: it shows its own x values
    assert all(label.get_visible() for label in top_right.get_xticklabels())
    check_key_above_panels(fig)


def test_trellis_rejects_unknown_groups(hsb):
    with pytest.raises(lmmlib.InputError, match="do not occur"):
        plots.trellis(hsb, "cses", "mathach", "school", groups=[1])


def test_coefficients_against_school_mean_ses(school_fits, style):
    title = "Within-school coefficients against school mean SES (160 schools)"
    labels = {"Intercept": "intercept estimate", "cses": "slope estimate (cses)"}
    fig = silently(plots.coefficients_against, school_fits, "meanses", TERMS, xlabel="school mean SES",
                   term_labels=labels, title=title)
    assert len(fig.axes) == 2
    assert tuple(fig.get_size_inches()) == pytest.approx((6.5, 0.95 * 3.25 + 0.8))
    check_fits_the_column(fig)
    assert [ax.get_ylabel() for ax in fig.axes] == [labels[term] for term in TERMS]
    assert [ax.get_xlabel() for ax in fig.axes] == ["school mean SES"] * 2
    assert [ax.get_title() for ax in fig.axes] == ["", ""]
    for ax, term in zip(fig.axes, TERMS):
        rows = school_fits[school_fits["term"] == term]
        check_scatter_panel(ax, rows["meanses"], rows["estimate"], "black")
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()
    check_key_above_panels(fig, title)
    check_tick_labels_legible(fig)
    default = plots.coefficients_against(school_fits, "meanses", TERMS)
    assert [ax.get_ylabel() for ax in default.axes] == ["Intercept estimate", "cses estimate"]


@pytest.mark.parametrize("term, reference", [("Intercept", None), ("cses", 0.0)])
def test_coefficient_intervals_of_160_schools_by_sector(school_fits, style, term, reference):
    label = {"Intercept": "intercept (school mean of mathach)", "cses": "slope of cses"}[term]
    limits = plots.shared_limits(school_fits, [term])[term]
    fig = silently(plots.coefficient_intervals, school_fits, "school", term, by="sector", labels=SECTOR_NAMES,
                   colors=SECTOR_COLORS, xlabel=label, ylabel="schools, ordered by estimate", xlim=limits,
                   reference=reference)
    assert len(fig.axes) == 2
    check_fits_the_column(fig)
    assert fig.get_figwidth() == pytest.approx(COLUMN_WIDTH)
    assert fig.get_figheight() <= 9
    assert [ax.get_title() for ax in fig.axes] == ["Public (90)", "Catholic (70)"]
    assert [ax.get_xlabel() for ax in fig.axes] == [label, label]
    assert fig.axes[0].get_ylabel() == "schools, ordered by estimate"
    np.testing.assert_allclose([ax.get_xlim() for ax in fig.axes], [limits, limits])   # a common x-axis
    for ax, sector in zip(fig.axes, (0, 1)):
        rows = school_fits[(school_fits["term"] == term) & (school_fits["sector"] == sector)]
        rows = rows.sort_values("estimate")
        position = np.arange(len(rows))
        (intervals,) = [c for c in ax.collections if hasattr(c, "get_segments")]
        expected = [((lo, k), (hi, k)) for lo, hi, k in zip(rows["lower"], rows["upper"], position)]
        assert rows_of(np.reshape(intervals.get_segments(), (-1, 4))) == rows_of(np.reshape(expected, (-1, 4)))
        (points,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
        np.testing.assert_allclose(points.get_xydata(), np.column_stack([rows["estimate"], position]))
        assert np.all(np.diff(points.get_xdata()) >= 0)     # ordered by estimate, lowest at the bottom
        assert to_hex(points.get_color()) == to_hex(SECTOR_COLORS[sector])
        # 90 or 70 schools: no school is named (its id could not be legible), no tick at all
        assert list(ax.get_yticks()) == [] and not [t for t in ax.get_yticklabels() if t.get_text()]
        references = [line for line in ax.get_lines() if line.get_marker() != "o"]
        assert [list(line.get_xdata()) for line in references] == ([] if reference is None else [[0, 0]])
        # rows far enough apart to tell the intervals apart: at least 4 pixels at the book's 110 dpi
        pitch = ax.get_position().height * fig.get_figheight() / (len(rows) + 1)
        assert pitch * 110 >= 4
    check_tick_labels_legible(fig)


def test_coefficient_intervals_name_every_group_when_there_is_room(school_fits, style):
    few = school_fits[school_fits["school"].isin([1224, 1288, 1296, 1308, 1317])]
    fig = silently(plots.coefficient_intervals, few, "school", "Intercept")
    assert len(fig.axes) == 1 and fig.get_figwidth() <= COLUMN_WIDTH
    order = list(few[few["term"] == "Intercept"].sort_values("estimate")["school"])
    assert [label.get_text() for label in fig.axes[0].get_yticklabels()] == [str(s) for s in order]
    assert fig.axes[0].get_ylabel() == "school, ordered by estimate"
    boxes = sorted((label.get_window_extent() for label in fig.axes[0].get_yticklabels()), key=lambda b: b.y0)
    assert all(lower.y1 <= upper.y0 for lower, upper in zip(boxes, boxes[1:]))   # labels do not overlap
    check_tick_labels_legible(fig)


def test_coefficient_intervals_stop_naming_groups_beyond_the_limit(school_fits):
    public = school_fits[school_fits["sector"] == 0]
    some = public[public["school"].isin(sorted(public["school"].unique())[:plots.MAX_LABELLED_GROUPS + 1])]
    named = silently(plots.coefficient_intervals, some, "school", "cses", max_labelled=plots.MAX_LABELLED_GROUPS + 1)
    unnamed = silently(plots.coefficient_intervals, some, "school", "cses")
    assert len(named.axes[0].get_yticklabels()) == plots.MAX_LABELLED_GROUPS + 1
    assert list(unnamed.axes[0].get_yticks()) == []


def test_coefficient_boxplots_by_sector(school_fits, style):
    fig = silently(plots.coefficient_boxplots, school_fits, "sector", TERMS, labels=SECTOR_NAMES,
                   colors=SECTOR_COLORS, term_labels={"Intercept": "intercepts", "cses": "slopes of cses"},
                   title="Within-school least-squares coefficients by sector")
    assert len(fig.axes) == 2
    assert tuple(fig.get_size_inches()) == pytest.approx((6.5, 3.25))
    check_fits_the_column(fig)
    assert [ax.get_title() for ax in fig.axes] == ["intercepts", "slopes of cses"]
    for ax, term in zip(fig.axes, TERMS):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["Public", "Catholic"]
        medians = [line for line in ax.get_lines() if to_hex(line.get_color()) == "#000000"
                   and line.get_linewidth() == 1.5]
        rows = school_fits[school_fits["term"] == term]
        assert [m.get_ydata()[0] for m in medians] == pytest.approx(
            [rows.loc[rows["sector"] == s, "estimate"].median() for s in (0, 1)])
        assert [to_rgb(patch.get_facecolor()) for patch in ax.patches] == [
            to_rgb(SECTOR_COLORS[s]) for s in (0, 1)]
    check_tick_labels_legible(fig)


@pytest.mark.parametrize("function, args", [
    (plots.coefficient_intervals, ("school", "ses")),
    (plots.coefficient_boxplots, ("sector", ["Intercept", "ses"])),
    (plots.coefficients_against, ("meanses", ["Intercept", "ses"])),
])
def test_unknown_terms_are_rejected(school_fits, function, args):
    with pytest.raises(lmmlib.InputError, match="no term 'ses'"):
        function(school_fits, *args)


def test_importing_the_module_does_not_import_seaborn_or_pyplot():
    code = ("import sys, lmmlib.plots; "
            "print([m for m in ('seaborn', 'matplotlib.pyplot') if m in sys.modules])")
    root = Path(plots.__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert result.stdout.strip() == "[]"


def test_the_profile_plot_has_a_panel_per_parameter_at_the_column_width():
    table = pd.DataFrame({"parameter": np.repeat(["sd(a)", "cor(a,b)", "sigma", "b"], 5),
                          "value": np.tile(np.linspace(0.5, 1.5, 5), 4),
                          "zeta": np.tile(np.linspace(-2.5, 2.4, 5), 4), "wald": np.tile(np.linspace(-2, 2, 5), 4)})
    fig = plots.likelihood_profile(table)
    assert [ax.get_title() for ax in fig.axes] == ["sd(a)", "cor(a,b)", "sigma", "b"]
    assert fig.get_figwidth() == pytest.approx(plots.FIGURE_WIDTH)
    with pytest.raises(lmmlib.InputError, match="zeta"):
        plots.likelihood_profile(table.drop(columns="zeta"))


def test_normal_qq_plots_one_panel_per_column_and_refuses_too_few_values():
    rng = np.random.default_rng(0)
    fig = plots.normal_qq(pd.DataFrame({"residual": rng.normal(size=200), "mode": rng.normal(size=200)}))
    assert [ax.get_title() for ax in fig.axes] == ["residual", "mode"]
    assert fig.get_figwidth() == pytest.approx(plots.FIGURE_WIDTH)
    points = fig.axes[0].get_lines()[0].get_ydata()
    assert len(points) == 200 and np.all(np.diff(np.sort(points)) >= 0)
    with pytest.raises(lmmlib.InputError, match="at least 3 values"):
        plots.normal_qq(pd.Series([1.0, 2.0], name="short"))
