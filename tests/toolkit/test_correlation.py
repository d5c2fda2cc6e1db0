"""Serially correlated level-1 errors (lmmlib.AR1, lmmlib.CAR1), checked against nlme's lme.

``reference/correlation_reference.R`` wrote ``correlation_reference.csv``: nlme 3.1's fits of
Orthodont with AR(1) and CAR(1) errors and of Fox's model of the Blackmore exercise data with
CAR(1) errors, by REML and ML.  Where nlme converges (Orthodont) the fits agree: log-likelihood
within 1e-6, estimates within 1e-4 relative (phi, a correlation, within 1e-4 absolute).  On
Blackmore nlme's default optimizer fails and its fallback stops short of the optimum; the test
shows, with the likelihood computed directly from the dense covariance matrices, that lmmlib's
optimum is higher.
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
from lmmlib import AR1, CAR1, InputError

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


def dense_loglik(fit: lmmlib.MixedFit, beta, psi, sigma2, phi, time: str) -> float:
    """The ML log-likelihood written out with each group's dense V_i = Z Psi Z' + sigma^2 R_i."""
    design = fit.model.design
    times = fit.model.design.frame.index.to_series().map(blackmore()[time]).to_numpy()
    total = 0.0
    for label in pd.unique(design.groups):
        rows = design.groups == label
        t = times[rows]
        v = design.z[rows] @ psi @ design.z[rows].T + sigma2 * phi ** np.abs(t[:, None] - t[None, :])
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


def test_the_optimum_in_phi_is_a_minimum_of_the_profiled_deviance():
    fit = fit_blackmore("REML")
    model, phi = fit.model, fit.correlation.phi

    def profiled(value: float) -> float:
        cp, logdet = model.cross_products_at(value)
        return lmmlib.engine.minimize_deviance(cp, reml=True).evaluation.deviance + logdet

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
        with pytest.raises(InputError, match="serially correlated errors"):
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

    from lmmlib.serial import _profiled_criterion
    fit = fit_blackmore("REML")
    interval = lmmlib.phi_interval(fit, level=0.9)
    criterion = _profiled_criterion(fit)
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
