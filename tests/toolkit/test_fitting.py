"""fit_mixed: the optimum is reached and checked, boundaries are reported, bad input is refused."""
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import lmmbook
import lmmlib


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


def test_random_slope_fits_reach_a_checked_optimum(random_slope_fits):
    for fit in (random_slope_fits.ml, random_slope_fits.reml):
        assert fit.loglik == pytest.approx(fit.attempts["loglik"].max(), abs=1e-9)
        assert fit.gradient_norm < 1e-3
        assert fit.hessian_positive_definite and not fit.singular


def test_an_optimizer_that_stops_short_raises_instead_of_returning(hsb, monkeypatch):
    from functools import partial

    from lmmlib import engine

    monkeypatch.setattr(engine, "bfgs", partial(engine.bfgs, max_iterations=1))
    with pytest.raises(lmmlib.ConvergenceError, match="did not reach an optimum"):
        lmmlib.fit_mixed(hsb, "mathach ~ cses", group="school", random="1 + cses", method="ML")


def test_a_saddle_point_is_reported(hsb, monkeypatch):
    from lmmlib import engine
    monkeypatch.setattr(engine, "deviance_hessian", lambda theta, *args: -np.eye(len(theta)))
    with pytest.warns(lmmlib.ConvergenceWarning, match="saddle"):
        fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school")
    assert fit.hessian_positive_definite is False


def test_fixed_effect_standard_errors_are_those_of_the_fixed_effects_block(simulated):
    fit = lmmlib.fit_mixed(simulated, "y ~ x", group="g", random="1 + x")
    assert fit.boundary == ()
    information = sum(X.T @ np.linalg.solve(V, X) for _, X, _, V in dense_blocks(fit, simulated))
    np.testing.assert_allclose(fit.fixed["se"], np.sqrt(np.diag(np.linalg.inv(information))), rtol=1e-10)


def test_zero_between_group_variance_is_reported_as_boundary():
    # every group holds the same values, so the group means are identical
    values = [1.0, 2.0, 4.0, 7.0]
    data = pd.DataFrame({"y": values * 6, "g": np.repeat(np.arange(6), 4)})
    with pytest.warns(lmmlib.BoundaryWarning, match="estimated as 0"):
        fit = lmmlib.fit_mixed(data, "y ~ 1", group="g", method="ML")
    assert fit.random_sd["Intercept"] < 1e-3
    assert fit.boundary and "'Intercept'" in fit.boundary[0]
    assert "Boundary (singular) fit: the variance of the random 'Intercept' effect is estimated as 0" in str(fit)


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
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + (1 + label | g)"), "6 observations for 9 random effects"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x", group="g", method="OLS"), "'ML' or 'REML'"),
    (lambda: lmmlib.fit_mixed(SMALL.assign(g=1), "y ~ x", group="g"), "at least 2 groups"),
    (lambda: lmmlib.fit_mixed(SMALL.to_dict(), "y ~ x", group="g"), "pandas DataFrame"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ (x", group="g"), "unbalanced parentheses"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + (1 | g"), "never closed"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + 1 | g"), "in parentheses"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + (1 | g) + (1 | label)"), "reproduce the response exactly"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + (1 | g/label)"), "'g:label' has 6 levels for 6 observations"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x"), r"\(1 \| g\)"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + (1 | g)", group="g"), "not both"),
    (lambda: lmmlib.fit_mixed(SMALL, "y ~ x + $ + (1 | g)"), "y ~ x"),
])
def test_bad_input_gets_a_clear_error(call, message):
    with pytest.raises(lmmlib.InputError, match=message):
        call()


def test_rows_with_missing_values_are_dropped_with_a_count(hsb):
    data = hsb[["mathach", "school"]].copy()
    data.loc[[0, 5, 9], "mathach"] = np.nan
    with pytest.warns(UserWarning, match="3 rows with missing values"):
        fit = lmmlib.fit_mixed(data, "mathach ~ 1", group="school")
    assert fit.n_obs == len(hsb) - 3




# ------------------------------------------------------------------ what a fit reports besides the estimates

@pytest.fixture(scope="module")
def simulated():
    """Random intercepts and slopes with known parameters, unequal group sizes."""
    rng = np.random.default_rng(7)
    groups = np.repeat(np.arange(30), rng.integers(4, 12, size=30))
    x = rng.normal(size=groups.size)
    b = rng.normal(size=(30, 2)) * [1.5, 1.0]
    y = 1 + 2 * x + b[groups, 0] + b[groups, 1] * x + rng.normal(size=groups.size)
    return pd.DataFrame({"y": y, "x": x, "g": groups})


def dense_blocks(fit, data):
    """Per group: X_i, Z_i (= X_i here), y_i and V_i from the fit's estimates, by brute force."""
    psi, sigma2 = fit.random_cov.to_numpy(), fit.residual_sd ** 2
    for g, rows in data.groupby("g"):
        X = np.column_stack([np.ones(len(rows)), rows["x"]])
        yield g, X, rows["y"].to_numpy(), X @ psi @ X.T + sigma2 * np.eye(len(rows))


