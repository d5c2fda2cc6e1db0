"""Simulated size and power of the tests of fixed effects (lmmlib.power) and ResponseRefit.fit.

The simulations are small (a few hundred replicates of small designs), so the checks allow
for Monte Carlo error: a rate is compared with its target within a few Monte Carlo
standard errors.  The seeds are fixed, so every number here is the same on every run.
"""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmlib
from lmmlib import power
from lmmlib.refit import ResponseRefit


def balanced(n_groups, group_size, seed, tau=1.0, effect=0.0):
    """y = 1 + 0.5 x + effect w + u + e, w a level-2 indicator in half of the groups."""
    rng = np.random.default_rng(seed)
    data = power.two_level_design(n_groups, group_size, rng)
    u = tau * rng.standard_normal(n_groups)
    data["y"] = (1 + 0.5 * data["x"] + effect * data["w"] + u[data["group"] - 1]
                 + rng.standard_normal(len(data)))
    return data


@pytest.fixture(scope="module")
def random_slopes():
    return lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 + x | group)")


# ---------------------------------------------------------------------------- one fit
def test_the_side_by_side_table_is_that_of_the_small_sample_functions(random_slopes):
    table = power.fixed_effect_tests(random_slopes, joint=False)
    satterthwaite = lmmlib.satterthwaite_tests(random_slopes)
    kenward_roger = lmmlib.kenward_roger_tests(random_slopes)
    assert np.allclose(table["df (Satterthwaite)"], satterthwaite["df"], rtol=1e-6)
    assert np.allclose(table["p (Satterthwaite)"], satterthwaite["p"], rtol=1e-6)
    assert np.allclose(table["se (Kenward-Roger)"], kenward_roger["se"], rtol=1e-9)
    assert np.allclose(table["df (Kenward-Roger)"], kenward_roger["df"], rtol=1e-9)
    assert np.allclose(table["p (Kenward-Roger)"], kenward_roger["p"], rtol=1e-9)
    assert np.allclose(table["p (z)"], 2 * stats.norm.sf(random_slopes.fixed["z"].abs()), rtol=1e-6)


def test_a_joint_row_is_the_f_test_of_lmerTest_and_pbkrtest(random_slopes):
    terms = ["Intercept", "x"]
    joint = power.fixed_effect_tests(random_slopes, terms, joint=True).loc["Intercept & x"]
    satterthwaite = lmmlib.satterthwaite_f_test(random_slopes, terms)
    kenward_roger = lmmlib.kenward_roger_f_test(random_slopes, terms)
    assert joint["df (Satterthwaite)"] == pytest.approx(satterthwaite["denominator df"], rel=1e-6)
    assert joint["p (Satterthwaite)"] == pytest.approx(satterthwaite["p"], rel=1e-6, abs=1e-300)
    assert joint["df (Kenward-Roger)"] == pytest.approx(kenward_roger["denominator df"], rel=1e-9)
    assert joint["p (Kenward-Roger)"] == pytest.approx(kenward_roger["p"], rel=1e-6, abs=1e-300)
    assert np.isnan(joint["estimate"]) and np.isnan(joint["se (Kenward-Roger)"])


def test_only_the_tests_asked_for_are_computed():
    fit = lmmlib.fit_mixed(lmmlib.examples.two_level_data(), "y ~ x + (1 | group)", method="ML")
    expected = ["estimate", "se", "p (z)", "df (Satterthwaite)", "p (Satterthwaite)"]
    assert list(power.fixed_effect_tests(fit, "x").columns) == expected      # ML: no Kenward-Roger
    assert list(power.fixed_effect_tests(fit, "x", tests="z").columns) == expected[:3]
    with pytest.raises(lmmlib.InputError, match="REML"):
        power.fixed_effect_tests(fit, "x", tests=["z", "kenward-roger"])
    with pytest.raises(lmmlib.InputError, match="REML"):
        power.simulated_size(fit, "x", replicates=5, tests="kenward-roger", progress=False)
    size = power.simulated_size(fit, "x", replicates=5, seed=1, progress=False)
    assert size["test"].tolist() == ["z", "Satterthwaite"] and (size["failed"] == 0).all()


# ---------------------------------------------------------------------------- size
def test_with_many_large_groups_all_three_tests_have_the_nominal_size():
    fit = lmmlib.fit_mixed(balanced(60, 20, seed=11, effect=0.3), "y ~ x + w + (1 | group)")
    size = power.simulated_size(fit, ["w", "x"], replicates=200, seed=5, progress=False)
    assert (size["replicates"] == 200).all() and (size["failed"] == 0).all()
    assert np.allclose(size["Monte Carlo SE"], np.sqrt(size["size"] * (1 - size["size"]) / 200))
    se = np.sqrt(0.05 * 0.95 / 200)
    assert (size["size"] - 0.05).abs().max() < 3.5 * se, size


