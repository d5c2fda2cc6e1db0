"""Every published table, recomputed from the data: the registry behind tests and reports.

Each entry of :data:`REPRODUCERS` fits the models of one table with lmmlib and
lays the result out with :mod:`lmmbook.lecture_tables`, exactly as the chapters
do.  :func:`reproduce` compares a table with its published values.  Tables from
the NELS:88 lecture need ``imm10.dta``; without it :func:`reproduce` raises
:class:`lmmbook.DataFileMissingError` with instructions.

>>> from lmmbook.reproductions import reproduce
>>> bool(reproduce("fox-re-anova-icc")["match"].all())
True
"""
from __future__ import annotations

from collections.abc import Callable
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from lmmlib import (
    InputError,
    LikelihoodRatioTest,
    MethodComparison,
    MixedFit,
    describe_by_group,
    fit_mixed,
    fit_ols,
    intraclass_correlation,
    likelihood_ratio_test,
    ml_f_test,
    ols_by_group,
    variance_parameter_se,
)

from . import lecture_tables as layout
from .data import load_hsb, load_nels88
from .published import compare_with_published

# ---------------------------------------------------------------- the random-effects lecture (HSB)


@lru_cache(maxsize=1)
def _hsb() -> pd.DataFrame:
    return load_hsb()


@cache
def _fit(formula: str, random: str, method: str) -> MixedFit:
    return fit_mixed(_hsb(), formula, "school", random, method)


def _both(formula: str, random: str) -> MethodComparison:
    return MethodComparison(ml=_fit(formula, random, "ML"), reml=_fit(formula, random, "REML"))


def _random_slope_test() -> LikelihoodRatioTest:
    formula, random = layout.HSB_RANDOM_COEFFICIENTS
    return likelihood_ratio_test(_fit(formula, random, "REML"), _fit(formula, "1", "REML"))


def _coefficients_as_outcomes_fits() -> dict[str, MixedFit]:
    formula, random = layout.HSB_COEFFICIENTS_AS_OUTCOMES
    return {"1": _fit(formula, random, "REML"), "2": _fit(formula, "0 + cses", "REML"),
            "3": _fit(formula, "1", "REML")}


def _coefficients_as_outcomes_tests() -> dict[str, LikelihoodRatioTest]:
    fits = _coefficients_as_outcomes_fits()
    return {"random intercepts": likelihood_ratio_test(fits["1"], fits["2"]),
            "random slopes": likelihood_ratio_test(fits["1"], fits["3"])}


def _refit_table() -> pd.DataFrame:
    table = layout.estimates_table(_coefficients_as_outcomes_fits()["3"])
    return table.rename(columns={"Estimate": "REML Estimate"})


FOX: dict[str, Callable[[], pd.DataFrame]] = {
    "fox-re-anova": lambda: layout.re_anova_table(_both("mathach ~ 1", "1")),
    "fox-re-anova-icc": lambda: layout.icc_table(_fit("mathach ~ 1", "1", "REML")),
    "fox-rc": lambda: layout.ml_reml_table(_both(*layout.HSB_RANDOM_COEFFICIENTS)),
    "fox-rc-lrt": lambda: layout.lrt_table(_random_slope_test()),
    "fox-cao-loglik": lambda: layout.loglik_table(_coefficients_as_outcomes_fits()),
    "fox-cao-tests": lambda: layout.tests_table(_coefficients_as_outcomes_tests()),
    "fox-cao-refit": _refit_table,
}

# ---------------------------------------------------------- the clustered-data lecture (NELS:88)

#: Reference school of SAS's dummy coding (the last one) and the two-stage formula.
SAS_REFERENCE_SCHOOL = 72292
NELS_WITHIN_SCHOOL = "math ~ homework"


@lru_cache(maxsize=1)
def _nels() -> pd.DataFrame:
    return load_nels88()


@cache
def _nels_ols(formula: str):
    return fit_ols(_nels(), formula)


@lru_cache(maxsize=1)
def _nels_random_anova() -> MixedFit:
    return fit_mixed(_nels(), "math ~ 1", "schid", method="ML")


def _descriptives() -> pd.DataFrame:
    math = _nels()["math"]
    overall = pd.Series({"n": len(math), "mean": math.mean(), "sd": math.std()})
    return layout.descriptives_table(describe_by_group(_nels(), "math", "schid"), overall)


def _ems() -> pd.DataFrame:
    table = layout.oneway_anova_table(_nels_ols("math ~ C(schid)")).iloc[:2, :3]
    table.index = ["sch_id", "Residual"]
    return table.rename(columns={"Sum of Squares": "Sum of squares", "Mean Square": "Mean square"})


def _sas_dummies() -> pd.DataFrame:
    fit = _nels_ols(f"math ~ C(schid, Treatment({SAS_REFERENCE_SCHOOL}))")
    table = layout.dummy_coefficients_table(fit, reference=SAS_REFERENCE_SCHOOL)
    table.loc["sigma^2", "Estimate"] = fit.mse_resid
    return table


def _random_anova() -> pd.DataFrame:
    fit = _nels_random_anova()
    variances = variance_parameter_se(fit)
    return pd.DataFrame({
        "Estimate": [fit.fixed.loc["Intercept", "estimate"], *variances["estimate"]],
        "std error": [fit.fixed.loc["Intercept", "se"], *variances["se"]],
    }, index=["gamma", "tau^2", "sigma^2"])


