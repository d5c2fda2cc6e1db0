"""Parametric-bootstrap confidence intervals (lmmlib.bootstrap_intervals)."""
import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmlib import InputError, bootstrap_intervals, profile_intervals

FORMULA = "mathach ~ 1 + (1 | school)"


@pytest.fixture(scope="module")
def fit(hsb):
    return lmmlib.fit_mixed(hsb, FORMULA)


@pytest.fixture(scope="module")
def percentile(fit):
    return bootstrap_intervals(fit, replicates=400, seed=7, progress=False)


def test_the_same_seed_gives_the_same_intervals_and_another_seed_others(fit, percentile):
    again = bootstrap_intervals(fit, replicates=400, seed=7, progress=False)
    pd.testing.assert_frame_equal(again, percentile)
    other = bootstrap_intervals(fit, replicates=400, seed=8, progress=False)
    assert not np.allclose(other[["lower", "upper"]], percentile[["lower", "upper"]])


def test_percentile_intervals_agree_with_the_profile_likelihood(fit, percentile):
    profile = profile_intervals(fit)
    width = profile["upper"] - profile["lower"]
    assert ((percentile["lower"] - profile["lower"]).abs() < 0.15 * width).all()
    assert ((percentile["upper"] - profile["upper"]).abs() < 0.15 * width).all()
    assert percentile.attrs["failed"] == 0 and len(percentile.attrs["replicates"]) == 400


def test_basic_and_normal_intervals_follow_from_the_same_replicates(fit, percentile):
    basic = bootstrap_intervals(fit, replicates=400, seed=7, kind="basic", progress=False)
    normal = bootstrap_intervals(fit, replicates=400, seed=7, kind="normal", progress=False)
    estimate = percentile["estimate"]
    np.testing.assert_allclose(basic["lower"], 2 * estimate - percentile["upper"])
    np.testing.assert_allclose(basic["upper"], 2 * estimate - percentile["lower"])
    draws = normal.attrs["replicates"]
    np.testing.assert_allclose((normal["lower"] + normal["upper"]) / 2, 2 * estimate - draws.mean())
    np.testing.assert_allclose(normal["upper"] - normal["lower"], 2 * 1.959964 * draws.std(ddof=1), rtol=1e-6)


def test_any_statistic_of_the_refits(fit):
    def icc(replicate):
        between = replicate.random_cov.iloc[0, 0]
        return pd.Series({"icc": between / (between + replicate.residual_sd ** 2)})
    table = bootstrap_intervals(fit, replicates=100, seed=3, statistic=icc, progress=False)
    assert table.index.tolist() == ["icc"]
    assert table.loc["icc", "estimate"] == pytest.approx(lmmlib.intraclass_correlation(fit))
    assert table.loc["icc", "lower"] < table.loc["icc", "estimate"] < table.loc["icc", "upper"]


@pytest.mark.parametrize("arguments, message", [
    ({"replicates": 0}, "replicates must be a whole number of at least 1"),
    ({"replicates": 2.5}, "replicates must be a whole number"),
    ({"level": 1.0}, "level must lie strictly between 0 and 1"),
    ({"kind": "studentized"}, "kind must be one of percentile, basic, normal"),
    ({"seed": -1}, "seed must be a non-negative whole number"),
])
def test_bad_arguments_are_refused(fit, arguments, message):
    with pytest.raises(InputError, match=message):
        bootstrap_intervals(fit, progress=False, **arguments)
