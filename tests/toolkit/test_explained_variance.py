"""Explained variance (Snijders & Bosker) and proportional reduction in variance components.

Three kinds of check:

* against R: ``reference/explained_variance_reference.R`` computed both quantities from
  lme4's ``VarCorr`` of the same HSB models, by REML and ML, and stored them in
  ``explained_variance_reference.csv`` (the tests run without R);
* against a hand computation: in balanced data a random-intercept model with a
  predictor that varies only within groups has closed-form REML estimates (the ANOVA
  estimates), so both R^2 and both reductions can be written down; among them the
  level-2 R^2 is exactly zero;
* unusable input is refused with an InputError that names the problem.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib

REFERENCE = Path(__file__).parent / "reference" / "explained_variance_reference.csv"
INTERCEPT_MODELS = {
    "empty": "mathach ~ 1", "ses": "mathach ~ ses", "cses": "mathach ~ cses",
    "meanses": "mathach ~ meanses", "full": "mathach ~ cses + meanses + sector",
}
SLOPE_MODELS = {
    "slope_base": "mathach ~ cses + (1 + cses | school)",
    "slope_full": "mathach ~ cses + meanses + sector + meanses:cses + sector:cses + (1 + cses | school)",
}
#: lmmlib and lme4 agree on the variance components to about 1e-6 relative on these
#: models; R^2 and reductions are differences of ratios of them, so an absolute tolerance.
TOLERANCE = 1e-5


@functools.cache
def reference() -> pd.Series:
    table = pd.read_csv(REFERENCE, skiprows=1, keep_default_na=False)
    return table.set_index(["model", "method", "quantity"])["value"].astype(float)


@functools.cache
def hsb_fit(name: str, method: str) -> lmmlib.MixedFit:
    import lmmbook
    hsb = lmmbook.load_hsb()
    formula = SLOPE_MODELS.get(name) or f"{INTERCEPT_MODELS[name]} + (1 | school)"
    return lmmlib.fit_mixed(hsb, formula, method=method)


def test_the_reference_uses_the_harmonic_mean_of_the_school_sizes(hsb):
    sizes = hsb.groupby("school").size()
    assert reference()[("hsb", "", "n_harmonic")] == pytest.approx(len(sizes) / (1 / sizes).sum(), rel=1e-12)


@pytest.mark.parametrize("method", ["REML", "ML"])
@pytest.mark.parametrize("model", ["ses", "cses", "meanses", "full"])
def test_r2_and_reductions_agree_with_lme4(model, method):
    fit, empty = hsb_fit(model, method), hsb_fit("empty", method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.LmmlibWarning)       # cses: a tiny negative R^2 at level 2
        r2 = lmmlib.explained_variance(fit, empty)
    reduction = lmmlib.variance_reduction(fit, empty)
    expected = reference()
    assert r2.loc["level 2", "n"] == pytest.approx(expected[("hsb", "", "n_harmonic")], rel=1e-12)
    for level in ("level 1", "level 2"):
        assert r2.loc[level, "R2"] == pytest.approx(expected[(model, method, f"R2:{level}")], abs=TOLERANCE)
    for component in ("Intercept", "residual"):
        assert reduction.loc[component, "fit"] == pytest.approx(expected[(model, method, f"var:{component}")],
                                                                rel=TOLERANCE)
        assert reduction.loc[component, "reduction"] == pytest.approx(
            expected[(model, method, f"reduction:{component}")], abs=TOLERANCE)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_reductions_of_a_random_slope_model_agree_with_lme4(method):
    table = lmmlib.variance_reduction(hsb_fit("slope_full", method), hsb_fit("slope_base", method))
    assert table.index.tolist() == ["Intercept", "cses", "residual"]
    for component in table.index:
        assert table.loc[component, "reduction"] == pytest.approx(
            reference()[("slope_full", method, f"reduction:{component}")], abs=TOLERANCE)


def test_a_group_centred_predictor_can_raise_the_intercept_variance():
    """HSB: cses lowers sigma^2 and raises tau^2; the reduction is reported negative, not clipped."""
    table = lmmlib.variance_reduction(hsb_fit("cses", "REML"), hsb_fit("empty", "REML"))
    assert table.loc["Intercept", "reduction"] < 0 < table.loc["residual", "reduction"]


# --------------------------------------------------------------------------- by hand
@pytest.fixture(scope="module")
def balanced():
    """two_level_data (30 groups of 8) with a predictor centred within groups."""
    data = lmmlib.center_within_groups(lmmlib.examples.two_level_data(), "x", "group")
    return data.rename(columns={"x_centered": "xc"})


def anova_estimates(data: pd.DataFrame, slope: bool) -> tuple[float, float]:
    """REML (sigma^2, tau^2) of y ~ [xc] + (1 | group) in balanced data, from sums of squares.

    The REML likelihood splits into the within-group contrasts (sigma^2 alone, N - m - p_w
    degrees of freedom after the within slope) and the group means (variance tau^2 +
    sigma^2 / n, m - 1 degrees of freedom), so in the interior the estimates are the
    ANOVA estimates.
    """
    groups = data.groupby("group")
    m, n = groups.ngroups, len(data) // groups.ngroups
    y_within = data["y"] - groups["y"].transform("mean")
    within_ss = float((y_within ** 2).sum())
    df_within = len(data) - m
    if slope:
        sxy, sxx = float((data["xc"] * y_within).sum()), float((data["xc"] ** 2).sum())
        within_ss -= sxy ** 2 / sxx
        df_within -= 1
    sigma2 = within_ss / df_within
    mean_square_between = n * float(groups["y"].mean().var(ddof=1))
    return sigma2, (mean_square_between - sigma2) / n


def test_r2_and_reductions_computed_by_hand(balanced):
    empty = lmmlib.fit_mixed(balanced, "y ~ 1 + (1 | group)")
    fit = lmmlib.fit_mixed(balanced, "y ~ xc + (1 | group)")
    (s0, t0), (s1, t1) = anova_estimates(balanced, False), anova_estimates(balanced, True)
    assert fit.residual_sd ** 2 == pytest.approx(s1, rel=1e-6)
    assert float(fit.random_cov.iloc[0, 0]) == pytest.approx(t1, rel=1e-6)
    r2 = lmmlib.explained_variance(fit, empty)
    assert r2["n"].tolist() == [1, 8]                     # harmonic mean of equal sizes
    assert r2.loc["level 1", "R2"] == pytest.approx(1 - (s1 + t1) / (s0 + t0), abs=1e-7)
    # sigma^2 / n + tau^2 is the mean square between groups over n in both models
    assert r2.loc["level 2", "baseline"] == pytest.approx(r2.loc["level 2", "fit"], rel=1e-6)
    assert r2.loc["level 2", "R2"] == pytest.approx(0.0, abs=1e-6)
    reduction = lmmlib.variance_reduction(fit, empty)
    assert reduction.loc["residual", "reduction"] == pytest.approx((s0 - s1) / s0, abs=1e-7)
    assert reduction.loc["Intercept", "reduction"] == pytest.approx((t0 - t1) / t0, abs=1e-6)
    # a larger representative group size leaves the level-1 row alone
    with pytest.warns(lmmlib.LmmlibWarning, match="negative at level 2"):
        other = lmmlib.explained_variance(fit, empty, group_size=20)
    assert other.loc["level 1", "R2"] == r2.loc["level 1", "R2"] and other.loc["level 2", "n"] == 20


def test_a_negative_r2_is_reported_with_a_warning_not_clipped(balanced):
    """A within-group predictor with a least-squares slope of exactly zero: sigma^2 rises by one
    lost degree of freedom, so R^2 at level 1 is slightly negative."""
    rng = np.random.default_rng(1)
    noise = lmmlib.center_within_groups(balanced.assign(z=rng.normal(size=len(balanced))), "z", "group")
    z, y_within = noise["z_centered"], balanced["y"] - balanced.groupby("group")["y"].transform("mean")
    noise["zc"] = z - (z * y_within).sum() / (y_within ** 2).sum() * y_within
    empty = lmmlib.fit_mixed(noise, "y ~ 1 + (1 | group)")
    fit = lmmlib.fit_mixed(noise, "y ~ zc + (1 | group)")
    assert abs(fit.fixed.loc["zc", "estimate"]) < 1e-10
    s0, s1 = empty.residual_sd ** 2, fit.residual_sd ** 2
    with pytest.warns(lmmlib.LmmlibWarning, match="negative at level 1"):
        r2 = lmmlib.explained_variance(fit, empty)
    m, n_obs = balanced["group"].nunique(), len(balanced)
    assert s1 / s0 == pytest.approx((n_obs - m) / (n_obs - m - 1), rel=1e-6)
    assert r2.loc["level 1", "R2"] < 0


# --------------------------------------------------------------------------- refused
@pytest.fixture(scope="module")
def small_fits(balanced):
    fit = functools.partial(lmmlib.fit_mixed, balanced)
    return {
        "empty": fit("y ~ 1 + (1 | group)"), "x": fit("y ~ x + (1 | group)"),
        "empty ML": fit("y ~ 1 + (1 | group)", method="ML"),
        "slope": fit("y ~ x + (1 + x | group)"), "empty slope": fit("y ~ 1 + (1 + x | group)"),
        "empty slope xc": lmmlib.fit_mixed(balanced.assign(x=balanced["xc"]), "y ~ 1 + (1 + x | group)"),
        "subset": lmmlib.fit_mixed(balanced.iloc[8:], "y ~ 1 + (1 | group)"),
    }


@pytest.mark.parametrize("fit, baseline, message", [
    ("x", "empty ML", "the fit is REML and the baseline ML"),
    ("x", "subset", "not made from the same data.*different rows"),
    ("slope", "empty", r"random-intercept model with the same fixed part, 'y ~ x \+ \(1 \| group\)'"),
    ("x", "x", "the baseline must be the empty model 'y ~ 1 \\+ \\(1 \\| group\\)'"),
])
def test_explained_variance_refuses(small_fits, fit, baseline, message):
    with pytest.raises(lmmlib.InputError, match=message):
        lmmlib.explained_variance(small_fits[fit], small_fits[baseline])


@pytest.mark.parametrize("size", [0.5, 0, -3, float("nan"), float("inf"), "8", True])
def test_a_group_size_must_be_a_number_of_at_least_one(small_fits, size):
    with pytest.raises(lmmlib.InputError, match="group_size must be a number of at least 1"):
        lmmlib.explained_variance(small_fits["x"], small_fits["empty"], group_size=size)


@pytest.mark.parametrize("fit, baseline, message", [
    ("slope", "empty", "random effects \\['Intercept'\\] and \\['Intercept', 'x'\\]"),
    ("slope", "empty slope xc", "same names but other values"),
    ("x", "empty ML", "REML and the baseline ML"),
    ("x", "subset", "different rows"),
])
def test_variance_reduction_refuses(small_fits, fit, baseline, message):
    with pytest.raises(lmmlib.InputError, match=message):
        lmmlib.variance_reduction(small_fits[fit], small_fits[baseline])


def test_what_is_not_a_fit_is_refused(small_fits):
    with pytest.raises(lmmlib.InputError, match="must be a fit of lmmlib.fit_mixed, not DataFrame"):
        lmmlib.explained_variance(small_fits["x"], pd.DataFrame())
    with pytest.raises(lmmlib.InputError, match="the fit must be a fit"):
        lmmlib.variance_reduction(None, small_fits["empty"])


def test_a_random_slope_model_with_the_same_random_part_is_accepted(small_fits):
    table = lmmlib.variance_reduction(small_fits["slope"], small_fits["empty slope"])
    assert table.index.tolist() == ["Intercept", "x", "residual"]
    assert np.allclose(table["reduction"], 1 - table["fit"] / table["baseline"])
