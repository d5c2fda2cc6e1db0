"""The figure functions draw what they promise and reject bad input."""
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

import lmmlib  # noqa: E402
from lmmlib import plots  # noqa: E402


@pytest.fixture(scope="module")
def school_fits(hsb):
    return lmmlib.ols_by_group(hsb, "mathach ~ cses", "school", keep=["sector", "meanses"])


def test_trellis_has_one_titled_panel_per_group_with_two_lines(hsb):
    fig = plots.trellis(hsb, "cses", "mathach", "school", groups=[1224, 1288, 1296], ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["1224", "1288", "1296"]
    styles = [line.get_linestyle() for line in visible[0].get_lines()]
    assert styles == ["--", "-"]


def test_trellis_rejects_unknown_groups(hsb):
    with pytest.raises(lmmlib.InputError, match="do not occur"):
        plots.trellis(hsb, "cses", "mathach", "school", groups=[1])


def test_interval_boxplot_and_scatter_figures(school_fits):
    catholic = school_fits[school_fits.sector == 1]
    fig = plots.coefficient_intervals(catholic, "school", ["Intercept", "cses"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["Intercept", "cses"]
    assert len(fig.axes[0].get_yticks()) == 70
    fig = plots.coefficient_boxplots(school_fits, "sector", ["Intercept", "cses"], labels=plots.SECTOR_NAMES)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["Public", "Catholic"]
    fig = plots.coefficients_against(school_fits, "meanses", ["Intercept", "cses"])
    assert fig.axes[1].get_ylabel() == "cses estimate"
    with pytest.raises(lmmlib.InputError, match="no term 'ses'"):
        plots.coefficient_intervals(catholic, "school", ["ses"])