def test_with_few_groups_the_z_test_is_too_liberal_and_the_corrections_are_not():
    fit = lmmlib.fit_mixed(balanced(6, 10, seed=3, tau=1.5), "y ~ x + w + (1 | group)")
    size = power.simulated_size(fit, "w", replicates=300, seed=8, progress=False).set_index("test")["size"]
    se = np.sqrt(0.05 * 0.95 / 300)
    assert size["z"] > 0.05 + 3.5 * se, size
    assert abs(size["Satterthwaite"] - 0.05) < 3.5 * se and abs(size["Kenward-Roger"] - 0.05) < 3.5 * se, size


def test_the_null_is_made_true_whatever_the_estimate():
    # a huge effect in the data: the simulation must still set it to zero
    fit = lmmlib.fit_mixed(balanced(30, 8, seed=2, effect=5.0), "y ~ x + w + (1 | group)")
    size = power.simulated_size(fit, "w", replicates=100, seed=1, tests="z", progress=False)
    assert size["size"].iloc[0] < 0.15


def test_a_joint_hypothesis_gets_its_own_rows(random_slopes):
    size = power.simulated_size(random_slopes, ["Intercept", "x"], replicates=5, seed=1, joint=True,
                                tests=["z", "kenward-roger"], progress=False)
    assert size["hypothesis"].tolist() == ["Intercept"] * 2 + ["x"] * 2 + ["Intercept & x"] * 2
    assert size["test"].tolist() == ["z", "Kenward-Roger"] * 3


def test_boundary_fits_are_counted_not_dropped():
    # a tiny group variance: many refits put it at 0, where Satterthwaite's df are undefined
    fit = lmmlib.fit_mixed(balanced(8, 5, seed=4, tau=0.3), "y ~ x + w + (1 | group)")
    size = power.simulated_size(fit, "w", replicates=40, seed=2, progress=False).set_index("test")
    boundary = size.attrs["boundary"]
    assert boundary > 0
    assert size.loc["Satterthwaite", "failed"] == boundary
    assert size.loc["Satterthwaite", "replicates"] == 40 - boundary
    assert size.loc["z", "failed"] == size.loc["Kenward-Roger", "failed"] == 0


def test_the_same_seed_gives_the_same_size(random_slopes):
    first, again, other = (power.simulated_size(random_slopes, "x", replicates=30, seed=seed, tests="z",
                                                progress=False) for seed in (7, 7, 8))
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs == again.attrs


# ---------------------------------------------------------------------------- power
POPULATION = {"Intercept": 10.0, "x": 0.5, "w": 0.8, "x:w": 0.3}
PSI = pd.DataFrame([[1.0, 0.1], [0.1, 0.2]], index=["Intercept", "x"], columns=["Intercept", "x"])


def test_power_grows_with_the_number_of_groups():
    curve = power.power_curve("y ~ x * w + (1 + x | group)", POPULATION, PSI, 2.0, [8, 60], [10],
                              terms=["w", "x:w"], replicates=100, seed=1, progress=False)
    by = curve.set_index(["term", "groups"])
    for term in ("w", "x:w"):
        small, large = by.loc[(term, 8)], by.loc[(term, 60)]
        assert large["power"] > small["power"] + 3 * np.hypot(small["Monte Carlo SE"], large["Monte Carlo SE"])
    assert (curve["replicates"] == 100).all() and (curve["failed"] == 0).all()


def test_an_effect_of_zero_has_the_size_as_power():
    curve = power.power_curve("y ~ x + w + (1 | group)", {"Intercept": 3.0, "x": 1.0}, 0.5, 1.0, [40], [10],
                              terms="w", replicates=300, seed=4, progress=False)
    assert abs(curve["power"].iloc[0] - 0.05) < 3.5 * np.sqrt(0.05 * 0.95 / 300), curve


def test_power_can_use_the_small_sample_tests():
    curve = power.power_curve("y ~ x + w + (1 | group)", {"w": 0.0}, 1.0, 1.0, [6], [5], terms="w",
                              tests=power.TESTS, replicates=40, seed=2, progress=False)
    assert curve["test"].tolist() == ["z", "Satterthwaite", "Kenward-Roger"]
    rates = curve.set_index("test")["power"]
    assert rates["z"] >= rates["Satterthwaite"] and rates["z"] >= rates["Kenward-Roger"]


def test_the_same_seed_gives_the_same_curve_and_a_point_does_not_depend_on_the_grid():
    arguments = ("y ~ x * w + (1 + x | group)", POPULATION, PSI, 2.0)
    options = dict(terms="w", replicates=20, seed=9, progress=False)
    grid = power.power_curve(*arguments, [6, 12], [4, 8], **options)
    again = power.power_curve(*arguments, [6, 12], [4, 8], **options)
    alone = power.power_curve(*arguments, [12], [8], **options)
    pd.testing.assert_frame_equal(grid, again)
    pd.testing.assert_frame_equal(grid.iloc[[3]].reset_index(drop=True), alone)
    other = power.power_curve(*arguments, [6, 12], [4, 8], **{**options, "seed": 10})
    assert not grid["power"].equals(other["power"])


