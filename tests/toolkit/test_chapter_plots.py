"""The figure functions of the chapters on few groups and on shrinkage draw what they promise.

Each test builds a table as the toolkit returns it (or a small one with known numbers),
draws it, and checks what is on the axes: the number of points and lines, that their data
are the table's values (or, for the prediction bands, lmmlib.predict's), their colours,
the labels and the key, the figure's size (a width of the text column) and that no warning
is raised; then that bad input raises an InputError naming the problem.
"""
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

import lmmlib  # noqa: E402
from lmmbook import BLUE, COLUMN_WIDTH, ORANGE, RED  # noqa: E402
from lmmlib import plots  # noqa: E402

TESTS = ["z", "Satterthwaite", "Kenward-Roger"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def two_level_fit():
    return lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")


def silently(function, *args, **kwargs):
    """Call a figure function; any warning fails the test (a chapter's stored output would change)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = function(*args, **kwargs)
        fig.canvas.draw()
    return fig


def check_fits_the_column(fig, height):
    assert tuple(fig.get_size_inches()) == pytest.approx((COLUMN_WIDTH, height))
    assert plots.FIGURE_WIDTH == COLUMN_WIDTH
    whole = fig.get_tightbbox()
    assert whole.x0 >= -1e-9 and whole.x1 <= fig.get_figwidth() + 1e-9


def check_tick_labels_legible(fig):
    sizes = [label.get_fontsize() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for label in axis.get_ticklabels(which="both") if label.get_visible() and label.get_text()]
    assert sizes and min(sizes) >= plots.MIN_TICK_LABEL_SIZE


def key_of(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


# ---------------------------------------------------------------------------- actual_sizes
@pytest.fixture(scope="module")
def size_table():
    """A table as lmmlib.simulated_size returns it: two hypotheses, three tests (a real, short run)."""
    fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(n_groups=8), "y ~ x + (1 | group)")
    return lmmlib.simulated_size(fit, ["x", "Intercept"], replicates=20, seed=3, progress=False)


def test_actual_sizes_draws_a_point_and_a_bar_per_hypothesis_and_test(size_table):
    labels = {"x": "slope\n(x)", "Intercept": "intercept"}
    fig = silently(plots.actual_sizes, size_table, labels=labels)
    (ax,) = fig.axes
    check_fits_the_column(fig, 3.2)
    check_tick_labels_legible(fig)
    # one error bar container per hypothesis and test, in the rows of labels, tests 0.2 apart
    assert len(ax.containers) == 6
    rows = size_table.set_index(["hypothesis", "test"])
    for container, (row, hypothesis, shift, test) in zip(
            ax.containers, [(r, h, s, t) for r, h in enumerate(labels) for s, t in zip((-0.2, 0, 0.2), TESTS)]):
        point, _, (bar,) = container.lines
        size, se = rows.loc[(hypothesis, test), ["size", "Monte Carlo SE"]]
        np.testing.assert_allclose(point.get_xydata(), [[size, row + shift]])
        np.testing.assert_allclose(bar.get_segments()[0], [[size - 2 * se, row + shift], [size + 2 * se, row + shift]])
        assert to_hex(point.get_color()) == {"z": RED, "Satterthwaite": ORANGE, "Kenward-Roger": BLUE}[test].lower()
    assert key_of(ax) == TESTS                                       # each test once in the key
    assert [label.get_text() for label in ax.get_yticklabels()] == list(labels.values())
    assert ax.get_ylim() == (1.5, -0.5)                               # first hypothesis at the top
    assert ax.get_xlim()[0] == 0
    (nominal,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert list(nominal.get_xdata()) == [0.05, 0.05]
    assert ax.get_xlabel() == "share of replicates rejecting a true null (nominal 0.05)"


def test_actual_sizes_takes_the_level_from_the_table_and_an_indexed_table(size_table):
    table = size_table.copy()
    table["size"] = [0.1, 0.2, 0.3, 0.12, 0.22, 0.32]
    table.attrs["alpha"] = 0.1
    fig = silently(plots.actual_sizes, table.set_index(["hypothesis", "test"]))
    (ax,) = fig.axes
    (nominal,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert list(nominal.get_xdata()) == [0.1, 0.1]
    assert ax.get_xlabel().endswith("(nominal 0.1)")
    assert [label.get_text() for label in ax.get_yticklabels()] == ["x", "Intercept"]   # the table's order
    points = [container.lines[0].get_xdata()[0] for container in ax.containers]
    assert points == pytest.approx(list(table["size"]))


def test_actual_sizes_rejects_bad_input(size_table):
    with pytest.raises(lmmlib.InputError, match="'Monte Carlo SE'"):
        plots.actual_sizes(size_table.drop(columns="Monte Carlo SE"))
    with pytest.raises(lmmlib.InputError, match="no hypothesis 'w'"):
        plots.actual_sizes(size_table, labels={"w": "w"})
    with pytest.raises(lmmlib.InputError, match="one row per hypothesis and test"):
        plots.actual_sizes(pd.concat([size_table, size_table]))
    with pytest.raises(lmmlib.InputError, match="alpha"):
        plots.actual_sizes(size_table, alpha=5)
    with pytest.raises(lmmlib.InputError, match="DataFrame"):
        plots.actual_sizes(size_table.to_dict())


# ---------------------------------------------------------------------------- power_curves
@pytest.fixture(scope="module")
def curve():
    """A table as lmmlib.power_curve returns it: 3 x 2 designs, two terms, the z-test."""
    rows = [{"groups": g, "group size": n, "term": term, "test": "z",
             "power": round(0.05 + 0.001 * g * n * (2 if term == "w" else 1), 3), "Monte Carlo SE": 0.02,
             "replicates": 200, "failed": 0}
            for g in (40, 10, 20) for n in (5, 20) for term in ("w", "x:w")]
    return pd.DataFrame(rows)


def test_power_curves_draws_a_line_per_group_size_in_a_panel_per_term(curve):
    titles = {"w": "school level", "x:w": "cross-level"}
    fig = silently(plots.power_curves, curve, titles=titles, xlabel="number of schools",
                   legend_title="students\nper school")
    check_fits_the_column(fig, 3.4)
    check_tick_labels_legible(fig)
    assert [ax.get_title() for ax in fig.axes] == ["school level", "cross-level"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["number of schools"] * 2
    assert fig.axes[0].get_ylabel() == "power of the z-test"
    assert fig.axes[0].get_ylim() == (0, 1.02) and fig.axes[1].get_ylim() == (0, 1.02)   # shared
    for ax, term in zip(fig.axes, titles):
        curves = [line for line in ax.get_lines() if line.get_linestyle() == "-"]
        assert len(curves) == 2
        for line, size, marker, shade in zip(curves, (5, 20), ("o", "s"), (0.4, 1.0)):
            rows = curve[(curve["term"] == term) & (curve["group size"] == size)].sort_values("groups")
            np.testing.assert_allclose(line.get_xydata(), rows[["groups", "power"]].to_numpy())
            assert line.get_marker() == marker and line.get_label() == str(size)
            np.testing.assert_allclose(line.get_color(), plt.cm.Blues(shade))     # darker for larger groups
        (target,) = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
        assert list(target.get_ydata()) == [0.8, 0.8]
        assert ax.get_xscale() == "log"
        assert list(ax.get_xticks()) == [10, 20, 40]
        assert [label.get_text() for label in ax.get_xticklabels()] == ["10", "20", "40"]
    assert fig.axes[0].get_legend() is None
    assert key_of(fig.axes[1]) == ["5", "20"]
    assert fig.axes[1].get_legend().get_title().get_text() == "students\nper school"


def test_power_curves_chooses_a_test_and_terms(curve):
    both = pd.concat([curve, curve.assign(test="Kenward-Roger", power=curve["power"] / 2)])
    with pytest.raises(lmmlib.InputError, match="several tests"):
        plots.power_curves(both)
    fig = silently(plots.power_curves, both, terms=["x:w"], test="Kenward-Roger", target=None)
    (ax,) = fig.axes
    assert ax.get_title() == "x:w" and ax.get_ylabel() == "power of the Kenward-Roger test"
    assert len(ax.get_lines()) == 2                                   # two curves, no target line
    rows = curve[(curve["term"] == "x:w") & (curve["group size"] == 5)].sort_values("groups")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), rows["power"] / 2)


def test_power_curves_rejects_bad_input(curve):
    with pytest.raises(lmmlib.InputError, match="'group size'"):
        plots.power_curves(curve.drop(columns="group size"))
    with pytest.raises(lmmlib.InputError, match="no term 'sector'"):
        plots.power_curves(curve, terms=["sector"])
    with pytest.raises(lmmlib.InputError, match="no test 'Satterthwaite'"):
        plots.power_curves(curve, test="Satterthwaite")
    with pytest.raises(lmmlib.InputError, match="one row per number of groups"):
        plots.power_curves(pd.concat([curve, curve]))
    with pytest.raises(lmmlib.InputError, match="empty"):
        plots.power_curves(curve.iloc[:0])


# ---------------------------------------------------------------------------- prediction_bands
def test_prediction_bands_draws_the_predictions_of_lmmlib_predict(two_level_fit):
    data = lmmlib.examples.two_level_data()
    fig = silently(plots.prediction_bands, two_level_fit, ["g03", "g07"], "x", rows_label="students",
                   ylabel="score")
    check_fits_the_column(fig, 3.8)
    check_tick_labels_legible(fig)
    assert [ax.get_title() for ax in fig.axes] == ["group g03, 8 students", "group g07, 8 students"]
    assert [ax.get_xlabel() for ax in fig.axes] == ["x", "x"] and fig.axes[0].get_ylabel() == "score"
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()               # a shared y-axis
    for ax, group in zip(fig.axes, ["g03", "g07"]):
        rows = data[data["group"] == group]
        grid = pd.DataFrame({"group": group, "x": np.linspace(rows["x"].min(), rows["x"].max(), 60)})
        own = lmmlib.predict(two_level_fit, grid, effects="conditional", interval="confidence")
        population = lmmlib.predict(two_level_fit, grid, effects="marginal", interval="confidence")
        scatter, population_band, own_band = ax.collections
        np.testing.assert_allclose(scatter.get_offsets(), rows[["x", "y"]].to_numpy())
        for band, table in ((population_band, population), (own_band, own)):
            outline = band.get_paths()[0].vertices
            np.testing.assert_allclose(outline[:, 0].min(), grid["x"].min())
            np.testing.assert_allclose(outline[:, 0].max(), grid["x"].max())
            np.testing.assert_allclose([outline[:, 1].min(), outline[:, 1].max()],
                                       [table["lower"].min(), table["upper"].max()])
        population_line, own_line, ls_line = ax.get_lines()
        np.testing.assert_allclose(population_line.get_xydata(), np.column_stack([grid["x"], population["prediction"]]))
        np.testing.assert_allclose(own_line.get_xydata(), np.column_stack([grid["x"], own["prediction"]]))
        slope, intercept = np.polyfit(rows["x"], rows["y"], 1)
        np.testing.assert_allclose(ls_line.get_ydata(), intercept + slope * grid["x"])
        assert ls_line.get_linestyle() == "--" and to_hex(own_line.get_color()) == BLUE.lower()
        assert to_hex(population_line.get_color()) == "#000000"
    assert key_of(fig.axes[0]) == ["population average", "group, mixed model", "group, own least squares"]
    assert fig.axes[1].get_legend() is None


def test_prediction_bands_on_a_given_grid_with_prediction_intervals(two_level_fit):
    grid = [-1.0, 0.0, 1.0]
    fig = silently(plots.prediction_bands, two_level_fit, "g01", "x", grid=grid, interval="prediction",
                   level=0.8, least_squares=False, group_label="class")
    (ax,) = fig.axes
    assert ax.get_title() == "class g01, 8 rows" and ax.get_ylabel() == "y"
    assert len(ax.get_lines()) == 2                                     # no least-squares line
    rows = pd.DataFrame({"group": "g01", "x": grid})
    own = lmmlib.predict(two_level_fit, rows, effects="conditional", interval="prediction", level=0.8)
    band = ax.collections[2].get_paths()[0].vertices
    np.testing.assert_allclose([band[:, 1].min(), band[:, 1].max()], [own["lower"].min(), own["upper"].max()])


def test_prediction_bands_take_a_group_level_predictor_from_the_group():
    data = lmmlib.examples.two_level_data()
    data["w"] = (data["group"] > "g15").astype(float)
    fit = lmmlib.fit_mixed(data, "y ~ x + w + (1 | group)")
    fig = silently(plots.prediction_bands, fit, ["g02", "g20"], "x")
    for ax, w in zip(fig.axes, (0.0, 1.0)):
        population = ax.get_lines()[0]
        xs = population.get_xdata()
        expected = fit.fixed.loc["Intercept", "estimate"] + fit.fixed.loc["x", "estimate"] * xs \
            + fit.fixed.loc["w", "estimate"] * w
        np.testing.assert_allclose(population.get_ydata(), expected)


def test_prediction_bands_reject_bad_input(two_level_fit):
    with pytest.raises(lmmlib.InputError, match="needs a fit"):
        plots.prediction_bands(lmmlib.examples.two_level_data(), ["g01"], "x")
    with pytest.raises(lmmlib.InputError, match="no column 'z'"):
        plots.prediction_bands(two_level_fit, ["g01"], "z")
    with pytest.raises(lmmlib.InputError, match="no group 'g99'"):
        plots.prediction_bands(two_level_fit, ["g01", "g99"], "x")
    with pytest.raises(lmmlib.InputError, match="at least one group"):
        plots.prediction_bands(two_level_fit, [], "x")
    with pytest.raises(lmmlib.InputError, match="interval must be"):
        plots.prediction_bands(two_level_fit, ["g01"], "x", interval="credible")
    with pytest.raises(lmmlib.InputError, match="grid"):
        plots.prediction_bands(two_level_fit, ["g01"], "x", grid=[1.0])
    data = lmmlib.examples.two_level_data()
    data["v"] = np.arange(len(data), dtype=float)
    varying = lmmlib.fit_mixed(data, "y ~ x + v + (1 | group)")
    with pytest.raises(lmmlib.InputError, match="constant within each group"):
        plots.prediction_bands(varying, ["g01"], "x")


# ---------------------------------------------------------------------------- shrinkage_plane
@pytest.fixture(scope="module")
def shrinkage_table(two_level_fit):
    return lmmlib.shrinkage(two_level_fit)


def test_shrinkage_plane_draws_an_arrow_from_each_groups_least_squares_to_its_mixed_model_pair(shrinkage_table):
    fig = silently(plots.shrinkage_plane, shrinkage_table, "Intercept", "x", group_label="school",
                   xlabel="intercept", ylabel="slope", label_offsets={"g05": (-8, -6, "right")}, xlim=(0, 20))
    (ax,) = fig.axes
    check_fits_the_column(fig, 4.4)
    check_tick_labels_legible(fig)
    wide = shrinkage_table.pivot(index="group", columns="term")
    own = wide["least squares"][["Intercept", "x"]].to_numpy()
    mixed = wide["mixed model"][["Intercept", "x"]].to_numpy()
    arrows = [text for text in ax.texts if text.get_text() == ""]
    assert len(arrows) == len(wide) == 30
    np.testing.assert_allclose([arrow.xyann for arrow in arrows], own)         # from least squares ...
    np.testing.assert_allclose([arrow.xy for arrow in arrows], mixed)          # ... to the mixed model
    assert all(isinstance(arrow.arrow_patch, FancyArrowPatch) for arrow in arrows)
    labels = {text.get_text(): text for text in ax.texts if text.get_text()}
    assert sorted(labels) == sorted(f"{group} (8)" for group in wide.index)
    assert labels["g05 (8)"].get_position() == (-8, -6) and labels["g05 (8)"].get_ha() == "right"
    assert labels["g01 (8)"].get_position() == (7, 0) and labels["g01 (8)"].get_ha() == "left"
    np.testing.assert_allclose(labels["g01 (8)"].xy, own[0])
    grey, blue = ax.collections
    np.testing.assert_allclose(grey.get_offsets(), own)
    np.testing.assert_allclose(blue.get_offsets(), mixed)
    assert to_hex(blue.get_facecolor()[0], keep_alpha=False) == BLUE.lower()
    (cross,) = ax.get_lines()
    fixed = shrinkage_table.groupby("term")["fixed effect"].first()
    np.testing.assert_allclose(cross.get_xydata(), [[fixed["Intercept"], fixed["x"]]])
    assert cross.get_marker() == "+"
    assert key_of(ax) == ["school's own least squares", "mixed model", "fixed effects"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_xlim()) == ("intercept", "slope", (0, 20))


def test_shrinkage_plane_leaves_out_groups_without_least_squares_and_unlabelled(shrinkage_table):
    table = shrinkage_table.copy()
    table.loc[table["group"] == "g02", "least squares"] = np.nan
    fig = silently(plots.shrinkage_plane, table, "x", "Intercept", labelled=False)
    (ax,) = fig.axes
    assert len(ax.texts) == 29 and all(text.get_text() == "" for text in ax.texts)
    assert len(ax.collections[0].get_offsets()) == 29
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "Intercept")
    assert key_of(ax)[0] == "group's own least squares"


def test_shrinkage_plane_rejects_bad_input(shrinkage_table):
    with pytest.raises(lmmlib.InputError, match="'fixed effect'"):
        plots.shrinkage_plane(shrinkage_table.drop(columns="fixed effect"), "Intercept", "x")
    with pytest.raises(lmmlib.InputError, match="no term 'cses'"):
        plots.shrinkage_plane(shrinkage_table, "Intercept", "cses")
    with pytest.raises(lmmlib.InputError, match="two different terms"):
        plots.shrinkage_plane(shrinkage_table, "x", "x")
    with pytest.raises(lmmlib.InputError, match="one row per group and term"):
        plots.shrinkage_plane(pd.concat([shrinkage_table, shrinkage_table]), "Intercept", "x")
    with pytest.raises(lmmlib.InputError, match="no group has least-squares"):
        plots.shrinkage_plane(shrinkage_table.assign(**{"least squares": np.nan}), "Intercept", "x")
