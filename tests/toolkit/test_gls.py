"""Marginal models (lmmlib.fit_gls), checked against nlme's gls.

``reference/gls_reference.R`` wrote ``gls_reference.csv``: Orthodont with independent,
compound-symmetric, AR(1) and CAR(1) errors within Subject, and the fixed part of Fox's
Blackmore model with CAR(1) errors in age, by REML and ML; and with a variance by stratum
(nlme's varIdent): Orthodont by Sex, alone and with AR(1) errors, Blackmore by group with CAR(1)
errors.  Tolerances: log-likelihood 1e-6, coefficients, standard errors, sigma and ratios of SDs
1e-5 relative, phi 1e-5 absolute (the agreement is about 1e-8; for the ratios of SDs about 1e-6,
where nlme stops slightly short: lmmlib's log-likelihood is the higher by about 1e-10).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmbook.agreement import reference_models
from lmmlib import AR1, CAR1, CompoundSymmetry, InputError, VarIdent, fit_gls

REFERENCE = Path(__file__).parent / "reference" / "gls_reference.csv"
NAMES = {"(Intercept)": "Intercept", "SexMale": "Sex[T.Male]", "grouppatient": "group[T.patient]",
         "time:grouppatient": "time:group[T.patient]"}


#: the loaders of the reference registry (tests/toolkit/reference/models.py)
orthodont, blackmore = reference_models().orthodont_by_age, reference_models().blackmore


CASES = {
    "orthodont_independent": (orthodont, "distance ~ age + Sex", None, None, None),
    "orthodont_cs": (orthodont, "distance ~ age + Sex", "Subject", CompoundSymmetry(), None),
    "orthodont_ar1": (orthodont, "distance ~ age + Sex", "Subject", AR1(), None),
    "orthodont_car1": (orthodont, "distance ~ age + Sex", "Subject", CAR1("age"), None),
    "blackmore_car1": (blackmore, "log_exercise ~ time * group", "subject", CAR1("age"), None),
    "orthodont_varident": (orthodont, "distance ~ age + Sex", None, None, "Sex"),
    "orthodont_ar1_varident": (orthodont, "distance ~ age + Sex", "Subject", AR1(), "Sex"),
    "blackmore_car1_varident": (blackmore, "log_exercise ~ time * group", "subject", CAR1("age"), "group"),
}


@pytest.mark.parametrize("model", CASES)
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_marginal_models_agree_with_nlme(model, method):
    data, formula, group, correlation, stratum = CASES[model]
    table = pd.read_csv(REFERENCE, comment="#")
    expected = table[(table["model"] == model) & (table["method"] == method)].set_index(["kind", "name"])["value"]
    variance = None if stratum is None else VarIdent(stratum)         # nlme's reference: the first row's stratum
    fit = fit_gls(data(), formula, group=group, correlation=correlation, method=method, variance=variance)
    assert fit.loglik == pytest.approx(float(expected[("fit", "loglik")]), abs=1e-6)
    assert fit.residual_sd == pytest.approx(float(expected[("fit", "sigma")]), rel=1e-5)
    if correlation is not None:
        assert fit.correlation.phi == pytest.approx(float(expected[("phi", "phi")]), abs=1e-5)
    if variance is not None:
        deltas = {name: float(value) for (kind, name), value in expected.items() if kind == "delta"}
        assert fit.variance.ratios.to_dict() == pytest.approx({expected[("reference", "level")]: 1.0, **deltas},
                                                              rel=1e-5)
    for (kind, name), value in expected.items():
        if kind in ("coef", "se"):
            column = "estimate" if kind == "coef" else "se"
            assert fit.fixed.loc[NAMES.get(name, name), column] == pytest.approx(float(value), rel=1e-5), name


def test_a_random_intercept_and_compound_symmetry_give_the_same_marginal_model():
    """With a positive intra-class correlation, the random-intercept model's V_i is compound
    symmetric: the two REML fits have the same likelihood and fixed effects."""
    mixed = lmmlib.fit_mixed(orthodont(), "distance ~ age + Sex + (1 | Subject)")
    marginal = fit_gls(orthodont(), "distance ~ age + Sex", group="Subject", correlation=CompoundSymmetry())
    assert marginal.loglik == pytest.approx(mixed.loglik, abs=1e-6)
    assert marginal.correlation.phi == pytest.approx(lmmlib.intraclass_correlation(mixed), abs=1e-6)
    assert marginal.fixed["estimate"].to_numpy() == pytest.approx(mixed.fixed["estimate"].to_numpy(), rel=1e-6)


def test_structures_are_compared_by_their_criteria():
    fits = {name: fit_gls(orthodont(), "distance ~ age + Sex", group="Subject", correlation=structure, method="ML")
            for name, structure in (("cs", CompoundSymmetry()), ("car1", CAR1("age")))}
    independent = fit_gls(orthodont(), "distance ~ age + Sex", method="ML")
    assert independent.n_parameters == 4 and fits["cs"].n_parameters == 5
    assert fits["cs"].aic < fits["car1"].aic < independent.aic
    assert "compound symmetry, phi = " in repr(fits["cs"])


def test_a_variance_by_stratum_is_compared_by_the_criteria_and_its_interval():
    common = {"group": "Subject", "correlation": AR1(), "method": "ML"}
    one = fit_gls(orthodont(), "distance ~ age + Sex", **common)
    two = fit_gls(orthodont(), "distance ~ age + Sex", variance=VarIdent("Sex"), **common)
    assert two.n_parameters == one.n_parameters + 1 and two.aic < one.aic
    assert "Variance of the errors: SD ratios by 'Sex' (Female = 1): Male 1.7640" in repr(two)
    interval = lmmlib.sd_ratio_intervals(two).loc["Male"]
    assert interval["lower"] < two.variance.ratios["Male"] < interval["upper"]
    phi = lmmlib.phi_interval(two)
    assert phi["lower"] < two.correlation.phi < phi["upper"]


def test_a_ratio_of_sds_at_the_edge_of_its_range_is_shown_as_a_boundary():
    """The rows of stratum 'exact' have one response value, which the model's mean for them fits exactly."""
    data = pd.DataFrame({"y": np.r_[np.random.default_rng(5).normal(size=20), np.full(6, 5.0)],
                         "s": ["noisy"] * 20 + ["exact"] * 6})
    fit = fit_gls(data, "y ~ s", variance=VarIdent("s"))
    assert fit.variance.ratios["exact"] < 1e-4
    assert "estimated at the edge of its range: exact (0)" in repr(fit)


def test_bad_input_is_refused_with_what_to_do():
    with pytest.raises(InputError, match="needs the groups: pass group="):
        fit_gls(orthodont(), "distance ~ age", correlation=AR1())
    with pytest.raises(InputError, match="without random terms"):
        fit_gls(orthodont(), "distance ~ age + (1 | Subject)")
    with pytest.raises(InputError, match="needs column 'Person'"):
        fit_gls(orthodont(), "distance ~ age", group="Person", correlation=AR1())
    with pytest.raises(InputError, match="times out of order"):
        fit_gls(orthodont().iloc[::-1], "distance ~ age", group="Subject", correlation=CAR1("age"))
    with pytest.raises(InputError, match="repeat its random intercept"):
        lmmlib.fit_mixed(orthodont(), "distance ~ age + (1 | Subject)", correlation=CompoundSymmetry())
