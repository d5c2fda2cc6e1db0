"""Structured level-1 errors: serial correlation (lmmlib.AR1, lmmlib.CAR1) and a variance by stratum
(lmmlib.VarIdent), checked against nlme's lme.

``reference/correlation_reference.R`` wrote ``correlation_reference.csv``: nlme 3.1's fits of
Orthodont with AR(1) and CAR(1) errors, with a variance by Sex (and both), and of Fox's model of
the Blackmore exercise data with CAR(1) errors, and with a variance by group, by REML and ML.
Where nlme converges (Orthodont, and Blackmore with a random intercept) the fits agree:
log-likelihood within 1e-6, estimates and ratios of SDs within 1e-4 relative (phi, a correlation,
within 1e-4 absolute).  On Blackmore with a random slope nlme's default optimizer fails and its
fallback stops short of the optimum; the tests show, with the likelihood computed directly from
the dense covariance matrices, that lmmlib's optimum is higher, and that it is a minimum of the
deviance (gradient, profile).
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmbook.agreement import reference_models
from lmmlib import AR1, CAR1, InputError, VarIdent

REFERENCE = Path(__file__).parent / "reference" / "correlation_reference.csv"
#: lme4/nlme names of model-matrix columns -> patsy's
NAMES = {"(Intercept)": "Intercept", "SexMale": "Sex[T.Male]", "grouppatient": "group[T.patient]",
         "time:grouppatient": "time:group[T.patient]"}


@functools.cache
def reference(model: str, method: str) -> pd.Series:
    table = pd.read_csv(REFERENCE, comment="#")
    rows = table[(table["model"] == model) & (table["method"] == method)]
    return rows.set_index(["kind", "name"])["value"]


#: the loaders of the reference registry (tests/toolkit/reference/models.py)
orthodont, blackmore = reference_models().orthodont_by_age, reference_models().blackmore


BLACKMORE = "log_exercise ~ time * group + (time | subject)"


def fit_blackmore(method: str) -> lmmlib.MixedFit:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.BoundaryWarning)
        return lmmlib.fit_mixed(blackmore(), BLACKMORE, method=method, correlation=CAR1("age"))


def dense_loglik(fit: lmmlib.MixedFit, beta, psi, sigma2, phi, time: str, deltas: dict | None = None) -> float:
    """The ML log-likelihood written out with each group's dense V_i = Z Psi Z' + sigma^2 S_i R_i S_i,
    S_i = diag(the ratio of SDs *deltas* of each row's group of patients, or 1)."""
    design = fit.model.design
    rows_used = blackmore().loc[design.frame.index]
    times = rows_used[time].to_numpy()
    sd = np.ones(len(times)) if deltas is None else rows_used["group"].map(deltas).to_numpy()
    total = 0.0
    for label in pd.unique(design.groups):
        rows = design.groups == label
        t, s = times[rows], sd[rows]
        v = design.z[rows] @ psi @ design.z[rows].T + sigma2 * np.outer(s, s) * phi ** np.abs(t[:, None] - t[None, :])
        residual = design.y[rows] - design.x[rows] @ beta
        total += np.linalg.slogdet(v)[1] + residual @ np.linalg.solve(v, residual) + rows.sum() * np.log(2 * np.pi)
    return -total / 2


@pytest.mark.parametrize("model, structure", [("orthodont_ar1", AR1()), ("orthodont_car1", CAR1("age"))])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_orthodont_agrees_with_nlme(model, structure, method):
    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", method=method,
                           correlation=structure)
    expected = reference(model, method)
    assert expected[("control", "used")] == "default"
    assert fit.loglik == pytest.approx(float(expected[("fit", "loglik")]), abs=1e-6)
    assert fit.residual_sd == pytest.approx(float(expected[("fit", "sigma")]), rel=1e-4)
    assert fit.correlation.phi == pytest.approx(float(expected[("phi", "phi")]), abs=1e-4)
    assert fit.random_cov.iloc[0, 0] == pytest.approx(float(expected[("psi", "(Intercept)|(Intercept)")]), rel=1e-4)
    for (kind, name), value in expected.items():
        if kind in ("fixef", "fixef_se"):
            column = "estimate" if kind == "fixef" else "se"
            assert fit.fixed.loc[NAMES.get(name, name), column] == pytest.approx(float(value), rel=1e-4), name


