"""The parametric-bootstrap likelihood-ratio test, its fast refits and its progress bar."""
import io
import re
import warnings
from itertools import islice

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import lmmlib
from lmmlib import refit
from lmmlib.bootstrap import parametric_bootstrap_lrt, simulated_responses
from lmmlib.plots import bootstrap_distribution
from lmmlib.progress import ProgressBar
from lmmlib.refit import ResponseRefit

FORMULA = "mathach ~ cses"


@pytest.fixture(scope="module")
def slope(hsb):
    return lmmlib.fit_mixed(hsb, FORMULA, "school", random="1 + cses")


@pytest.fixture(scope="module")
def intercept(hsb):
    return lmmlib.fit_mixed(hsb, FORMULA, "school", random="1")


@pytest.fixture(scope="module")
def small_run(hsb, slope, intercept):
    return parametric_bootstrap_lrt(slope, intercept, replicates=15, seed=11, progress=False)


@pytest.fixture(scope="module")
def null_data():
    """60 groups of 20 from a random-intercept model: a random slope for x is truly absent."""
    rng = np.random.default_rng(20240)
    group = np.repeat(np.arange(60), 20)
    x = rng.normal(size=len(group))
    y = 1 + 0.5 * x + rng.normal(0, 0.6, 60)[group] + rng.normal(size=len(group))
    return pd.DataFrame({"y": y, "x": x, "g": group})


@pytest.fixture(scope="module")
def null_run(null_data):
    """300 replicates of the test of the (absent) random slope of x in *null_data*."""
    return parametric_bootstrap_lrt(quiet_fit(null_data, "y ~ x", "g", "1 + x"),
                                    quiet_fit(null_data, "y ~ x", "g", "1"),
                                    replicates=300, seed=3, progress=False)


