"""Predictions with intervals (lmmlib.predict), checked against lme4 and against Henderson's
mixed-model equations written out in full.

``reference/prediction_reference.R`` wrote ``prediction_reference.csv``: lme4's predictions with
and without the groups' modes (new groups at b = 0), the standard error of the marginal mean
from ``vcov(fit)``, and the standard error of the conditional mean from the mixed-model
equations built with lme4's X, Z and Lambda.  Tolerance 1e-5 relative: lmmlib's and lme4's
REML optima differ by about 1e-7 in the parameters.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmlib
from lmmbook.agreement import outside_tolerance, prediction_comparison
from lmmlib import InputError, predict

REFERENCE = Path(__file__).parent / "reference" / "prediction_reference.csv"


@pytest.fixture
def fit_of(hsb, reference_models):
    return functools.cache(lambda model: reference_models.fit(model, "REML", hsb))


def reference(model: str) -> pd.DataFrame:
    table = pd.read_csv(REFERENCE)
    return table[table["model"] == model].reset_index(drop=True)


def rows_of(model: str, fit: lmmlib.MixedFit) -> pd.DataFrame:
    """The rows R predicted: the grouping column and the predictors the model uses."""
    table = reference(model)
    predictors = [c for c in table.columns[table.columns.get_loc("sigma") + 1:] if table[c].notna().all()]
    return table[predictors].assign(**{fit.group: table["group"]})


def test_predictions_and_their_standard_errors_agree_with_lme4():
    """Marginal and conditional predictions, the marginal mean's se and, for groups of the fit,
    the conditional mean's se (the comparison of the book's appendix)."""
    table = prediction_comparison()
    assert set(table["model"]) == {"hsb_slope", "hsb_outcomes", "sleepstudy"}
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()


@pytest.mark.parametrize("model", ["hsb_slope", "hsb_outcomes", "sleepstudy"])
def test_the_variances_of_new_groups_and_new_observations_add_up(fit_of, model):
    fit, expected = fit_of(model), reference(model)
    rows = rows_of(model, fit)
    # one new observation of a group drawn at random: x' Cov(beta_hat) x + z' Psi z + sigma^2
    one = predict(fit, rows, effects="marginal", interval="prediction")
    assert one["se"].to_numpy() ** 2 == pytest.approx(expected["se_marginal"].to_numpy() ** 2
                                                      + expected["psi_between"].to_numpy()
                                                      + expected["sigma"].to_numpy() ** 2, rel=1e-5)
    assert (one["upper"] - one["prediction"]).to_numpy() == pytest.approx(stats.norm.ppf(0.975) * one["se"],
                                                                          rel=1e-12)
    # the mean of a group the fit has not seen: x' Cov(beta_hat) x + z' Psi z
    conditional = predict(fit, rows, effects="conditional", interval="confidence", new_groups="population")
    new = ~expected["known"].to_numpy()
    assert conditional["new_group"].to_numpy().tolist() == new.tolist()
    assert conditional["se"].to_numpy()[new] ** 2 == pytest.approx(
        expected["se_marginal"][new].to_numpy() ** 2 + expected["psi_between"][new].to_numpy(), rel=1e-5)


def test_a_prediction_interval_adds_the_level_1_variance(fit_of):
    fit = fit_of("sleepstudy")
    rows = rows_of("sleepstudy", fit).iloc[:3]
    mean = predict(fit, rows, effects="conditional", interval="confidence")
    one = predict(fit, rows, effects="conditional", interval="prediction", level=0.9)
    assert one["se"].to_numpy() ** 2 == pytest.approx(mean["se"].to_numpy() ** 2 + fit.residual_sd ** 2, rel=1e-12)
    assert (one["upper"] - one["lower"]).to_numpy() == pytest.approx(2 * stats.norm.ppf(0.95) * one["se"], rel=1e-12)


def test_conditional_predictions_of_the_fit_s_rows_are_its_fitted_values(fit_of, hsb):
    fit = fit_of("hsb_slope")
    rows = hsb.sample(50, random_state=1)
    predicted = predict(fit, rows, effects="conditional")["prediction"]
    assert predicted.to_numpy() == pytest.approx(fit.fitted.loc[rows.index].to_numpy(), rel=1e-12)
    assert predicted.index.equals(rows.index)


def test_the_mean_of_a_seen_group_is_known_better_than_that_of_a_new_group(fit_of):
    fit = fit_of("hsb_slope")
    rows = pd.DataFrame({"school": [1224, 99999], "cses": [0.0, 0.0]})
    table = predict(fit, rows, effects="conditional", interval="confidence", new_groups="population")
    assert table["se"].iloc[0] < table["se"].iloc[1]
    assert table["se"].iloc[0] > fit.random_effects_se.loc[1224, "Intercept"] * 0.99


def test_the_choice_of_effects_is_required_and_checked(fit_of):
    fit = fit_of("sleepstudy")
    rows = rows_of("sleepstudy", fit)
    with pytest.raises(TypeError):
        predict(fit, rows)                       # no default: the caller says which prediction
    with pytest.raises(InputError, match="effects must be one of"):
        predict(fit, rows, effects="random")
    with pytest.raises(InputError, match="interval must be one of"):
        predict(fit, rows, effects="marginal", interval="credible")


def test_a_group_the_fit_has_not_seen_needs_an_explicit_choice(fit_of):
    fit = fit_of("sleepstudy")
    rows = rows_of("sleepstudy", fit)
    with pytest.raises(InputError, match=r"no 'Subject' \[1000\].*new_groups='population'"):
        predict(fit, rows, effects="conditional")
    with pytest.raises(InputError, match="grouping column 'Subject'"):
        predict(fit, rows.drop(columns="Subject"), effects="conditional")
    assert len(predict(fit, rows.drop(columns="Subject"), effects="marginal")) == len(rows)


def test_rows_missing_a_predictor_are_refused_with_its_name(fit_of):
    fit = fit_of("hsb_outcomes")
    rows = rows_of("hsb_outcomes", fit)
    with pytest.raises(InputError, match="sector"):
        predict(fit, rows.drop(columns="sector"), effects="marginal")
    with pytest.raises(InputError, match="sector|missing"):
        predict(fit, rows.assign(sector=[0, np.nan, 1]), effects="marginal")


@pytest.mark.parametrize("level", [0.0, 1.0, 95, -0.5])
def test_a_level_outside_zero_and_one_is_refused(fit_of, level):
    fit = fit_of("sleepstudy")
    with pytest.raises(InputError, match="level must be between 0 and 1"):
        predict(fit, rows_of("sleepstudy", fit), effects="marginal", interval="confidence", level=level)


def test_henderson_s_equations_written_out_give_the_same_standard_errors():
    """The per-group formula against the full mixed-model equations, on a small unbalanced design."""
    data = lmmlib.examples.two_level_data()
    fit = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)")
    x, z = fit.model.design.x, fit.model.design.z
    codes, labels = pd.factorize(fit.model.design.groups)
    m, q, p = len(labels), z.shape[1], x.shape[1]
    z_full = np.zeros((len(x), m * q))
    for row, code in enumerate(codes):
        z_full[row, code * q:(code + 1) * q] = z[row]
    sigma2 = fit.residual_sd ** 2
    precision = np.kron(np.eye(m), np.linalg.inv(fit.random_cov.to_numpy())) * sigma2
    equations = np.block([[x.T @ x, x.T @ z_full], [z_full.T @ x, z_full.T @ z_full + precision]])
    inverse = np.linalg.inv(equations) * sigma2
    rows = data.sample(20, random_state=3)
    table = predict(fit, rows, effects="conditional", interval="confidence")
    xr, zr = fit.model.fixed_matrix(rows).to_numpy(), fit.model.random_matrix(rows).to_numpy()
    for k, group in enumerate(rows["group"]):
        vector = np.zeros(p + m * q)
        vector[:p] = xr[k]
        position = list(labels).index(group)
        vector[p + position * q:p + (position + 1) * q] = zr[k]
        assert table["se"].iloc[k] == pytest.approx(np.sqrt(vector @ inverse @ vector), rel=1e-9)