def test_ar1_with_equal_spacing_is_car1_in_the_occasions():
    """Orthodont's ages are 2 years apart: AR(1) over the rows is CAR(1) in age with phi^(1/2)."""
    ar1 = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=AR1())
    car1 = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"))
    assert ar1.loglik == pytest.approx(car1.loglik, abs=1e-7)
    assert car1.correlation.phi ** 2 == pytest.approx(ar1.correlation.phi, abs=1e-5)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_blackmore_reaches_a_higher_optimum_than_nlme(method):
    """nlme's default (nlminb) fails on Fox's model; with optim it stops short.  lmmlib's optimum
    is higher, on a boundary (the random intercepts and slopes perfectly correlated)."""
    expected = reference("blackmore_car1", method)
    assert "convergence error" in expected[("default_failure", "message")]
    fit = fit_blackmore(method)
    assert fit.loglik > float(expected[("fit", "loglik")]) + 0.1
    assert "perfectly correlated" in fit.boundary[0]
    assert fit.gradient_norm < 1e-4
    if method == "ML":           # the likelihood written out densely gives both programs' numbers
        ours = dense_loglik(fit, fit.fixed["estimate"].to_numpy(), fit.random_cov.to_numpy(),
                            fit.residual_sd ** 2, fit.correlation.phi, "age")
        assert ours == pytest.approx(fit.loglik, abs=1e-8)
        names = ["(Intercept)", "grouppatient", "time", "time:grouppatient"]
        assert [NAMES.get(n, n) for n in names] == list(fit.fixed.index)
        beta = np.array([float(expected[("fixef", name)]) for name in names])
        covariance = float(expected[("psi", "time|(Intercept)")])
        psi = np.array([[float(expected[("psi", "(Intercept)|(Intercept)")]), covariance],
                        [covariance, float(expected[("psi", "time|time")])]])
        theirs = dense_loglik(fit, beta, psi, float(expected[("fit", "sigma")]) ** 2,
                              float(expected[("phi", "phi")]), "age")
        assert theirs == pytest.approx(float(expected[("fit", "loglik")]), abs=1e-8)


def profiled_by_the_engine(fit: lmmlib.MixedFit):
    """The fit's deviance as a function of phi, minimised over theta by the engine from its own start
    (not by the search that made the fit)."""
    model = fit.model

    def profiled(phi: float) -> float:
        cp, logdet = model.cross_products_at(np.array([model.correlation.free(phi)]))
        return lmmlib.engine.minimize_deviance(cp, reml=fit.method == "REML").evaluation.deviance + logdet
    return profiled


def test_the_optimum_in_phi_is_a_minimum_of_the_profiled_deviance():
    fit = fit_blackmore("REML")
    phi, profiled = fit.correlation.phi, profiled_by_the_engine(fit)
    at = profiled(phi)
    assert at == pytest.approx(-2 * fit.loglik, abs=1e-6)
    assert profiled(phi - 0.01) > at and profiled(phi + 0.01) > at


def test_the_units_of_time_do_not_change_the_fit():
    months = blackmore().assign(months=blackmore()["age"] * 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.BoundaryWarning)
        in_months = lmmlib.fit_mixed(months, BLACKMORE, correlation=CAR1("months"))
    in_years = fit_blackmore("REML")
    assert in_months.loglik == pytest.approx(in_years.loglik, abs=1e-6)
    assert in_months.correlation.phi ** 12 == pytest.approx(in_years.correlation.phi, rel=1e-4)


def test_serial_correlation_is_tested_by_the_likelihood_ratio():
    independent = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)")
    serial = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"))
    assert serial.n_parameters == independent.n_parameters + 1
    test = lmmlib.likelihood_ratio_test(serial, independent)
    assert test.df == 1
    assert test.g2 == pytest.approx(2 * (serial.loglik - independent.loglik), rel=1e-12)
    assert test.p_boundary == pytest.approx(test.p_naive / 2, rel=1e-12)     # phi = 0: CAR(1)'s boundary
    ar1 = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=AR1())
    assert lmmlib.likelihood_ratio_test(ar1, independent).p_boundary == pytest.approx(
        lmmlib.likelihood_ratio_test(ar1, independent).p_naive, rel=1e-12)  # phi = 0 inside (-1, 1)
    with pytest.raises(InputError, match="not nested"):
        lmmlib.likelihood_ratio_test(serial, ar1)
    assert "CAR(1) in 'age', phi = " in str(serial)


