"""Likelihood-ratio tests: nesting and REML checks, the boundary-corrected p-value."""
import pytest
from scipy import stats

import lmmlib
from lmmlib.likelihood import loglik_at


@pytest.fixture(scope="module")
def fits(hsb):
    return {
        "slope": lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1 + cses"),
        "intercept": lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1"),
        "other fixed": lmmlib.fit_mixed(hsb, "mathach ~ cses + sector", "school", random="1"),
        "ml": lmmlib.fit_mixed(hsb, "mathach ~ cses", "school", random="1", method="ML"),
        "ml sector": lmmlib.fit_mixed(hsb, "mathach ~ cses + sector", "school", random="1", method="ML"),
    }


def test_random_slope_test(fits):
    test = lmmlib.likelihood_ratio_test(fits["slope"], fits["intercept"])
    assert test.df == 2 and test.removed == ("cov(Intercept,cses)", "var(cses)")
    assert test.g2 == pytest.approx(2 * (fits["slope"].loglik - fits["intercept"].loglik))
    assert test.p_naive == pytest.approx(stats.chi2.sf(test.g2, 2))
    assert test.p_boundary == pytest.approx(0.5 * stats.chi2.sf(test.g2, 1) + 0.5 * stats.chi2.sf(test.g2, 2))
    assert test.p_boundary < test.p_naive


@pytest.mark.parametrize("larger, smaller, message", [
    ("intercept", "slope", "not nested"),
    ("ml", "ml sector", "not nested"),
    ("ml", "ml", "not nested"),
    ("slope", "other fixed", "different fixed effects"),
    ("slope", "ml", "one fit is REML, the other ML"),
])
def test_invalid_comparisons_are_refused(fits, larger, smaller, message):
    with pytest.raises(lmmlib.InputError, match=message):
        lmmlib.likelihood_ratio_test(fits[larger], fits[smaller])


def test_fixed_effects_are_compared_by_ml(fits):
    test = lmmlib.likelihood_ratio_test(fits["ml sector"], fits["ml"])
    assert test.removed == ("fixed(sector)",) and test.df == 1
    assert test.p_boundary == test.p_naive == pytest.approx(stats.chi2.sf(test.g2, 1))


def test_mixture_pvalue_edge_cases():
    assert lmmlib.mixture_pvalue(3.0, 1) == pytest.approx(0.5 * stats.chi2.sf(3.0, 1))
    assert lmmlib.mixture_pvalue(0.0, 2) == pytest.approx(1.0)
    with pytest.raises(lmmlib.InputError):
        lmmlib.mixture_pvalue(-1.0, 2)
    with pytest.raises(lmmlib.InputError):
        lmmlib.mixture_pvalue(1.0, 0)


def test_loglik_at_the_estimates_is_the_maximum_and_lower_elsewhere(hsb, fits):
    fit = fits["slope"]
    at_estimates = loglik_at(fit, fit.random_cov, fit.residual_sd)
    assert at_estimates == pytest.approx(fit.loglik, abs=1e-6)
    moved = fit.random_cov.to_numpy().copy()
    moved[0, 0] *= 1.5
    assert loglik_at(fit, moved, fit.residual_sd) < fit.loglik - 0.1
    with pytest.raises(lmmlib.InputError, match="symmetric 2x2"):
        loglik_at(fit, [[1.0]], fit.residual_sd)
