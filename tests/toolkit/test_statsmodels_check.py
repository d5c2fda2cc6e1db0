"""The engine against statsmodels' MixedLM at its best optimum, and the checks on statsmodels itself."""
import warnings

import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmlib import statsmodels_check

HSB_MODELS = [  # the lecture's models: formula, random part
    ("mathach ~ 1", "1"),
    ("mathach ~ cses", "1"),
    ("mathach ~ cses", "1 + cses"),
    ("mathach ~ meanses * cses + sector * cses", "1 + cses"),
    ("mathach ~ meanses * cses + sector * cses", "1"),
    ("mathach ~ meanses * cses + sector * cses", "0 + cses"),
]


def assert_same_fit(fit, reference):
    assert fit.loglik == pytest.approx(reference.loglik, abs=1e-6)
    np.testing.assert_allclose(fit.fixed[["estimate", "se"]], reference.fixed[["estimate", "se"]], rtol=1e-5)
    np.testing.assert_allclose(fit.random_cov, reference.random_cov, atol=1e-4 * reference.residual_sd ** 2)
    assert fit.residual_sd == pytest.approx(reference.residual_sd, rel=1e-5)
    np.testing.assert_allclose(fit.random_effects.loc[reference.random_effects.index], reference.random_effects,
                               atol=1e-3)


@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.slow
@pytest.mark.parametrize("formula, random", HSB_MODELS)
def test_engine_agrees_with_statsmodels_on_the_hsb_models(hsb, formula, random, method):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.BoundaryWarning)
        reference = lmmlib.fit_statsmodels(hsb, formula, "school", random, method)
        fit = lmmlib.fit_mixed(hsb, formula, "school", random, method)
    assert fit.loglik >= reference.loglik - 1e-6   # never below statsmodels' best optimum
    assert_same_fit(fit, reference)


@pytest.mark.parametrize("method", ["ML", "REML"])
@pytest.mark.parametrize("formula, random", [("math ~ 1", "1"), ("math ~ homework", "1 + homework")])
def test_engine_agrees_with_statsmodels_on_the_nels_models(nels88, formula, random, method):
    assert_same_fit(lmmlib.fit_mixed(nels88, formula, "schid", random, method),
                    lmmlib.fit_statsmodels(nels88, formula, "schid", random, method))


def test_engine_agrees_with_statsmodels_on_simulated_data():
    rng = np.random.default_rng(11)
    groups = np.repeat(np.arange(50), rng.integers(2, 30, size=50))
    x1, x2 = rng.normal(size=(2, groups.size))
    b = rng.multivariate_normal([0, 0], [[2.0, -0.5], [-0.5, 0.8]], size=50)
    y = 3 - x1 + 0.5 * x2 + b[groups, 0] + b[groups, 1] * x1 + rng.normal(size=groups.size)
    data = pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": groups})
    for method in ("ML", "REML"):
        assert_same_fit(lmmlib.fit_mixed(data, "y ~ x1 * x2", "g", "1 + x1", method),
                        lmmlib.fit_statsmodels(data, "y ~ x1 * x2", "g", "1 + x1", method))


@pytest.mark.slow
def test_statsmodels_lbfgs_alone_stops_short_and_the_best_run_is_kept(hsb):
    # L-BFGS alone stops about 2.4 units below the optimum on this model and reports success
    fit = lmmlib.fit_statsmodels(hsb, "mathach ~ cses", "school", "1 + cses", "ML")
    attempts = fit.attempts["loglik"]
    assert fit.loglik == attempts[fit.attempts["kept"]].iloc[0] == attempts.max()
    assert fit.loglik - attempts["lbfgs"] > 1.0
    assert fit.gradient_norm < lmmlib.fitting.GRADIENT_TOLERANCE


def test_statsmodels_runs_that_stop_short_raise(hsb, monkeypatch):
    monkeypatch.setattr(statsmodels_check, "OPTIMIZERS", ("lbfgs",))
    monkeypatch.setattr(statsmodels_check, "POLISH_OPTIONS", {"maxiter": 0})
    with pytest.raises(lmmlib.ConvergenceError, match="did not reach an optimum"):
        lmmlib.fit_statsmodels(hsb, "mathach ~ cses", group="school", random="1 + cses", method="ML")


def test_comparison_table_lists_every_parameter_and_the_loglik(hsb):
    fit = lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", "1", "ML")
    check = lmmlib.compare_with_statsmodels(fit)
    table = check.table
    assert check.agrees and check.largest < 1e-6 and check.verdict().startswith("statsmodels agrees to < 1e-06")
    assert table.columns.tolist() == ["lmmlib", "statsmodels", "difference", "relative difference"]
    assert table.index.tolist() == ["Intercept", "cses", "sd(Intercept)", "sd(residual)",
                                    "se(Intercept)", "se(cses)", "log-likelihood"]
    assert table.loc["log-likelihood", "lmmlib"] == fit.loglik
    assert table["relative difference"].abs().max() < 1e-6
    assert table["relative difference"].abs().max() <= table["difference"].abs().max()