def test_bad_times_are_refused_with_what_to_do():
    data = orthodont().copy()
    formula = "distance ~ age + Sex + (1 | Subject)"
    shuffled = data.iloc[[1, 0] + list(range(2, len(data)))]
    with pytest.raises(InputError, match="times out of order.*sort the data"):
        lmmlib.fit_mixed(shuffled, formula, correlation=CAR1("age"))
    repeated = data.assign(age=data["age"].where(data.index != data.index[1], data["age"].iloc[0]))
    with pytest.raises(InputError, match="repeats a time"):
        lmmlib.fit_mixed(repeated, formula, correlation=CAR1("age"))
    missing = data.assign(when=data["age"].where(data.index != data.index[3]))
    with pytest.raises(InputError, match="missing values"):
        lmmlib.fit_mixed(missing, formula, correlation=CAR1("when"))
    with pytest.raises(InputError, match="no time column 'agee'"):
        lmmlib.fit_mixed(data, formula, correlation=CAR1("agee"))
    with pytest.raises(InputError, match="must hold numbers"):
        lmmlib.fit_mixed(data.assign(when="a"), formula, correlation=CAR1("when"))
    with pytest.raises(InputError, match="AR1\\(\\) or lmmlib.CAR1"):
        lmmlib.fit_mixed(data, formula, correlation="ar1")
    with pytest.raises(InputError, match="random"):
        lmmlib.fit_mixed(data, "distance ~ age", correlation=CAR1("age"))


def test_functions_that_would_ignore_the_correlation_refuse_the_fit():
    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"))
    rows = orthodont().head(2)
    for call in (lambda: lmmlib.profile_intervals(fit), lambda: lmmlib.bootstrap_intervals(fit, 10),
                 lambda: lmmlib.kenward_roger_tests(fit), lambda: lmmlib.satterthwaite_tests(fit),
                 lambda: lmmlib.predict(fit, rows, effects="marginal"), lambda: lmmlib.group_influence(fit),
                 lambda: lmmlib.residuals(fit, "marginal", "standardized")):
        with pytest.raises(InputError, match="structured level-1 errors \\(CAR\\(1\\) in 'age'\\)"):
            call()
    assert len(lmmlib.residuals(fit)) == len(orthodont())      # conditional residuals are fine


def test_the_marginal_covariance_of_a_group_includes_the_serial_correlation():
    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"))
    rows = orthodont()[orthodont()["Subject"] == "M01"]
    v = lmmlib.marginal_covariance(fit, rows).to_numpy()
    psi, sigma2, phi = fit.random_cov.iloc[0, 0], fit.residual_sd ** 2, fit.correlation.phi
    ages = rows["age"].to_numpy()
    assert v == pytest.approx(psi + sigma2 * phi ** np.abs(ages[:, None] - ages[None, :]), rel=1e-12)
    correlation = lmmlib.marginal_correlation(fit, rows).to_numpy()
    assert np.diag(correlation) == pytest.approx(1.0)
    assert correlation[0, 1] > correlation[0, 2] > correlation[0, 3] > psi / (psi + sigma2) - 1e-12
    ar1 = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=AR1())
    v = lmmlib.marginal_covariance(ar1, rows).to_numpy()
    assert v[0, 2] - ar1.random_cov.iloc[0, 0] == pytest.approx(ar1.residual_sd ** 2 * ar1.correlation.phi ** 2)
    with pytest.raises(InputError, match="'age'"):
        lmmlib.marginal_covariance(fit, rows.drop(columns="age"))


def test_the_profile_interval_of_phi_ends_where_the_deviance_has_risen_by_the_chi_square_quantile():
    from scipy import stats

    fit = fit_blackmore("REML")
    interval = lmmlib.phi_interval(fit, level=0.9)
    criterion = profiled_by_the_engine(fit)
    minimum = -2 * fit.loglik
    assert interval["lower"] < fit.correlation.phi < interval["upper"]
    for end in ("lower", "upper"):
        assert criterion(interval[end]) - minimum == pytest.approx(stats.chi2.ppf(0.9, 1), abs=1e-6)
    wider = lmmlib.phi_interval(fit, level=0.99)
    assert wider["lower"] < interval["lower"] and interval["upper"] < wider["upper"]


