"""plots.residual_plots draws the residuals it promises against the x it names, legibly and
silently, and rejects bad input with a message that says what to do.

Checked on the chapter's own call (the coefficients-as-outcomes model of High School and
Beyond, 7185 students): one panel per x, their labels, the points (exactly the residuals of
lmmlib.residuals against the fitted values or the column), the smooth (statsmodels' lowess at
the book's span, and its ``delta`` shortcut close to the full smooth), the zero line, boxes
for an indicator, the size of the figure, and that no warning is raised.
"""
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib as mpl  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from statsmodels.nonparametric.smoothers_lowess import lowess  # noqa: E402

import lmmlib  # noqa: E402
from lmmbook import COLUMN_WIDTH, setup_notebook  # noqa: E402
from lmmbook.lecture_tables import HSB_COEFFICIENTS_AS_OUTCOMES  # noqa: E402
from lmmlib import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def hsb_fit(hsb):
    fixed, random = HSB_COEFFICIENTS_AS_OUTCOMES
    return lmmlib.fit_mixed(hsb, f"{fixed} + ({random} | school)")


@pytest.fixture(scope="module")
def small_fit():
    return lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)")


@pytest.fixture(params=["matplotlib defaults", "setup_notebook"])
def style(request):
    """Draw under matplotlib's own defaults and under the chapters' settings."""
    with mpl.rc_context(), pd.option_context("display.precision", pd.get_option("display.precision")):
        mpl.rcdefaults()
        if request.param == "setup_notebook":
            setup_notebook()
        yield request.param


def silently(*args, **kwargs):
    """Any warning fails the test: a chapter's stored output would change."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.residual_plots(*args, **kwargs)
        fig.canvas.draw()
    return fig


def rows_of(x, y) -> list[tuple[float, float]]:
    return sorted(map(tuple, np.round(np.column_stack([np.asarray(x, float), np.asarray(y, float)]), 10)))


def check_scatter(ax, x, y):
    """The points are (x, y), the solid smooth is the book's lowess of y on x, a line at zero."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    (points,) = ax.collections
    assert rows_of(*points.get_offsets().T) == rows_of(x, y)
    zero, smooth = ax.get_lines()
    assert set(zero.get_ydata()) == {0}
    # the full smooth for few points; local fits 1% of the range apart for many
    delta = 0.01 * np.ptp(x) if len(x) > plots.EXACT_SMOOTH_POINTS else 0.0
    expected = lowess(y, x, frac=plots.SMOOTH_SPAN, delta=delta)
    np.testing.assert_allclose(smooth.get_xdata(), expected[:, 0])
    np.testing.assert_allclose(smooth.get_ydata(), expected[:, 1], rtol=1e-10)
    return smooth


def check_layout(fig):
    width, height = fig.get_size_inches()
    assert width <= COLUMN_WIDTH + 1e-9 and height <= width
    whole = fig.get_tightbbox()                    # nothing drawn outside the figure
    assert whole.x0 >= -1e-9 and whole.y0 >= -1e-9
    assert whole.x1 <= width + 1e-9 and whole.y1 <= height + 1e-9
    sizes = [label.get_fontsize() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for label in axis.get_ticklabels() if label.get_visible() and label.get_text()]
    assert sizes and min(sizes) >= plots.MIN_TICK_LABEL_SIZE


def test_the_chapter_figure_shows_the_residuals_against_fitted_values_and_predictors(hsb_fit, style):
    fig = silently(hsb_fit, against=["cses", "meanses", "sector"])
    assert len(fig.axes) == 4                      # 2 x 2: fitted values, cses, meanses, sector
    assert [ax.get_xlabel() for ax in fig.axes] == ["fitted value", "cses", "meanses", "sector"]
    assert fig.get_supylabel() == "standardized conditional residual"      # fits beside two rows
    assert fig.get_figwidth() == pytest.approx(plots.FIGURE_WIDTH)
    check_layout(fig)
    residuals = lmmlib.residuals(hsb_fit, "conditional", "standardized")
    assert len(residuals) == 7185
    data = hsb_fit.model.design.frame
    smooth = check_scatter(fig.axes[0], hsb_fit.fitted, residuals)
    for ax, column in zip(fig.axes[1:3], ["cses", "meanses"]):
        check_scatter(ax, data[column], residuals)
    # delta (local fits 1% of the range apart) keeps the smooth of the full lowess
    full = lowess(residuals.to_numpy(), hsb_fit.fitted.to_numpy(), frac=plots.SMOOTH_SPAN)
    assert np.abs(smooth.get_ydata() - full[:, 1]).max() < 0.01
    # all panels share the y-axis, which covers every residual
    (limits,) = {ax.get_ylim() for ax in fig.axes}
    assert limits[0] <= residuals.min() and residuals.max() <= limits[1]