def test_the_responses_follow_the_population_values():
    rng = np.random.default_rng(1)
    model = power._planned_model("y ~ x * w + (1 + x | group)", power.two_level_design, 400, 20, rng)
    beta = power._population_beta(model, POPULATION)
    psi = power._population_psi(model, PSI)
    y = next(power._responses(model, beta, psi, 2.0, rng))
    fit = lmmlib.fit_mixed(model.design.frame.assign(y=y), "y ~ x * w + (1 + x | group)")
    assert np.allclose(fit.fixed["estimate"], list(POPULATION.values()), atol=4 * fit.fixed["se"])
    assert fit.residual_sd == pytest.approx(2.0, rel=0.05)
    assert np.allclose(fit.random_cov, PSI, atol=0.15)
    # the refits start at the population values
    theta = power._internal_theta(model, psi, 2.0)
    lam = model.scaling @ lmmlib.engine.lambda_from_theta(theta, model.blocks)
    assert np.allclose(lam @ lam.T * 4.0, psi)


def test_a_design_function_of_ones_own():
    def clinics(n_groups, group_size, rng):
        return pd.DataFrame({"clinic": np.repeat(np.arange(n_groups), group_size),
                             "dose": np.tile(np.linspace(0, 1, group_size), n_groups)})

    curve = power.power_curve("response ~ dose + (1 | clinic)", {"dose": 1.0}, 0.5, 1.0, [10], [6],
                              design=clinics, replicates=30, seed=1, progress=False)
    assert curve["term"].tolist() == ["dose"] and 0 <= curve["power"].iloc[0] <= 1


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("arguments, message", [
    (dict(replicates=0), "replicates"),
    (dict(replicates=2.5), "replicates"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=1.0), "alpha"),
    (dict(alpha=1.5), "alpha"),
    (dict(terms="z"), "no fixed effect named 'z'"),
    (dict(terms=[]), "at least one fixed effect"),
    (dict(tests=["wald"]), "tests must be"),
    (dict(terms="x", joint=True), "at least two terms"),
])
def test_bad_input_to_simulated_size_is_refused(random_slopes, arguments, message):
    arguments = {"terms": "x", **arguments}
    with pytest.raises(lmmlib.InputError, match=message):
        power.simulated_size(random_slopes, progress=False, **arguments)


@pytest.mark.parametrize("change, message", [
    (dict(replicates=0), "replicates"),
    (dict(alpha=-0.1), "alpha"),
    (dict(terms="z"), "no fixed effect named 'z'"),
    (dict(fixed={"W": 1.0}), r"fixed effects the model does not have: \['W'\]"),
    (dict(random_cov=np.eye(3)), "2 x 2"),
    (dict(random_cov=[[1.0, 2.0], [2.0, 1.0]]), "negative eigenvalue"),
    (dict(sigma=0.0), "sigma"),
    (dict(n_groups=[1]), "numbers of groups"),
    (dict(group_sizes=[0]), "group sizes"),
    (dict(n_groups=[]), "at least one value"),
    (dict(design=lambda g, n, rng: np.zeros(3)), "must return a DataFrame"),
    (dict(tests=["kenward-roger"], method="ML"), "REML"),
])
def test_bad_input_to_power_curve_is_refused(change, message):
    arguments = dict(formula="y ~ x * w + (1 + x | group)", fixed=POPULATION, random_cov=PSI, sigma=1.0,
                     n_groups=[10], group_sizes=[5], replicates=5, progress=False)
    with pytest.raises(lmmlib.InputError, match=message):
        power.power_curve(**{**arguments, **change})


def test_a_refit_to_a_response_of_the_wrong_length_is_refused(random_slopes):
    with pytest.raises(lmmlib.InputError, match="one value for each"):
        ResponseRefit.of_fit(random_slopes).fit(np.zeros(3))


def test_a_whole_refit_is_the_fit_of_the_new_data(random_slopes):
    data = lmmlib.examples.two_level_data()
    y = next(lmmlib.simulated_responses(random_slopes, seed=3))
    refitted = ResponseRefit.of_fit(random_slopes).fit(y)
    direct = lmmlib.fit_mixed(data.assign(y=y), "y ~ x + (1 + x | group)")
    assert isinstance(refitted, lmmlib.MixedFit) and refitted.method == "REML"
    assert np.allclose(refitted.fixed, direct.fixed, rtol=1e-6)
    assert np.allclose(refitted.random_cov, direct.random_cov, rtol=1e-5)
    assert refitted.loglik == pytest.approx(direct.loglik, abs=1e-8)
    assert np.allclose(refitted.response, y)
