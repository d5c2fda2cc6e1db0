"""fit_mixed: the optimum is reached and checked, boundaries are reported, bad input is refused."""
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import lmmlib
from lmmlib import fitting


def closed_form_random_intercept_optimum(y, groups, reml):
    """Independent check: maximise the one-way random-effects likelihood from group summaries."""
    frame = pd.DataFrame({"y": y, "g": groups}).groupby("g")["y"]
    n, ybar = frame.size().to_numpy(), frame.mean().to_numpy()
    within = frame.apply(lambda v: ((v - v.mean()) ** 2).sum()).to_numpy()

    def minus_loglik(log_variances):
        s2, p2 = np.exp(log_variances)
        lam = s2 + n * p2
        weight = n / lam
        beta = (weight * ybar).sum() / weight.sum()
        quad = within / s2 + n * (ybar - beta) ** 2 / lam
        loglik = -0.5 * (((n - 1) * np.log(s2) + np.log(lam)).sum() + quad.sum() + n.sum() * np.log(2 * np.pi))
        if reml:
            loglik += -0.5 * np.log(weight.sum()) + 0.5 * np.log(2 * np.pi)
        return -loglik

    best = minimize(minus_loglik, [np.log(np.var(y)), np.log(np.var(ybar))], method="Nelder-Mead",
                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    return np.sqrt(np.exp(best.x[1])), np.sqrt(np.exp(best.x[0])), -best.fun


@pytest.mark.parametrize("method", ["ML", "REML"])
def test_random_intercept_fit_reaches_the_closed_form_optimum(hsb, method):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school", method=method)
    psi, sigma, loglik = closed_form_random_intercept_optimum(hsb["mathach"], hsb["school"], method == "REML")
    assert fit.random_sd["Intercept"] == pytest.approx(psi, abs=1e-5)
    assert fit.residual_sd == pytest.approx(sigma, abs=1e-5)
    assert fit.loglik == pytest.approx(loglik, abs=1e-6)


@pytest.fixture(scope="module")
def random_slope_fits(hsb):
    return lmmlib.compare_ml_reml(hsb, "mathach ~ cses", group="school", random="1 + cses")


def test_random_slope_fit_is_not_the_short_lbfgs_stop(random_slope_fits):
    # L-BFGS alone stops about 2.4 units below the optimum on this model and reports success;
    # statsmodels' default chain stops about 100 units below.
    for fit in (random_slope_fits.ml, random_slope_fits.reml):
        attempts = fit.attempts["loglik"]
        assert fit.loglik == attempts[fit.attempts["kept"]].iloc[0] == attempts.max()
        assert fit.loglik - attempts["lbfgs"] > 1.0
        assert fit.gradient_norm < fitting.GRADIENT_TOLERANCE
    assert random_slope_fits.ml.loglik == pytest.approx(-23355.4894, abs=1e-3)
    assert random_slope_fits.reml.loglik == pytest.approx(-23357.1170, abs=1e-3)


def test_optimizers_that_stop_short_raise_instead_of_returning(hsb, monkeypatch):
    monkeypatch.setattr(fitting, "OPTIMIZERS", ("lbfgs",))
    monkeypatch.setattr(fitting, "POLISH_OPTIONS", {"maxiter": 0})
    with pytest.raises(lmmlib.ConvergenceError, match="did not reach an optimum"):
        lmmlib.fit_mixed(hsb, "mathach ~ cses", group="school", random="1 + cses", method="ML")


def test_fixed_effect_standard_errors_are_those_of_the_fixed_effects_block():
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(30), rng.integers(4, 12, size=30))
    x = rng.normal(size=groups.size)
    b = rng.normal(size=(30, 2)) * [1.5, 1.0]
    y = 1 + 2 * x + b[groups, 0] + b[groups, 1] * x + rng.normal(size=groups.size)
    data = pd.DataFrame({"y": y, "x": x, "g": groups})
    fit = lmmlib.fit_mixed(data, "y ~ x", group="g", random="1 + x")
    assert fit.boundary == ()
    X = np.column_stack([np.ones_like(x), x])
    psi, sigma2 = fit.random_cov.to_numpy(), fit.residual_sd ** 2
    V = np.zeros((x.size, x.size))
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        V[np.ix_(rows, rows)] = X[rows] @ psi @ X[rows].T + sigma2 * np.eye(rows.size)
    dense = np.linalg.inv(X.T @ np.linalg.solve(V, X))
    np.testing.assert_allclose(fit.fixed["se"], np.sqrt(np.diag(dense)), rtol=1e-10)