def test_an_interval_that_reaches_the_edge_of_phi_s_range_stops_there():
    """Orthodont with CAR(1) errors in age: phi = 0.24, and phi = 0 (no serial correlation) is not rejected."""
    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"))
    interval = lmmlib.phi_interval(fit)
    assert interval["lower"] == 0.0 and 0 < interval["upper"] < 1
    with pytest.raises(InputError, match="serially correlated errors"):
        lmmlib.phi_interval(lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)"))
    with pytest.raises(InputError, match="level must lie"):
        lmmlib.phi_interval(fit, level=1.5)


def test_a_serial_correlation_at_the_edge_of_its_range_is_reported_as_a_boundary():
    """Errors alternating in sign within each group: CAR(1) cannot be negative, so phi goes to 0."""
    rng = np.random.default_rng(7)
    groups, occasions = 60, 5
    group = np.repeat(np.arange(groups), occasions)
    alternating = rng.normal(size=(groups, 1)) * (-1.0) ** np.arange(occasions) * 0.8
    y = 2 + rng.normal(size=groups)[group] + alternating.ravel() + rng.normal(size=groups * occasions)
    data = pd.DataFrame({"y": y, "g": group, "t": np.tile(np.arange(occasions, dtype=float), groups)})
    with pytest.warns(lmmlib.BoundaryWarning, match="edge of its range"):
        fit = lmmlib.fit_mixed(data, "y ~ 1 + (1 | g)", correlation=CAR1("t"))
    assert fit.correlation.phi < 1e-4
    assert any("serial correlation phi" in message for message in fit.boundary)
    assert "serial correlation phi" in str(fit)


# ------------------------------------------------------------------ a variance by stratum (VarIdent)

VARIDENT = {
    "orthodont_varident": (orthodont, "distance ~ age + Sex + (1 | Subject)", None, "Sex"),
    "orthodont_slope_varident": (orthodont, "distance ~ age + Sex + (age | Subject)", None, "Sex"),
    "orthodont_car1_varident": (orthodont, "distance ~ age + Sex + (1 | Subject)", CAR1("age"), "Sex"),
    "blackmore_ri_car1_varident": (blackmore, "log_exercise ~ time * group + (1 | subject)", CAR1("age"), "group"),
}


def deltas_of(expected: pd.Series) -> dict:
    """nlme's ratios of SDs by stratum, its reference at 1."""
    ratios = {name: float(value) for (kind, name), value in expected.items() if kind == "delta"}
    return {expected[("reference", "level")]: 1.0, **ratios}


@pytest.mark.parametrize("model", VARIDENT)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_variances_by_stratum_agree_with_nlme(model, method):
    data, formula, correlation, stratum = VARIDENT[model]
    expected = reference(model, method)
    assert expected[("control", "used")] == "default"
    fit = lmmlib.fit_mixed(data(), formula, method=method, correlation=correlation,
                           variance=VarIdent(stratum, reference=expected[("reference", "level")]))
    assert fit.loglik == pytest.approx(float(expected[("fit", "loglik")]), abs=1e-6)
    assert fit.residual_sd == pytest.approx(float(expected[("fit", "sigma")]), rel=1e-4)
    assert fit.variance.ratios.to_dict() == pytest.approx(deltas_of(expected), rel=1e-4)
    if correlation is not None:
        assert fit.correlation.phi == pytest.approx(float(expected[("phi", "phi")]), abs=1e-4)
    for (kind, name), value in expected.items():
        if kind in ("fixef", "fixef_se"):
            column = "estimate" if kind == "fixef" else "se"
            assert fit.fixed.loc[NAMES.get(name, name), column] == pytest.approx(float(value), rel=1e-4), name
        if kind == "psi":
            row, col = (term.replace("(Intercept)", "Intercept") for term in name.split("|"))
            assert fit.random_cov.loc[row, col] == pytest.approx(float(value), rel=1e-4), name
    assert fit.n_parameters == len(fit.fixed) + len(fit.covariance_pairs) + 1 + (correlation is not None) + 1


