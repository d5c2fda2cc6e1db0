"""Satterthwaite's degrees of freedom for tests of fixed effects (lmmlib.satterthwaite_tests,
lmmlib.satterthwaite_f_test), checked against lmerTest.

``reference/satterthwaite_reference.R`` wrote ``satterthwaite_reference.csv`` (lmerTest's
``summary(fit)`` t-tests and a joint ``contest`` F-test per model, REML and ML); the tests
run without R.  The comparison itself is ``lmmbook.agreement.satterthwaite_comparison``, the
one the book's appendix "Agreement with R" shows.  Tolerance: 1e-3 relative for the degrees
of freedom, the statistics and the p-values, as the issue asks; the agreement is closer
(about 1e-6 for the df).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmlib
from lmmbook.agreement import outside_tolerance, satterthwaite_comparison
from lmmlib import InputError, satterthwaite_f_test, satterthwaite_tests


@pytest.fixture
def fit_of(hsb, reference_models):
    return lambda model, method: reference_models.fit(model, method, hsb)


def test_t_and_f_tests_agree_with_lmertest():
    """Every model of satterthwaite_reference.csv, REML and ML: se, df, t, p of each coefficient;
    F, denominator df and p of the joint test."""
    table = satterthwaite_comparison()
    assert len(table) == 128          # (13 coefficients x 4 + 4 joint tests x 3) x 2 methods
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()


def test_a_single_contrast_as_a_frame_is_the_squared_t_test(fit_of):
    fit = fit_of("orthodont_sex", "REML")
    single = satterthwaite_f_test(fit, pd.DataFrame({"age": [1.0]}))
    t_test = satterthwaite_tests(fit).loc["age"]
    assert single["F"] == pytest.approx(t_test["t"] ** 2, rel=1e-9)
    assert single["denominator df"] == pytest.approx(t_test["df"], rel=1e-9)
    assert single["p"] == pytest.approx(t_test["p"], rel=1e-9)


def test_few_groups_give_few_degrees_of_freedom(fit_of):
    # sleepstudy has 18 subjects: the slope's df is 17, not the hundreds of the observations
    table = satterthwaite_tests(fit_of("sleepstudy", "REML"))
    assert table.loc["Days", "df"] == pytest.approx(17, abs=1e-3)
    assert np.isclose(table["p"], 2 * stats.t.sf(table["t"].abs(), table["df"])).all()


def test_bad_contrasts_and_boundary_fits_are_refused(fit_of, hsb):
    fit = fit_of("orthodont_sex", "REML")
    with pytest.raises(InputError, match="no fixed effects named"):
        satterthwaite_f_test(fit, ["agee"])
    with pytest.raises(InputError, match="linearly independent"):
        satterthwaite_f_test(fit, pd.DataFrame({"age": [1.0, 2.0]}))
    formula = ("mathach ~ meanses + sector + cses + meanses:cses + I(meanses**2):cses + sector:cses"
               " + (0 + cses | school)")
    with pytest.warns(lmmlib.BoundaryWarning):
        boundary = lmmlib.fit_mixed(hsb, formula)
    with pytest.raises(InputError, match="boundary"):
        satterthwaite_tests(boundary)


def test_degrees_of_freedom_do_not_depend_on_the_units_of_a_predictor(fit_of, hsb):
    formula = "mathach ~ cses + (1 + cses | school)"
    ours = satterthwaite_tests(fit_of("hsb_slope", "REML"))
    milli = satterthwaite_tests(lmmlib.fit_mixed(hsb.assign(cses=hsb["cses"] * 1000), formula))
    np.testing.assert_allclose(milli["df"], ours["df"], rtol=1e-5)
    np.testing.assert_allclose(milli["p"], ours["p"], rtol=1e-4)
