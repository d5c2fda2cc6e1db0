"""Group-mean centring, per-group OLS and level-2 column detection."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import lmmlib


def test_centring_makes_the_intercept_the_group_mean(hsb):
    centred = lmmlib.center_within_groups(hsb, "ses", "school")
    np.testing.assert_allclose(centred["ses_centered"], hsb["cses"], atol=1e-12)
    fits = lmmlib.ols_by_group(centred, "mathach ~ ses_centered", "school")
    intercepts = fits[fits.term == "Intercept"].set_index("school")["estimate"]
    np.testing.assert_allclose(intercepts, hsb.groupby("school")["mathach"].mean(), atol=1e-10)


def test_ols_by_group_agrees_with_statsmodels(hsb):
    school = hsb[hsb.school == 1288]
    ours = lmmlib.ols_by_group(school, "mathach ~ cses", "school", level=0.9).set_index("term")
    theirs = smf.ols("mathach ~ cses", school).fit()
    np.testing.assert_allclose(ours["estimate"], theirs.params, rtol=1e-10)
    np.testing.assert_allclose(ours["se"], theirs.bse, rtol=1e-10)
    np.testing.assert_allclose(ours[["lower", "upper"]], theirs.conf_int(0.1), rtol=1e-10)
    assert ours["r2"].iloc[0] == pytest.approx(theirs.rsquared)
    assert ours["df"].iloc[0] == theirs.df_resid


def test_keep_carries_group_level_columns_and_refuses_others(hsb):
    fits = lmmlib.ols_by_group(hsb, "mathach ~ cses", "school", keep=["sector", "meanses"])
    assert fits.groupby("school")["sector"].first().sum() == 70
    with pytest.raises(lmmlib.InputError, match="vary within groups"):
        lmmlib.ols_by_group(hsb, "mathach ~ cses", "school", keep=["ses"])


def test_groups_too_small_for_the_regression_are_named():
    data = pd.DataFrame({"g": [1, 1, 1, 2, 2], "x": [0.0, 1, 2, 0, 1], "y": [1.0, 2, 4, 1, 2]})
    with pytest.raises(lmmlib.InputError, match=r"at least 3 rows .* 2 \(2 rows\)"):
        lmmlib.ols_by_group(data, "y ~ x", "g")


def test_collinear_group_is_reported():
    data = pd.DataFrame({"g": [1] * 4 + [2] * 4, "x": [0.0, 1, 2, 3, 5, 5, 5, 5], "y": np.arange(8.0)})
    with pytest.raises(lmmlib.InputError, match="group 2 .* collinear"):
        lmmlib.ols_by_group(data, "y ~ x", "g")


def test_bad_input_to_groupwise_functions(hsb):
    with pytest.raises(lmmlib.InputError, match="'schul'"):
        lmmlib.ols_by_group(hsb, "mathach ~ cses", "schul")
    with pytest.raises(lmmlib.InputError, match="level"):
        lmmlib.ols_by_group(hsb, "mathach ~ cses", "school", level=95)
    with pytest.raises(lmmlib.InputError, match="numeric"):
        lmmlib.center_within_groups(hsb.assign(ses=hsb.ses.astype(str)), "ses", "school")
    with pytest.raises(lmmlib.InputError, match="missing values"):
        lmmlib.center_within_groups(hsb.assign(ses=np.nan), "ses", "school")


def test_level2_columns_are_those_constant_within_groups(hsb):
    assert "sector" in lmmlib.level2_columns(hsb, "school")
    assert "ses" not in lmmlib.level2_columns(hsb, "school")