def test_the_reference_stratum_is_that_of_the_first_row_as_in_nlme():
    expected = reference("orthodont_varident", "REML")
    formula = "distance ~ age + Sex + (1 | Subject)"
    default = lmmlib.fit_mixed(orthodont(), formula, variance=VarIdent("Sex"))
    assert default.variance.ratios.index[0] == orthodont()["Sex"].iloc[0] == expected[("reference", "level")]
    male = lmmlib.fit_mixed(orthodont(), formula, variance=VarIdent("Sex", reference="Male"))
    assert list(male.variance.ratios.index) == ["Male", "Female"]
    assert male.loglik == pytest.approx(default.loglik, abs=1e-8)
    assert male.variance.ratios["Female"] == pytest.approx(1 / default.variance.ratios["Male"], rel=1e-6)
    assert male.residual_sd == pytest.approx(default.residual_sd * default.variance.ratios["Male"], rel=1e-6)
    assert "Variance of the errors: SD ratios by 'Sex' (Male = 1): Female 0.4541" in str(male)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_blackmore_with_a_variance_by_group_reaches_a_higher_optimum_than_nlme(method):
    """Fox's model with CAR(1) errors and a variance by group: nlme's default optimizer fails, optim
    stops short.  lmmlib's optimum is higher (a boundary: the random intercepts and slopes perfectly
    correlated), its gradient is zero, and the deviance minimised over everything else rises on each
    side of the ratio of SDs and of phi."""
    expected = reference("blackmore_car1_varident", method)
    assert "convergence error" in expected[("default_failure", "message")]
    assert expected[("control", "used")] == "optim"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.BoundaryWarning)
        fit = lmmlib.fit_mixed(blackmore(), BLACKMORE, method=method, correlation=CAR1("age"),
                               variance=VarIdent("group"))
    assert fit.loglik > float(expected[("fit", "loglik")]) + 1.0
    assert "perfectly correlated" in fit.boundary[0] and fit.gradient_norm < 1e-4
    criterion = lmmlib.serial.MixedCriterion(fit.model, method == "REML")
    errors, minimum = fit.model.errors, -2 * fit.loglik
    free = errors.free(fit.correlation, fit.variance)
    for k in range(errors.size):
        for step in (-0.01, 0.01):
            moved = free.copy()
            moved[k] += step
            other = lmmlib.serial.minimize_errors(criterion, errors, (moved, fit.internal_theta), fixed=(k,))
            assert other.deviance > minimum + 1e-6
    if method == "ML":           # the likelihood written out densely gives both programs' numbers
        ours = dense_loglik(fit, fit.fixed["estimate"].to_numpy(), fit.random_cov.to_numpy(), fit.residual_sd ** 2,
                            fit.correlation.phi, "age", fit.variance.ratios.to_dict())
        assert ours == pytest.approx(fit.loglik, abs=1e-8)
        names = ["(Intercept)", "grouppatient", "time", "time:grouppatient"]
        beta = np.array([float(expected[("fixef", name)]) for name in names])
        covariance = float(expected[("psi", "time|(Intercept)")])
        psi = np.array([[float(expected[("psi", "(Intercept)|(Intercept)")]), covariance],
                        [covariance, float(expected[("psi", "time|time")])]])
        theirs = dense_loglik(fit, beta, psi, float(expected[("fit", "sigma")]) ** 2, float(expected[("phi", "phi")]),
                              "age", deltas_of(expected))
        assert theirs == pytest.approx(float(expected[("fit", "loglik")]), abs=1e-8)


def test_a_variance_by_stratum_is_tested_by_the_likelihood_ratio():
    formula = "distance ~ age + Sex + (1 | Subject)"
    one = lmmlib.fit_mixed(orthodont(), formula, correlation=CAR1("age"))
    two = lmmlib.fit_mixed(orthodont(), formula, correlation=CAR1("age"), variance=VarIdent("Sex"))
    assert two.n_parameters == one.n_parameters + 1 and two.aic < one.aic
    test = lmmlib.likelihood_ratio_test(two, one)
    assert test.df == 1 and test.removed == ("delta(Sex=Male)",)
    assert test.g2 == pytest.approx(2 * (two.loglik - one.loglik), rel=1e-12)
    assert test.p_boundary == test.p_naive                 # delta = 1 lies inside (0, infinity)
    without_serial = lmmlib.likelihood_ratio_test(two, lmmlib.fit_mixed(orthodont(), formula, variance=VarIdent("Sex")))
    assert without_serial.removed == ("phi(CAR(1) in 'age')",)
    assert without_serial.p_boundary == pytest.approx(without_serial.p_naive / 2, rel=1e-12)
    with pytest.raises(InputError, match="not nested"):
        lmmlib.likelihood_ratio_test(one, lmmlib.fit_mixed(orthodont(), formula, variance=VarIdent("Sex")))


