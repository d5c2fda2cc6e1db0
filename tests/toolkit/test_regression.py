"""SAS-style regression tables, group descriptives and variance-parameter SEs."""
import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmlib import variance_parameter_se

DATA = pd.DataFrame({"y": [2.0, 4.0, 3.0, 7.0, 6.0, 9.0, 8.0], "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})


def test_regression_tables_agree_with_statsmodels():
    fit = lmmlib.fit_ols(DATA, "y ~ x")
    anova = lmmlib.regression_anova(fit)
    assert anova["DF"].tolist() == [1, 5, 6]
    assert anova.loc["Model", "Sum of Squares"] + anova.loc["Error", "Sum of Squares"] == pytest.approx(
        anova.loc["Corrected Total", "Sum of Squares"])
    assert anova.loc["Model", "F"] == pytest.approx(fit.fvalue)
    assert anova.loc["Model", "Pr > F"] == pytest.approx(fit.f_pvalue)
    stats = lmmlib.fit_statistics(fit)
    assert stats["Root MSE"] == pytest.approx(np.sqrt(fit.mse_resid))
    assert stats["Coeff Var"] == pytest.approx(100 * stats["Root MSE"] / DATA["y"].mean())
    coefficients = lmmlib.coefficient_table(fit)
    np.testing.assert_allclose(coefficients["t"], fit.params / fit.bse)


def test_intercept_only_regression_has_an_empty_model_row():
    fit = lmmlib.fit_ols(DATA, "y ~ 1")
    anova = lmmlib.regression_anova(fit)
    assert anova.loc["Model", "DF"] == 0 and anova.loc["Model", "Sum of Squares"] == pytest.approx(0)
    assert np.isnan(anova.loc["Model", "F"])
    assert lmmlib.fit_statistics(fit)["R-Square"] == pytest.approx(0)
    with pytest.raises(lmmlib.InputError, match="at least one term"):
        lmmlib.ml_f_test(fit)


def test_ml_f_is_the_least_squares_f_times_n_over_residual_df():
    data = DATA.assign(g=["a", "a", "b", "b", "c", "c", "c"])
    fit = lmmlib.fit_ols(data, "y ~ g")
    assert lmmlib.ml_f_test(fit)["F"] == pytest.approx(fit.fvalue * fit.nobs / fit.df_resid)


@pytest.mark.parametrize("data, formula, message", [
    (DATA, "y ~ z", "cannot use the formula .y ~ z.*z. is not defined"),
    (DATA.head(2), "y ~ x", "no residual degrees of freedom"),
    (DATA.assign(y=[1.0, np.nan, 3, 4, 5, 6, 7]), "y ~ x", "missing values"),
])
def test_fit_ols_rejects_unusable_input(data, formula, message):
    with pytest.raises(lmmlib.InputError, match=message):
        lmmlib.fit_ols(data, formula)


def test_describe_by_group_matches_pandas(hsb):
    table = lmmlib.describe_by_group(hsb, "mathach", "school")
    assert table.columns.tolist() == ["n", "mean", "sd", "min", "max"]
    assert table["n"].sum() == len(hsb)
    assert table.loc[1224, "sd"] == pytest.approx(hsb.loc[hsb.school == 1224, "mathach"].std())
    with pytest.raises(lmmlib.InputError, match="numeric"):
        lmmlib.describe_by_group(hsb.assign(mathach="x"), "mathach", "school")


def test_variance_parameter_se_equals_the_exact_information_in_a_balanced_design():
    # balanced one-way data: at the ML estimate the observed information equals the expected one,
    # which is known in closed form in terms of sigma^2 and lambda = sigma^2 + n tau^2
    rng = np.random.default_rng(11)
    groups, size = 30, 8
    y = np.repeat(rng.normal(0, 2, groups), size) + rng.normal(0, 3, groups * size)
    data = pd.DataFrame({"y": y, "g": np.repeat(np.arange(groups), size)})
    fit = lmmlib.fit_mixed(data, "y ~ 1", "g", method="ML")
    s2, t2 = fit.residual_sd ** 2, fit.random_cov.iloc[0, 0]
    lam = s2 + size * t2
    information = np.array([[groups * size ** 2 / (2 * lam ** 2), groups * size / (2 * lam ** 2)],
                            [groups * size / (2 * lam ** 2),
                             groups * (size - 1) / (2 * s2 ** 2) + groups / (2 * lam ** 2)]])
    exact = np.sqrt(np.diag(np.linalg.inv(information)))
    np.testing.assert_allclose(variance_parameter_se(fit)["se"], exact, rtol=1e-4)


def test_variance_parameter_se_refuses_a_boundary_estimate():
    data = pd.DataFrame({"y": [1.0, 2.0, 4.0, 7.0] * 6, "g": np.repeat(np.arange(6), 4)})   # no group effect
    with pytest.warns(lmmlib.BoundaryWarning):
        fit = lmmlib.fit_mixed(data, "y ~ 1", "g", method="ML")
    with pytest.raises(lmmlib.InputError, match="boundary"):
        variance_parameter_se(fit)
