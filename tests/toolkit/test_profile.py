"""Profile-likelihood intervals of every parameter (lmmlib.profile_intervals).

Checked against lme4's ``confint(profile(fit))`` (``reference/profile_reference.R`` wrote
``profile_reference.csv``; the tests run without R).  lme4 always profiles the ML deviance
(it refits a REML fit by ML), so the comparison uses ``criterion="ML"``.  Tolerances: 1e-3
relative for standard deviations, sigma and fixed effects, 1e-3 absolute for correlations.  lme4 finds
the end points by interpolating its profile with a spline, which is off by a few 1e-4 for
the correlations here; this module's ends are roots of zeta itself (a test below checks
that zeta there is +-z to 1e-6).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import lmmlib
from lmmbook.agreement import outside_tolerance, profile_comparison
from lmmlib import InputError, likelihood_profile, profile_intervals, variance_parameter_se, wald_intervals
from lmmlib.profile import _Deviance, _FixedEffectProfile, _Zeta


def boundary_fit(hsb) -> lmmlib.MixedFit:
    """The coefficients-as-outcomes model without random intercepts: sd(cses) is estimated as 0."""
    formula = ("mathach ~ meanses + sector + cses + meanses:cses + I(meanses**2):cses + sector:cses"
               " + (0 + cses | school)")
    with pytest.warns(lmmlib.BoundaryWarning):
        return lmmlib.fit_mixed(hsb, formula)


def test_names_follow_lme4(reference_models):
    lmmlib_name = reference_models.lmmlib_name
    assert lmmlib_name("sd_(Intercept)|school") == "sd(Intercept)"
    assert lmmlib_name("cor_cses.(Intercept)|school") == "cor(Intercept,cses)"
    assert lmmlib_name("sd_Days|Subject") == "sd(Days)"
    assert lmmlib_name("(Intercept)") == "Intercept" and lmmlib_name("Days") == "Days"


def test_intervals_agree_with_lme4():
    """Four models by REML and ML: every standard deviation, correlation, sigma and fixed effect."""
    table = profile_comparison()
    assert len(table) == 2 * 2 * (3 + 6 + 6 + 4)          # methods x ends x parameters of the 4 models
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()


def test_zeta_at_the_ends_is_the_normal_quantile(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + (1 + cses | school)")
    table = profile_intervals(fit, level=0.9)
    deviance = _Deviance(fit, reml=True)
    estimates = deviance.natural(fit)
    z = stats.norm.ppf(0.95)
    for index, parameter in enumerate(deviance.parameters):
        zeta = _Zeta(deviance, estimates, deviance(estimates), index)
        assert zeta(table.loc[parameter.name, "lower"]) == pytest.approx(-z, abs=1e-6)
        assert zeta(table.loc[parameter.name, "upper"]) == pytest.approx(z, abs=1e-6)
    ml = fit.model.fit("ML")
    for index, name in enumerate(ml.fixed.index):
        zeta = _FixedEffectProfile(ml, index)
        assert zeta(table.loc[name, "lower"]) == pytest.approx(-z, abs=1e-6)
        assert zeta(table.loc[name, "upper"]) == pytest.approx(z, abs=1e-6)


def test_reml_intervals_are_the_restricted_likelihoods_and_wider_levels_contain_narrower(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)", method="REML")
    reml, ml = profile_intervals(fit), profile_intervals(fit, criterion="ML")
    assert reml.attrs["criterion"] == "REML" and ml.attrs["criterion"] == "ML"
    assert reml.loc["sd(Intercept)", "upper"] > ml.loc["sd(Intercept)", "upper"]
    wide = profile_intervals(fit, level=0.99)
    assert (wide["lower"] < reml["lower"]).all() and (wide["upper"] > reml["upper"]).all()
    assert ((reml["lower"] < reml["estimate"]) & (reml["estimate"] < reml["upper"])).all()


def test_a_standard_deviation_on_the_boundary_gets_an_interval_from_zero(hsb):
    fit = boundary_fit(hsb)
    table = profile_intervals(fit)
    assert table.loc["sd(cses)", "lower"] == 0.0 and table.loc["sd(cses)", "upper"] > 0.1


def test_intervals_do_not_depend_on_the_units_of_the_response(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + (1 + cses | school)")
    scaled = lmmlib.fit_mixed(hsb.assign(mathach=hsb["mathach"] * 100), "mathach ~ cses + (1 + cses | school)")
    ours, theirs = profile_intervals(fit), profile_intervals(scaled)
    factor = np.where(ours.index.str.startswith("cor("), 1.0, 100.0)[:, None]
    np.testing.assert_allclose(theirs[["lower", "upper"]].to_numpy(), ours[["lower", "upper"]].to_numpy() * factor,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1])
def test_a_level_outside_zero_one_is_refused(hsb, level):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)")
    with pytest.raises(InputError, match="level must lie strictly between 0 and 1"):
        profile_intervals(fit, level=level)


def test_an_unknown_criterion_is_refused(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)")
    with pytest.raises(InputError):
        profile_intervals(fit, criterion="Bayes")


def test_wald_intervals_are_symmetric_and_their_standard_errors_those_of_the_information(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1 + (1 | school)", method="ML")
    table = wald_intervals(fit)
    assert "quadratic" in table.attrs["caveat"]
    np.testing.assert_allclose(table["upper"] - table["estimate"], table["estimate"] - table["lower"])
    assert table.loc["Intercept", "se"] == pytest.approx(fit.fixed.loc["Intercept", "se"])
    # delta method: SE(sd) = SE(variance) / (2 sd), the variance's SE from the information matrix
    variances = variance_parameter_se(fit)
    for name, variance in (("sd(Intercept)", "var(Intercept)"), ("sigma", "var(residual)")):
        expected = variances.loc[variance, "se"] / (2 * table.loc[name, "estimate"])
        assert table.loc[name, "se"] == pytest.approx(expected, rel=1e-3)


def test_wald_standard_errors_of_variance_parameters_are_undefined_on_the_boundary(hsb):
    fit = boundary_fit(hsb)
    table = wald_intervals(fit)
    assert table.loc[["sd(cses)", "sigma"], "se"].isna().all() and table.loc["sector", "se"] > 0


def test_the_profile_table_rises_through_zero_to_the_interval_ends(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + (1 + cses | school)")
    profile = likelihood_profile(fit, level=0.95, points=4)
    assert list(dict.fromkeys(profile["parameter"])) == list(profile_intervals(fit).index)
    z = stats.norm.ppf(0.975)
    for name, rows in profile.groupby("parameter"):
        assert rows["value"].is_monotonic_increasing and rows["zeta"].is_monotonic_increasing, name
        assert rows["zeta"].iloc[0] == pytest.approx(-z, abs=1e-5)
        assert rows["zeta"].iloc[-1] == pytest.approx(z, abs=1e-5)
        assert (rows["zeta"] == 0).sum() == 1 and np.isfinite(rows["wald"]).all()


def test_intervals_do_not_depend_on_the_units_of_a_predictor(hsb):
    formula = "mathach ~ cses + (1 + cses | school)"
    ours = profile_intervals(lmmlib.fit_mixed(hsb, formula))
    milli = profile_intervals(lmmlib.fit_mixed(hsb.assign(cses=hsb["cses"] * 1000), formula))
    factor = np.where(ours.index.isin(["sd(cses)", "cses"]), 1e-3, 1.0)[:, None]
    np.testing.assert_allclose(milli[["lower", "upper"]].to_numpy(), ours[["lower", "upper"]].to_numpy() * factor,
                               rtol=1e-5)


def test_which_limits_the_table_and_unknown_parameters_are_named(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses + (1 + cses | school)")
    full = profile_intervals(fit)
    some = profile_intervals(fit, which=["fixed", "sd(cses)"])
    assert list(some.index) == ["sd(cses)", "Intercept", "cses"]
    assert np.allclose(some.to_numpy(), full.loc[some.index].to_numpy())
    assert list(likelihood_profile(fit, which="variance")["parameter"].unique()) == list(full.index[:4])
    with pytest.raises(InputError, match=r"no parameters named \['sd\(ses\)'\]; the parameters are"):
        profile_intervals(fit, which=["sd(ses)"])


def test_a_correlation_whose_standard_deviation_may_be_zero_has_no_bound(hsb):
    """By ML the interval of sd(female) reaches 0; where that SD is 0 the correlation has no
    effect, so no correlation can be rejected: its interval is [-1, 1].  (lme4 1.1-31 reports
    an upper end of 0.234 here: its profile, traced from the estimate, misses the branch at
    sd = 0, whose deviance is lower.)  By REML sd(female) is bounded away from 0 and so is the
    correlation."""
    formula = "mathach ~ cses + female + (1 + female | school)"
    ml = profile_intervals(lmmlib.fit_mixed(hsb, formula, method="ML"), which="variance")
    assert ml.loc["sd(female)", "lower"] == 0
    assert ml.loc["cor(Intercept,female)", ["lower", "upper"]].tolist() == [-1.0, 1.0]
    reml_fit = lmmlib.fit_mixed(hsb, formula, method="REML")
    reml = profile_intervals(reml_fit, which="variance")
    assert reml.loc["sd(female)", "lower"] > 0
    upper = reml.loc["cor(Intercept,female)", "upper"]
    assert upper < 1
    deviance = _Deviance(reml_fit, reml=True)
    estimates = deviance.natural(reml_fit)
    zeta = _Zeta(deviance, estimates, deviance(estimates), 1)
    assert zeta(upper) == pytest.approx(stats.norm.ppf(0.975), abs=1e-6)
    assert zeta.ceiling() - deviance(estimates) > stats.norm.ppf(0.975) ** 2