def test_the_profile_interval_of_a_ratio_of_sds_ends_where_the_deviance_has_risen_by_the_quantile():
    """A random intercept and a variance by Sex: at each end, the deviance minimised over theta by the
    engine (not by the search that made the interval) has risen by the chi-square quantile."""
    from scipy import stats

    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", variance=VarIdent("Sex"))
    interval = lmmlib.sd_ratio_intervals(fit, level=0.9)
    assert list(interval.index) == ["Male"] and list(interval.columns) == ["estimate", "lower", "upper"]
    male = interval.loc["Male"]
    assert male["lower"] < fit.variance.ratios["Male"] == male["estimate"] < male["upper"]
    for end in ("lower", "upper"):
        cp, logdet = fit.model.cross_products_at(np.array([np.log(male[end])]))
        rise = lmmlib.engine.minimize_deviance(cp, reml=True).evaluation.deviance + logdet + 2 * fit.loglik
        assert rise == pytest.approx(stats.chi2.ppf(0.9, 1), abs=1e-6)
    with pytest.raises(InputError, match="variances by stratum"):
        lmmlib.sd_ratio_intervals(lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)"))


def test_bad_strata_are_refused_with_what_to_do():
    data, formula = orthodont(), "distance ~ age + Sex + (1 | Subject)"
    with pytest.raises(InputError, match="no column 'Gender'"):
        lmmlib.fit_mixed(data, formula, variance=VarIdent("Gender"))
    with pytest.raises(InputError, match="takes one value only"):
        lmmlib.fit_mixed(data.assign(site="A"), formula, variance=VarIdent("site"))
    lonely = data.assign(site=np.where(data.index == data.index[5], "B", "A"))
    with pytest.raises(InputError, match=r"strata \['B'\] of 'site' have one observation each.*merge them"):
        lmmlib.fit_mixed(lonely, formula, variance=VarIdent("site"))
    gaps = data.assign(site=data["Sex"].where(data.index != data.index[2]))
    with pytest.raises(InputError, match="'site' has missing values"):
        lmmlib.fit_mixed(gaps, formula, variance=VarIdent("site"))
    with pytest.raises(InputError, match=r"reference 'male' is not a stratum of 'Sex' \(strata: \['Female', 'Male'\]"):
        lmmlib.fit_mixed(data, formula, variance=VarIdent("Sex", reference="male"))
    with pytest.raises(InputError, match="name of the column of strata"):
        VarIdent(["Sex"])
    with pytest.raises(InputError, match="variance must be lmmlib.VarIdent"):
        lmmlib.fit_mixed(data, formula, variance="Sex")


def test_functions_that_would_ignore_a_variance_by_stratum_refuse_the_fit():
    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", variance=VarIdent("Sex"))
    for call in (lambda: lmmlib.profile_intervals(fit), lambda: lmmlib.bootstrap_intervals(fit, 10),
                 lambda: lmmlib.kenward_roger_tests(fit), lambda: lmmlib.satterthwaite_tests(fit),
                 lambda: lmmlib.predict(fit, orthodont().head(2), effects="marginal"),
                 lambda: lmmlib.group_influence(fit), lambda: lmmlib.loglik_at(fit, fit.random_cov, 1.0),
                 lambda: lmmlib.residuals(fit, "marginal", "standardized"), lambda: lmmlib.shrinkage(fit)):
        with pytest.raises(InputError, match="structured level-1 errors \\(variance by 'Sex'\\)"):
            call()


def test_a_ratio_of_sds_at_the_edge_of_its_range_is_reported_as_a_boundary():
    """The girls of stratum 'exact' all have the same response: their residuals can be 0, so the
    likelihood grows without end as their SD goes to 0."""
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(30), 4)
    stratum = np.where(group < 24, "noisy", "exact")
    y = np.where(stratum == "noisy", rng.normal(size=30)[group] + rng.normal(size=120), 5.0)
    data = pd.DataFrame({"y": y, "g": group, "s": stratum})
    with pytest.warns(lmmlib.BoundaryWarning, match="edge of its range: exact \\(0\\)"):
        fit = lmmlib.fit_mixed(data, "y ~ s + (1 | g)", variance=VarIdent("s"))
    assert fit.variance.ratios["exact"] < 1e-4
    assert any("residual SD of a stratum" in message for message in fit.boundary)