def test_zero_between_group_variance_is_reported_as_boundary():
    # every group holds the same values, so the group means are identical
    values = [1.0, 2.0, 4.0, 7.0]
    data = pd.DataFrame({"y": values * 6, "g": np.repeat(np.arange(6), 4)})
    with pytest.warns(lmmlib.BoundaryWarning, match="estimated as 0"):
        fit = lmmlib.fit_mixed(data, "y ~ 1", group="g", method="ML")
    assert fit.random_sd["Intercept"] < 1e-3
    assert fit.boundary and "'Intercept'" in fit.boundary[0]
    assert "Boundary:" in str(fit)


def test_interior_fit_has_no_boundary_message(hsb):
    assert lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school").boundary == ()


def test_parameters_table_lists_fixed_random_and_residual(random_slope_fits):
    table = random_slope_fits.reml.parameters()
    assert table.index.tolist() == ["Intercept", "cses", "sd(Intercept)", "sd(cses)",
                                    "cov(Intercept,cses)", "sd(residual)"]
    assert table["se"].notna().tolist() == [True, True, False, False, False, False]


def test_icc_needs_a_random_intercept_only_model(random_slope_fits):
    with pytest.raises(lmmlib.InputError, match="random-intercept-only"):
        lmmlib.intraclass_correlation(random_slope_fits.reml)


SMALL = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0, 5.0, 7.0], "x": [0.1, 0.4, 0.2, 0.9, 0.3, 0.5],
                      "g": [1, 1, 2, 2, 3, 3], "label": list("abcabc")})


@pytest.mark.parametrize("call, message", [
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x", group="school"), "column 'school'"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ z", group="g"), "uses 'z'"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x", group="g", random="1 + w"), "uses 'w'"),
    (lambda: lmmlib.fit_mixed(SMALL, "label ~ x", group="g"), "'label' to be numeric"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x", group="g", random="1 + label"), "'label' to be numeric"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x", group="g", method="OLS"), "'ML' or 'REML'"),
    (lambda: lmmlib.fit_mixed(SMALL.assign(g=1), "y ~ x", group="g"), "at least 2 groups"),
    (lambda: lmmlib.fit_mixed(SMALL.to_dict(), "y ~ x", group="g"), "pandas DataFrame"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ (x", group="g"), "cannot read the formula"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(lmmlib.InputError, match=message):
        call()


def test_rows_with_missing_values_are_dropped_with_a_count(hsb):
    data = hsb[["mathach", "school"]].copy()
    data.loc[[0, 5, 9], "mathach"] = np.nan
    with pytest.warns(UserWarning, match="dropped 3 rows"):
        fit = lmmlib.fit_mixed(data, "mathach ~ 1", group="school")
    assert fit.n_obs == len(hsb) - 3


# ------------------------------------------------------------------ the profiled-deviance engine

@pytest.mark.parametrize("method", ["ML", "REML"])
def test_engine_reaches_the_closed_form_random_intercept_optimum(hsb, method):
    from lmmlib.engine import fit_lmm
    fit = fit_lmm(hsb, "mathach ~ 1", "school", method=method)
    psi, sigma, loglik = closed_form_random_intercept_optimum(hsb["mathach"], hsb["school"], method == "REML")
    assert fit.loglik == pytest.approx(loglik, abs=1e-6)
    assert fit.random_sd["Intercept"] == pytest.approx(psi, abs=1e-5)
    assert fit.residual_sd == pytest.approx(sigma, abs=1e-5)


def test_engine_agrees_with_the_statsmodels_fits(hsb, random_slope_fits):
    from lmmlib.engine import fit_lmm
    for reference in (random_slope_fits.ml, random_slope_fits.reml):
        fit = fit_lmm(hsb, "mathach ~ cses", "school", "1 + cses", reference.method)
        assert fit.loglik == pytest.approx(reference.loglik, abs=1e-6)
        np.testing.assert_allclose(fit.fixed[["estimate", "se"]], reference.fixed[["estimate", "se"]], rtol=1e-5)
        np.testing.assert_allclose(fit.random_cov, reference.random_cov, atol=1e-3)
        assert fit.residual_sd == pytest.approx(reference.residual_sd, rel=1e-5)
        assert fit.gradient_norm < fitting.GRADIENT_TOLERANCE


def test_engine_reports_a_zero_variance_on_the_boundary():
    from lmmlib.engine import fit_lmm
    data = pd.DataFrame({"y": [1.0, 2.0, 4.0, 7.0] * 6, "g": np.repeat(np.arange(6), 4)})
    with pytest.warns(lmmlib.BoundaryWarning, match="estimated as 0"):
        fit = fit_lmm(data, "y ~ 1", "g", method="ML")
    assert fit.random_sd["Intercept"] < 1e-3


def test_engine_rejects_collinear_fixed_effects(hsb):
    from lmmlib.engine import fit_lmm
    with pytest.raises(lmmlib.InputError, match="collinear"):
        fit_lmm(hsb.assign(ses2=2 * hsb["ses"]), "mathach ~ ses + ses2", "school")
