"""Partial pooling (lmmlib.shrinkage): least-squares against mixed-model coefficients, reliabilities."""
import numpy as np
import pytest

import lmmlib
from lmmlib import InputError, plots, shrinkage


def test_a_random_intercept_is_the_reliability_weighted_mean_of_own_and_fixed(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)")
    table = shrinkage(fit)
    assert len(table) == hsb["school"].nunique()
    # the BLUP identity: b_i = lambda_i (ybar_i - beta), with lambda_i = psi^2 / (psi^2 + sigma^2 / n_i)
    pulled = table["mixed model"] - table["fixed effect"]
    np.testing.assert_allclose(pulled, table["reliability"] * (table["least squares"] - table["fixed effect"]),
                               atol=1e-10)
    psi2, sigma2 = fit.random_cov.iloc[0, 0], fit.residual_sd ** 2
    np.testing.assert_allclose(table["reliability"], psi2 / (psi2 + sigma2 / table["n"]))
    means = hsb.groupby("school")["mathach"].mean()
    np.testing.assert_allclose(table.set_index("group")["least squares"], means.loc[table["group"]].to_numpy())


def test_slopes_are_less_reliable_than_intercepts_and_move_towards_the_fixed_effect(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + (1 + cses | school)")
    table = shrinkage(fit)
    reliability = table.groupby("term")["reliability"].median()
    assert reliability["cses"] < 0.5 < reliability["Intercept"]
    slopes = table[table["term"] == "cses"]
    own = (slopes["least squares"] - slopes["fixed effect"]).abs()
    mixed = (slopes["mixed model"] - slopes["fixed effect"]).abs()
    assert (mixed < own).mean() > 0.9


def test_level_two_predictors_are_refused_with_the_reason(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + sector + (1 + cses | school)")
    with pytest.raises(InputError, match=r"the fixed part also has \['sector'\]"):
        shrinkage(fit)


def test_the_shrinkage_plot_fits_the_column_and_names_unknown_terms(hsb):
    table = shrinkage(lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)"))
    fig = plots.shrinkage(table, "Intercept")
    assert fig.get_figwidth() == pytest.approx(plots.FIGURE_WIDTH)
    with pytest.raises(InputError, match="no term 'cses'"):
        plots.shrinkage(table, "cses")