def _icc() -> pd.DataFrame:
    fit = _nels_random_anova()
    return pd.DataFrame({"Estimate": [intraclass_correlation(fit), np.nan, np.nan],
                         "value in formula": [np.nan, fit.random_cov.iloc[0, 0], fit.residual_sd ** 2]},
                        index=["rho_I", "tau^2", "sigma^2"])


@lru_cache(maxsize=1)
def _stage_one() -> pd.DataFrame:
    """One row per school: intercept, homework slope, R^2 and school mean SES."""
    fits = ols_by_group(_nels(), NELS_WITHIN_SCHOOL, "schid", keep=["meanses"])
    wide = fits.pivot(index="schid", columns="term", values="estimate")
    wide["r2"] = fits.groupby("schid")["r2"].first()
    wide["meanses"] = fits.groupby("schid")["meanses"].first()
    return wide.rename(columns={"Intercept": "beta_0j", "homework": "beta_1j"})


def _stage_one_table() -> pd.DataFrame:
    table = _stage_one()[["beta_0j", "beta_1j", "r2"]].rename(columns={"r2": "R^2"})
    table.index = layout.rename_schools(table.index)
    return table


def _stage_one_summary() -> pd.DataFrame:
    coefficients = _stage_one()[["beta_0j", "beta_1j"]]
    sd = coefficients.std()
    return pd.DataFrame({"n": coefficients.count(), "mean": coefficients.mean(), "std dev": sd,
                         "s.e.": sd / np.sqrt(coefficients.count()), "variance": coefficients.var()})


@cache
def _stage_two(outcome: str, predictor: str) -> dict[str, pd.DataFrame]:
    fit = fit_ols(_stage_one(), f"{outcome} ~ {predictor}")
    return layout.sas_regression_tables(fit, {"meanses": "meanSES"})


def _stage_two_lines() -> pd.DataFrame:
    rows = {}
    for label, outcome in (("intercepts", "beta_0j"), ("slopes", "beta_1j")):
        estimates = _stage_two(outcome, "meanses")["coef"]["Parameter Estimate"]
        rows[label] = {"constant": estimates["Intercept"], "meanSES": estimates["meanSES"]}
    return pd.DataFrame(rows).T


ANDERSON: dict[str, Callable[[], pd.DataFrame]] = {
    "anderson-descriptives": _descriptives,
    "anderson-fe-anova": lambda: layout.oneway_anova_table(_nels_ols("math ~ C(schid)")),
    "anderson-fe-ml-f": lambda: ml_f_test(_nels_ols("math ~ C(schid)")).rename(
        {"Num DF": "Num df", "Den DF": "Den df", "F": "F value"}).to_frame("school").T,
    "anderson-ems": _ems,
    "anderson-fe-sas": _sas_dummies,
    "anderson-fe-r": lambda: layout.dummy_coefficients_table(_nels_ols("math ~ C(schid)"), r_style=True),
    "anderson-re-anova-ml": _random_anova,
    "anderson-icc": _icc,
    "anderson-stage1": _stage_one_table,
    "anderson-stage1-summary": _stage_one_summary,
    "anderson-stage2-lines": _stage_two_lines,
}
for _prefix, _outcome in (("int", "beta_0j"), ("slope", "beta_1j")):
    for _suffix, _predictor in (("null", "1"), ("meanses", "meanses")):
        for _block in ("anova", "fit", "coef"):
            ANDERSON[f"anderson-stage2-{_prefix}-{_suffix}-{_block}"] = (
                lambda o=_outcome, p=_predictor, b=_block: _stage_two(o, p)[b])

#: table id -> function that recomputes the table from the data.
REPRODUCERS: dict[str, Callable[[], pd.DataFrame]] = {**FOX, **ANDERSON}

#: table id -> the chapter (notebook name in chapters/) that reproduces it in front of the reader.
CHAPTERS: dict[str, str] = {
    **{t: "random_effects_anova" for t in ("fox-re-anova", "fox-re-anova-icc")},
    **{t: "random_coefficients" for t in ("fox-rc", "fox-rc-lrt")},
    **{t: "coefficients_as_outcomes" for t in ("fox-cao-loglik", "fox-cao-tests", "fox-cao-refit")},
    **{t: "nels_anova" for t in ("anderson-descriptives", "anderson-fe-anova", "anderson-fe-ml-f", "anderson-ems",
                                 "anderson-fe-sas", "anderson-fe-r", "anderson-re-anova-ml", "anderson-icc")},
    **{t: "nels_two_stage" for t in ANDERSON if t.startswith(("anderson-stage1", "anderson-stage2"))},
}


def clear_caches() -> None:
    """Forget the data and fits kept between calls (after the data files change, or in tests)."""
    for value in list(globals().values()):
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


def reproduce(table_id: str) -> pd.DataFrame:
    """Recompute one published table and compare it with the published values."""
    if table_id not in REPRODUCERS:
        raise InputError(f"no reproduction is defined for table {table_id!r}; "
                         f"known: {', '.join(sorted(REPRODUCERS))}")
    return compare_with_published(table_id, REPRODUCERS[table_id]())