def quiet_fit(data, formula, group, random):
    """fit_mixed without its BoundaryWarning (a refit to null data may well land on the boundary)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.BoundaryWarning)
        return lmmlib.fit_mixed(data, formula, group, random)


def test_same_seed_same_numbers_and_another_seed_other_numbers(hsb, slope, intercept, small_run):
    again = parametric_bootstrap_lrt(slope, intercept, replicates=15, seed=11, progress=False)
    other = parametric_bootstrap_lrt(slope, intercept, replicates=15, seed=12, progress=False)
    np.testing.assert_array_equal(again.replicate_g2, small_run.replicate_g2)
    assert again.p_bootstrap == small_run.p_bootstrap
    assert not np.any(np.isclose(other.replicate_g2, small_run.replicate_g2))


def test_p_value_counts_replicates_at_least_as_extreme(small_run, null_run):
    for result in (small_run, null_run):
        count = int(np.sum(result.replicate_g2 >= result.g2))
        size = len(result.replicate_g2)
        assert result.p_bootstrap == (1 + count) / (1 + size)
        assert result.p_bootstrap_se == pytest.approx(np.sqrt(result.p_bootstrap * (1 - result.p_bootstrap) / size))


def test_chi_square_and_mixture_p_values_are_those_of_the_likelihood_ratio_test(slope, intercept, small_run):
    test = lmmlib.likelihood_ratio_test(slope, intercept)
    assert (small_run.g2, small_run.df, small_run.p_naive, small_run.p_boundary) == (
        test.g2, test.df, test.p_naive, test.p_boundary)
    row = small_run.table().iloc[0]
    assert row["p (bootstrap)"] == small_run.p_bootstrap and row["failed refits"] == 0
    assert row["replicates"] == 15 and row["p (50:50 mixture)"] == test.p_boundary


def test_replicates_under_a_true_null_follow_the_mixture_not_the_chi_square(null_run):
    """Removing a random slope (variance + covariance): G^2 ~ 50:50 chi-square(1), chi-square(2).

    With B = 300 replicates a proportion has binomial SD sqrt(p (1 - p) / B), at most
    0.029; each check allows 3 SD.  The chi-square(2) median has tail probability 0.37
    under the mixture, so that check also rules out the naive reference (0.5).
    """
    result = null_run
    assert result.failed == 0
    mixture_median = optimize.brentq(lambda g: lmmlib.mixture_pvalue(g, 2) - 0.5, 0.01, 5)
    for point in (mixture_median, stats.chi2.ppf(0.5, 2), stats.chi2.ppf(0.9, 2)):
        expected = lmmlib.mixture_pvalue(point, 2)
        observed = np.mean(result.replicate_g2 > point)
        assert abs(observed - expected) < 3 * np.sqrt(expected * (1 - expected) / 300), point
    assert np.mean(result.replicate_g2 > stats.chi2.ppf(0.5, 2)) < 0.5 - 3 * np.sqrt(0.25 / 300)


def test_fast_refit_equals_a_full_fit_of_the_same_simulated_response(hsb, slope, intercept):
    y = next(simulated_responses(intercept, seed=7))
    simulated = hsb.assign(mathach=y)
    full = {name: quiet_fit(simulated, FORMULA, "school", fit.random) for name, fit in
            {"slope": slope, "intercept": intercept}.items()}
    fast = {name: ResponseRefit.of_fit(fit).refit(y) for name, fit in
            {"slope": slope, "intercept": intercept}.items()}
    for name in full:
        assert fast[name].converged
        assert fast[name].loglik == pytest.approx(full[name].loglik, abs=1e-6)
        np.testing.assert_allclose(fast[name].beta, full[name].fixed["estimate"], rtol=1e-6)
        np.testing.assert_allclose(fast[name].fixed_se, full[name].fixed["se"], rtol=1e-6)
    one = parametric_bootstrap_lrt(slope, intercept, replicates=1, seed=7, progress=False)
    assert one.replicate_g2[0] == pytest.approx(2 * (full["slope"].loglik - full["intercept"].loglik), abs=2e-6)


def test_failed_refits_are_counted_reported_and_left_out(hsb, slope, intercept, monkeypatch):
    refits = [ResponseRefit.of_fit(fit) for fit in (slope, intercept)]
    worst = [max(model.refit(y).gradient_norm for model in refits)
             for y in islice(simulated_responses(intercept, seed=4), 10)]
    tolerance = float(np.median(worst))
    monkeypatch.setattr(refit, "GRADIENT_TOLERANCE", tolerance)
    expected_failures = sum(norm > tolerance for norm in worst)
    with pytest.warns(UserWarning, match=f"{expected_failures} of 10 bootstrap replicates were left out"):
        result = parametric_bootstrap_lrt(slope, intercept, replicates=10, seed=4, progress=False)
    assert result.failed == expected_failures and len(result.replicate_g2) == 10 - expected_failures
    monkeypatch.setattr(refit, "GRADIENT_TOLERANCE", 0.0)
    with pytest.raises(lmmlib.ConvergenceError, match="all 3 bootstrap replicates failed"):
        parametric_bootstrap_lrt(slope, intercept, replicates=3, seed=4, progress=False)


def test_bad_input_is_refused_with_a_reason(hsb, slope, intercept):
    slope_only = quiet_fit(hsb, FORMULA, "school", "0 + cses")
    intercept_ml = lmmlib.fit_mixed(hsb, FORMULA, "school", random="1", method="ML")
    with_sector = lmmlib.fit_mixed(hsb, "mathach ~ cses + sector", "school", random="1")
    fewer_rows = lmmlib.fit_mixed(hsb.iloc[:-5], FORMULA, "school", random="1")
    other_response = lmmlib.fit_mixed(hsb.assign(mathach=hsb["mathach"] + 1), FORMULA, "school", random="1")
    other_values = lmmlib.fit_mixed(hsb.assign(cses=hsb["cses"] ** 3), FORMULA, "school", random="1")
    cases = [
        ((intercept, slope_only), {}, "not nested"),
        ((slope, intercept_ml), {}, "one fit is REML, the other ML"),
        ((slope, with_sector), {}, "REML likelihoods of models with different fixed effects"),
        ((slope, intercept), {"replicates": 0}, "replicates must be a whole number of at least 1"),
        ((slope, intercept), {"replicates": 2.5}, "replicates must be"),
        ((slope, intercept), {"seed": -1}, "seed must be a non-negative whole number"),
        ((slope, fewer_rows), {}, "not made from the same data: the models use different rows"),
        ((slope, other_response), {}, "not made from the same data: the responses differ"),
        ((slope, other_values), {}, "fixed columns are not in the span"),
    ]
    for arguments, options, message in cases:
        with pytest.raises(lmmlib.InputError, match=message):
            parametric_bootstrap_lrt(*arguments, replicates=options.get("replicates", 5),
                                     seed=options.get("seed", 1), progress=False)


def test_progress_bar_is_deterministic_text_on_stderr(hsb, slope, intercept, capsys):
    runs = []
    for _ in range(2):
        parametric_bootstrap_lrt(slope, intercept, replicates=5, seed=1, progress=True)
        runs.append(capsys.readouterr())
    assert runs[0].err == runs[1].err and runs[0].out == ""
    frames = runs[0].err.split("\r")[1:]
    assert all(re.fullmatch(r"bootstrap \[[#-]{20}\] \d/5", frame) for frame in frames[:-1])
    assert frames[-1] == "bootstrap [####################] 5/5\n"
    parametric_bootstrap_lrt(slope, intercept, replicates=5, seed=1, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_redraws_only_when_it_grows():
    stream = io.StringIO()
    bar = ProgressBar(1000, "bootstrap", width=20, stream=stream)
    for done in range(1, 1001):
        bar.update(done)
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 21
    assert frames[10] == "bootstrap [##########----------] 500/1000"
    with pytest.raises(lmmlib.InputError, match="total >= 1"):
        ProgressBar(0, "bootstrap")


def test_distribution_plot_marks_the_observed_statistic(small_run):
    fig = bootstrap_distribution(small_run, title="random slope")
    histogram, tails = fig.axes
    for ax in (histogram, tails):
        assert any(np.allclose(line.get_xdata(), small_run.g2) for line in ax.get_lines())
    assert tails.get_yscale() == "log"
    assert sum(patch.get_height() * patch.get_width() for patch in histogram.patches) == pytest.approx(1.0)
