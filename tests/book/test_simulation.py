"""The coverage simulation of the clustered-data chapter."""
import numpy as np
import pandas as pd
import pytest

import lmmbook
import lmmlib


def test_naive_intervals_undercover_and_group_means_do_not():
    table = lmmbook.naive_interval_coverage([0.0, 0.2], n_groups=30, group_size=20, replicates=2000, seed=3)
    independent, clustered = table.iloc[0], table.iloc[1]
    assert abs(independent["coverage, OLS ignoring groups"] - 0.95) < 0.015
    assert clustered["coverage, OLS ignoring groups"] < 0.7
    assert abs(clustered["coverage, analysis of group means"] - 0.95) < 0.015
    assert clustered["SE ratio"] == pytest.approx(np.sqrt(clustered["design effect"]), rel=0.1)


def test_mixed_model_intervals_keep_their_coverage_on_the_same_data():
    """400 replicates: a coverage near 0.95 has binomial SD 0.011; the check allows 3 SD."""
    table = lmmbook.naive_interval_coverage([0.2], n_groups=30, group_size=20, replicates=400, seed=8,
                                           mixed_model=True)
    row = table.iloc[0]
    assert row["mixed-model refits failed"] == 0
    assert abs(row["coverage, random-intercept mixed model"] - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 400)
    assert row["coverage, OLS ignoring groups"] < 0.8
    without = lmmbook.naive_interval_coverage([0.2], n_groups=30, group_size=20, replicates=400, seed=8)
    pd.testing.assert_frame_equal(without, table[without.columns])


def test_coverage_simulation_rejects_bad_settings():
    with pytest.raises(lmmlib.InputError, match="even number"):
        lmmbook.naive_interval_coverage([0.1], n_groups=7)
    with pytest.raises(lmmlib.InputError, match=r"\[0, 1\)"):
        lmmbook.naive_interval_coverage([1.2])