def test_the_search_is_guarded_against_a_second_minimum_in_phi():
    """A criterion with two minima in phi's free coordinate: a shallow one at -0.5, around the start
    (phi = 0), and the deeper one at 1.8.  Searched from the start alone the deviance ends in the
    shallow one; the grid of the guard finds the deeper one."""
    from lmmlib.serial import ErrorStructure, minimize_errors

    class TwoMinima:
        theta_start, n_obs = np.empty(0), 100

        @staticmethod
        def value(theta, free):
            u = free[0]
            return float(-np.exp(-(u + 0.5) ** 2 / 0.3) - 1.5 * np.exp(-(u - 1.8) ** 2 / 0.3) + 0.05 * u ** 2)

        def joint(self, theta, free):
            return self.value(theta, free), np.empty(0)

        @staticmethod
        def away_from_zero_columns(theta):
            return theta

    errors = ErrorStructure.read(AR1(), None, orthodont(), orthodont().index,
                                 pd.factorize(orthodont()["Subject"])[0], "Subject")
    guarded = minimize_errors(TwoMinima(), errors)
    alone = minimize_errors(TwoMinima(), errors, start=(np.zeros(1), np.empty(0)))
    assert guarded.free[0] == pytest.approx(1.8, abs=0.05) and alone.free[0] == pytest.approx(-0.5, abs=0.05)
    assert guarded.deviance < alone.deviance - 0.3
    assert abs(guarded.slope[0]) < 1e-3


def test_the_interval_of_phi_minimises_over_the_ratios_of_sds_too():
    """CAR(1) errors and a variance by Sex: at each end of phi's interval, the deviance minimised over
    the ratio of SDs (a scalar search here) and over theta (by the engine) has risen by the quantile."""
    from scipy import optimize, stats

    fit = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"),
                           variance=VarIdent("Sex"))
    interval = lmmlib.phi_interval(fit)
    assert interval["lower"] == 0.0 < fit.correlation.phi < interval["upper"] < 1     # phi = 0 is not rejected
    model = fit.model

    def deviance(phi: float, log_delta: float) -> float:
        cp, logdet = model.cross_products_at(np.array([CAR1.free(phi), log_delta]))
        return lmmlib.engine.minimize_deviance(cp, reml=True).evaluation.deviance + logdet

    rises = {end: optimize.minimize_scalar(lambda u, phi=interval[end]: deviance(phi, u), bounds=(-1.0, 2.0),
                                           method="bounded", options={"xatol": 1e-8}).fun + 2 * fit.loglik
             for end in ("lower", "upper")}
    assert 0 < rises["lower"] < stats.chi2.ppf(0.95, 1)
    assert rises["upper"] == pytest.approx(stats.chi2.ppf(0.95, 1), abs=1e-5)


def test_marginal_covariance_and_standardized_residuals_use_the_variance_by_stratum():
    """V_i = Z Psi Z' + sigma^2 S R S, and conditional residuals divided by sigma times the row's ratio."""
    data = orthodont()
    fit = lmmlib.fit_mixed(data, "distance ~ age + Sex + (1 | Subject)", correlation=CAR1("age"),
                           variance=lmmlib.VarIdent("Sex"))
    ratios = fit.variance.ratios
    boy = data[data["Subject"] == data.loc[data["Sex"] == "Male", "Subject"].iloc[0]]
    psi, sigma, phi = float(fit.random_cov.iloc[0, 0]), fit.residual_sd, fit.correlation.phi
    lags = np.abs(boy["age"].to_numpy()[:, None] - boy["age"].to_numpy()[None, :])
    expected = psi + (sigma * ratios["Male"]) ** 2 * phi ** lags
    np.testing.assert_allclose(lmmlib.marginal_covariance(fit, boy).to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(lmmlib.marginal_variance(fit, boy).to_numpy(), np.diag(expected), rtol=1e-12)
    standardized = lmmlib.residuals(fit, "conditional", "standardized")
    scale = sigma * data.loc[fit.residuals.index, "Sex"].map(ratios)
    np.testing.assert_allclose(standardized.to_numpy(), (fit.residuals / scale).to_numpy(), rtol=1e-12)
    assert ratios["Male"] != pytest.approx(1.0, abs=0.05)
    with pytest.raises(lmmlib.InputError, match="did not estimate a variance for"):
        lmmlib.marginal_variance(fit, boy.assign(Sex="Other"))
