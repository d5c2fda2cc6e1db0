"""The helpers of the chapter on three-level models (lmmbook.levels)."""
import numpy as np
import pandas as pd
import pytest

from lmmbook import levels


class ToyFit:
    """The two attributes that variance_reduction reads."""

    def __init__(self, covariances: dict, residual_sd: float) -> None:
        self.random_cov = {factor: pd.DataFrame(cov, index=["Intercept", "year"],
                                                columns=["Intercept", "year"])
                           for factor, cov in covariances.items()}
        self.residual_sd = residual_sd


def test_level_counts_counts_units_and_their_members():
    data = pd.DataFrame({"schoolid": [1, 1, 1, 1, 2, 2],
                         "childid": [10, 10, 11, 12, 20, 20]})
    counts = levels.level_counts(data)
    assert counts["units"].tolist() == [6, 4, 2]
    assert counts.loc["children", ["fewest", "most"]].tolist() == [1.0, 2.0]
    assert counts.loc["schools", ["fewest", "median", "most"]].tolist() == [1.0, 2.0, 3.0]


def test_variance_reduction_is_the_proportional_change_of_each_component():
    base = ToyFit({"school": [[0.2, 0.01], [0.01, 0.02]], "child": [[0.6, 0.0], [0.0, 0.01]]}, 1.0)
    extended = ToyFit({"school": [[0.1, 0.0], [0.0, 0.015]], "child": [[0.6, 0.0], [0.0, 0.012]]}, 1.0)
    table = levels.variance_reduction(base, extended)
    assert table.loc[("school", "Intercept"), "reduction"] == pytest.approx(0.5)
    assert table.loc[("school", "year"), "reduction"] == pytest.approx(0.25)
    assert table.loc[("child", "year"), "reduction"] == pytest.approx(-0.2)
    assert table.loc[("Residual", ""), "reduction"] == 0


def test_recentred_covariance_is_the_covariance_of_the_shifted_line():
    rng = np.random.default_rng(3)
    effects = rng.multivariate_normal([0, 0], [[0.6, 0.05], [0.05, 0.01]], size=200_000)
    cov = pd.DataFrame(np.cov(effects.T), index=["Intercept", "year"], columns=["Intercept", "year"])
    moved = levels.recentred_covariance(cov, "year", -2.5)
    shifted = np.column_stack([effects[:, 0] - 2.5 * effects[:, 1], effects[:, 1]])
    assert np.allclose(moved.to_numpy(), np.cov(shifted.T))
    assert moved.loc["year", "year"] == cov.loc["year", "year"]
    back = levels.recentred_covariance(moved, "year", 2.5)
    assert np.allclose(back.to_numpy(), cov.to_numpy())