def test_an_indicator_gets_a_box_per_value(hsb_fit):
    fig = silently(hsb_fit, against="sector", fitted=False)
    (ax,) = fig.axes
    assert not ax.collections                      # no scatter
    assert [label.get_text() for label in ax.get_xticklabels()] == ["0", "1"]
    residuals = lmmlib.residuals(hsb_fit, "conditional", "standardized")
    sector = hsb_fit.model.design.frame["sector"]
    medians = [line for line in ax.get_lines() if line.get_color() == "black" and len(line.get_ydata()) == 2
               and line.get_ydata()[0] == line.get_ydata()[1] and line.get_linewidth() == 1.5]
    np.testing.assert_allclose([line.get_ydata()[0] for line in medians],
                               residuals.groupby(sector).median().to_numpy())


def test_raw_residuals_of_both_kinds(small_fit):
    fig = silently(small_fit, against="x", kind="conditional", scale="raw")
    assert fig.get_supylabel() == "conditional residual"
    check_scatter(fig.axes[0], small_fit.fitted, small_fit.residuals)
    fig = silently(small_fit, kind="marginal", scale="raw")
    assert fig.get_supylabel() == "marginal residual"
    assert fig.axes[0].get_xlabel() == "fitted value, fixed part"
    design = small_fit.model.design
    fixed_part = design.x @ small_fit.fixed["estimate"].to_numpy()
    check_scatter(fig.axes[0], fixed_part, design.y - fixed_part)


def test_a_column_the_model_leaves_out_and_its_missing_values(small_fit):
    data = lmmlib.examples.two_level_data()
    data["w"] = np.where(np.arange(len(data)) % 4 == 0, np.nan, np.linspace(0, 1, len(data)))
    fit = lmmlib.fit_mixed(data, "y ~ x + (1 | group)")
    fig = silently(fit, against="w", fitted=False)
    present = data["w"].notna()
    check_scatter(fig.axes[0], data.loc[present, "w"], lmmlib.residuals(fit, scale="standardized")[present])


def test_many_labels_are_not_written(small_fit):
    fig = silently(small_fit, against="group", fitted=False)
    (ax,) = fig.axes
    assert ax.get_xticklabels() == [] or not any(label.get_text() for label in ax.get_xticklabels())
    assert len([p for p in ax.patches]) == 30      # a box per group
    assert ax.get_xlabel() == "group (30 values)"


def test_the_panels_wrap_as_asked(small_fit):
    fig = silently(small_fit, against=["x", "x"], ncols=1)
    assert len(fig.axes) == 3 and fig.get_figheight() <= fig.get_figwidth()
    assert len({round(ax.get_position().x0, 6) for ax in fig.axes}) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"against": "z"}, "no column 'z' in the data of the fit; its columns are 'y', 'x', 'group'"),
    ({"against": ["x", "cses"]}, "no column 'cses'"),
    ({"kind": "marginal", "scale": "standardized"}, "use scale='raw'"),
    ({"kind": "pearson"}, "kind must be one of conditional, marginal"),
    ({"fitted": False}, "nothing to draw"),
    ({"against": "x", "ncols": 3}, "ncols must lie between 1 and the number of panels (2)"),
])
def test_bad_input_says_what_is_wrong(small_fit, kwargs, message):
    with pytest.raises(lmmlib.InputError, match="^.*" + message.replace("(", r"\(").replace(")", r"\)")):
        plots.residual_plots(small_fit, **kwargs)


def test_only_a_fit_is_accepted():
    with pytest.raises(lmmlib.InputError, match="needs a fit from lmmlib.fit_mixed, not DataFrame"):
        plots.residual_plots(lmmlib.examples.two_level_data())


def test_the_label_of_one_low_row_is_broken_in_two(hsb_fit, style):
    fig = silently(hsb_fit, against=["cses", "meanses", "sector"], fitted=False)
    assert len(fig.axes) == 3 and len({round(ax.get_position().y0, 6) for ax in fig.axes}) == 1
    assert fig.get_supylabel() == "standardized\nconditional residual"
    check_layout(fig)
    label = fig._supylabel.get_window_extent()        # no taller than the panels beside it
    assert label.height <= max(ax.get_window_extent().height for ax in fig.axes)