def test_conditional_modes_and_their_standard_errors_match_the_dense_formulas(simulated):
    fit = lmmlib.fit_mixed(simulated, "y ~ x", group="g", random="1 + x")
    psi, beta = fit.random_cov.to_numpy(), fit.fixed["estimate"].to_numpy()
    for g, X, y, V in dense_blocks(fit, simulated):
        blup = psi @ X.T @ np.linalg.solve(V, y - X @ beta)
        conditional = psi - psi @ X.T @ np.linalg.solve(V, X @ psi)
        np.testing.assert_allclose(fit.random_effects.loc[g], blup, atol=1e-6)
        np.testing.assert_allclose(fit.random_effects_se.loc[g], np.sqrt(np.diag(conditional)), atol=1e-6)


def test_fitted_values_and_residuals_add_up_to_the_response(simulated):
    fit = lmmlib.fit_mixed(simulated, "y ~ x", group="g", random="1 + x")
    b = fit.random_effects.loc[simulated["g"]].to_numpy()
    by_hand = (fit.fixed.loc["Intercept", "estimate"] + b[:, 0]
               + (fit.fixed.loc["x", "estimate"] + b[:, 1]) * simulated["x"].to_numpy())
    np.testing.assert_allclose(fit.fitted.to_numpy(), by_hand, atol=1e-9)
    np.testing.assert_allclose((fit.fitted + fit.residuals).to_numpy(), simulated["y"].to_numpy(), atol=1e-12)
    assert fit.fitted.index.equals(simulated.index)


def test_information_criteria_count_every_parameter(simulated):
    fit = lmmlib.fit_mixed(simulated, "y ~ x", group="g", random="1 + x", method="ML")
    k = 2 + 3 + 1   # two fixed effects, three elements of Psi, sigma^2
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * k)
    assert fit.bic == pytest.approx(-2 * fit.loglik + k * np.log(len(simulated)))
    assert fit.summary().criteria.loc[0, "AIC"] == fit.aic and f"{fit.aic:.2f}" in str(fit)
    uncorrelated = lmmlib.fit_mixed(simulated, "y ~ x + (x || g)", method="ML")
    assert uncorrelated.n_parameters == k - 1      # no covariance between the two random effects


def test_known_parameters_are_recovered_from_a_large_simulated_sample():
    rng = np.random.default_rng(2015)
    m, size = 400, 25
    groups = np.repeat(np.arange(m), size)
    x = rng.normal(size=m * size)
    psi = np.array([[4.0, 0.6], [0.6, 1.0]])
    b = rng.multivariate_normal([0, 0], psi, size=m)
    y = 10 + 2 * x + b[groups, 0] + b[groups, 1] * x + rng.normal(scale=3.0, size=m * size)
    fit = lmmlib.fit_mixed(pd.DataFrame({"y": y, "x": x, "g": groups}), "y ~ x", "g", "1 + x")
    # each estimate within 4 of its standard errors (beta) or 15% (variance components) of the truth
    assert np.all(np.abs(fit.fixed["estimate"] - [10, 2]) < 4 * fit.fixed["se"])
    np.testing.assert_allclose(fit.random_sd, [2.0, 1.0], rtol=0.15)
    assert fit.residual_sd == pytest.approx(3.0, rel=0.05)


def test_a_zero_variance_makes_the_fit_singular():
    values = [1.0, 2.0, 4.0, 7.0]
    data = pd.DataFrame({"y": values * 6, "g": np.repeat(np.arange(6), 4)})
    with pytest.warns(lmmlib.BoundaryWarning):
        fit = lmmlib.fit_mixed(data, "y ~ 1", group="g")
    assert fit.singular
    assert not lmmlib.fit_mixed(lmmbook.load_hsb(), "mathach ~ 1", "school").singular


def test_groups_of_size_one_are_used_not_dropped(simulated):
    singletons = pd.DataFrame({"y": [3.0, -1.0, 0.5], "x": [0.2, -0.4, 1.1], "g": [100, 101, 102]})
    data = pd.concat([simulated, singletons], ignore_index=True)
    fit = lmmlib.fit_mixed(data, "y ~ x", group="g", random="1")
    assert fit.n_groups == 33 and fit.n_obs == len(data)
    assert list(fit.random_effects.index[-3:]) == [100, 101, 102]
    # a lone observation is shrunk towards zero: its mode is a fraction of its raw residual
    raw = singletons["y"] - fit.fixed.loc["Intercept", "estimate"] - fit.fixed.loc["x", "estimate"] * singletons["x"]
    shrinkage = fit.random_effects["Intercept"].iloc[-3:].to_numpy() / raw.to_numpy()
    assert np.all((shrinkage > 0) & (shrinkage < 1))


def test_collinear_fixed_effects_are_refused(hsb):
    with pytest.raises(lmmlib.InputError, match="collinear"):
        lmmlib.fit_mixed(hsb.assign(ses2=2 * hsb["ses"]), "mathach ~ ses + ses2", "school")


def test_dropped_rows_are_counted_on_the_fit(hsb):
    data = hsb[["mathach", "cses", "school"]].copy()
    data.loc[[1, 2], "cses"] = np.nan
    with pytest.warns(UserWarning, match="2 rows with missing values"):
        fit = lmmlib.fit_mixed(data, "mathach ~ cses", group="school")
    assert fit.n_dropped == 2 and len(fit.fitted) == len(hsb) - 2
