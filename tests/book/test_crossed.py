"""The helpers of the chapter on cross-classified models (lmmbook.crossed)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import lmmlib  # noqa: E402
from lmmbook import crossed  # noqa: E402


@pytest.fixture(scope="module")
def experiment() -> pd.DataFrame:
    return crossed.simulate_subjects_items(12, 8, effect=1.5, item_sd=0.5, seed=4)


def test_the_simulated_design_is_a_complete_crossing(experiment):
    counts = crossed.membership_counts(experiment, "subject", "item")
    assert counts.shape == (12, 8) and (counts.to_numpy() == 1).all()
    per_item = experiment.groupby("item")["condition"].nunique()
    assert (per_item == 1).all() and experiment["condition"].value_counts().tolist() == [48, 48]


def test_spread_counts_levels_and_the_main_one():
    data = pd.DataFrame({"p": [1, 1, 1, 2, 2, 3], "s": ["x", "y", "y", "x", "x", "z"]})
    table = crossed.spread(data, "p", "s")
    assert table["levels"].tolist() == [2, 1, 1] and table["main"].tolist() == ["y", "x", "z"]
    assert table["n"].tolist() == [3, 2, 1]


def test_variance_table_lines_up_one_and_several_factor_fits(experiment):
    both = lmmlib.fit_mixed(experiment, "y ~ condition + (1 | subject) + (1 | item)", crossed=True)
    one = lmmlib.fit_mixed(experiment, "y ~ condition + (1 | subject)")
    table = crossed.variance_table({"both": both, "subjects": one})
    assert list(table.columns) == ["subject", "item", "Residual", "total"]
    assert table.loc["subjects", "item"] == 0.0
    assert table.loc["both", "subject"] == pytest.approx(float(both.random_cov["subject"].iloc[0, 0]))
    assert table.loc["subjects", "Residual"] == pytest.approx(one.residual_sd ** 2)
    assert np.allclose(table["total"], table.drop(columns="total").sum(axis=1))
    se = crossed.coefficient_table({"both": both, "subjects": one})
    # the item-level condition is estimated less precisely once the items' variance is in the model
    assert se.loc["condition[T.B]", "both"] > se.loc["condition[T.B]", "subjects"]


def test_the_plots_draw_one_panel_per_factor_or_fit(experiment):
    both = lmmlib.fit_mixed(experiment, "y ~ condition + (1 | subject) + (1 | item)", crossed=True)
    one = lmmlib.fit_mixed(experiment, "y ~ condition + (1 | subject)")
    assert len(crossed.plot_modes(both).axes) == 2
    shift = crossed.plot_variance_shift(crossed.variance_table({"both": both, "subjects": one}), "both")
    assert len(shift.axes) == 1
    heat = crossed.plot_membership(experiment, "item", "subject")
    assert len(heat.axes) == 2                     # the map and its colour bar
