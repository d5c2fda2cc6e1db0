"""The lectures' tables rebuilt from fitted models, and a registry that recomputes each one.

The chapters fit the models in view of the reader and pass the fits to the
layout functions here; :func:`reproduce` fits the same models itself, so tests
and reports check exactly what the chapters print.  Parameters are named as in
the lecture (``beta_1``, ``psi_1``, ...): the k-th fixed term of a fit is ``beta_k``.

>>> import lmmlib
>>> from lmmlib.lecture_tables import reproduce
>>> bool(reproduce("fox-re-anova-icc")["match"].all())
True
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd

from .data import load_hsb
from .errors import InputError
from .fitting import MethodComparison, MixedFit, compare_ml_reml, fit_mixed, intraclass_correlation
from .likelihood_ratio import LikelihoodRatioTest, likelihood_ratio_test
from .published import compare_with_published

#: The HSB models of the random-effects lecture (fixed part, random part).
HSB_RANDOM_COEFFICIENTS = ("mathach ~ cses", "1 + cses")
HSB_COEFFICIENTS_AS_OUTCOMES = (
    "mathach ~ meanses + sector + cses + meanses:cses + I(meanses**2):cses + sector:cses", "1 + cses")


def _index(labels) -> pd.Index:
    return pd.Index(labels, name="parameter")


def re_anova_table(fits: MethodComparison) -> pd.DataFrame:
    """The random-effects one-way ANOVA table: beta_1, psi_1 and sigma by ML and REML."""
    def column(fit: MixedFit) -> list[float]:
        return [fit.fixed.loc["Intercept", "estimate"], fit.random_sd["Intercept"], fit.residual_sd]
    return pd.DataFrame({"ML Estimate": column(fits.ml), "REML Estimate": column(fits.reml)},
                        index=_index(["beta_1", "psi_1", "sigma"]))


def icc_table(fit: MixedFit) -> pd.DataFrame:
    """The estimated intra-class correlation of a random-intercept fit, as a one-cell table."""
    return pd.DataFrame({f"{fit.method} Estimate": [intraclass_correlation(fit)]}, index=_index(["rho"]))


def estimates_table(fit: MixedFit) -> pd.DataFrame:
    """Estimates (and SEs of the fixed effects) of any fit in the lecture's notation.

    Rows ``beta_1 ... beta_p`` (fixed terms in formula order), ``psi_k`` (SD of the
    k-th random effect), ``psi_kl`` (covariance of random effects k and l) and ``sigma``.
    """
    labels = [f"beta_{k + 1}" for k in range(len(fit.fixed))]
    estimates = list(fit.fixed["estimate"])
    errors = list(fit.fixed["se"])
    cov = fit.random_cov.to_numpy()
    q = len(cov)
    for k in range(q):
        labels.append(f"psi_{k + 1}")
        estimates.append(float(np.sqrt(cov[k, k])))
    for k in range(q):
        for m in range(k + 1, q):
            labels.append(f"psi_{k + 1}{m + 1}")
            estimates.append(float(cov[k, m]))
    labels.append("sigma")
    estimates.append(fit.residual_sd)
    errors += [np.nan] * (len(labels) - len(errors))
    return pd.DataFrame({"Estimate": estimates, "Std. Error": errors}, index=_index(labels))


def ml_reml_table(fits: MethodComparison) -> pd.DataFrame:
    """ML and REML estimates with standard errors side by side, in the lecture's notation."""
    ml, reml = estimates_table(fits.ml), estimates_table(fits.reml)
    return pd.DataFrame({"ML Estimate": ml["Estimate"], "ML Std. Error": ml["Std. Error"],
                         "REML Estimate": reml["Estimate"], "REML Std. Error": reml["Std. Error"]})


def lrt_table(test: LikelihoodRatioTest) -> pd.DataFrame:
    """A likelihood-ratio test laid out as the lecture prints it (naive chi-square p-value)."""
    return pd.DataFrame({"value": [test.loglik_larger, test.loglik_smaller, test.g2, test.df, test.p_naive]},
                        index=_index(["log_e L_1", "log_e L_0", "G^2", "df", "p"]))


def loglik_table(fits: dict[str, MixedFit]) -> pd.DataFrame:
    """Log-likelihoods of several fits, one row per model label."""
    return pd.DataFrame({"log_e L": [fit.loglik for fit in fits.values()]}, index=_index(list(fits)))


def tests_table(tests: dict[str, LikelihoodRatioTest]) -> pd.DataFrame:
    """Several likelihood-ratio tests, one row each: G^2, df and the naive p-value."""
    return pd.DataFrame({"G^2": [t.g2 for t in tests.values()], "df": [t.df for t in tests.values()],
                         "p": [t.p_naive for t in tests.values()]}, index=_index(list(tests)))


@lru_cache(maxsize=1)
def _hsb() -> pd.DataFrame:
    return load_hsb()


@lru_cache(maxsize=None)
def _fit(formula: str, random: str, method: str) -> MixedFit:
    return fit_mixed(_hsb(), formula, "school", random, method)


def _both(formula: str, random: str) -> MethodComparison:
    return MethodComparison(ml=_fit(formula, random, "ML"), reml=_fit(formula, random, "REML"))


def _random_slope_test() -> LikelihoodRatioTest:
    formula, random = HSB_RANDOM_COEFFICIENTS
    return likelihood_ratio_test(_fit(formula, random, "REML"), _fit(formula, "1", "REML"))


def _coefficients_as_outcomes_fits() -> dict[str, MixedFit]:
    formula, random = HSB_COEFFICIENTS_AS_OUTCOMES
    return {"1": _fit(formula, random, "REML"), "2": _fit(formula, "0 + cses", "REML"),
            "3": _fit(formula, "1", "REML")}


def _coefficients_as_outcomes_tests() -> dict[str, LikelihoodRatioTest]:
    fits = _coefficients_as_outcomes_fits()
    return {"random intercepts": likelihood_ratio_test(fits["1"], fits["2"]),
            "random slopes": likelihood_ratio_test(fits["1"], fits["3"])}


def _refit_table() -> pd.DataFrame:
    table = estimates_table(_coefficients_as_outcomes_fits()["3"])
    return table.rename(columns={"Estimate": "REML Estimate"})


#: table id -> function that recomputes the table from the data.
REPRODUCERS: dict[str, Callable[[], pd.DataFrame]] = {
    "fox-re-anova": lambda: re_anova_table(_both("mathach ~ 1", "1")),
    "fox-re-anova-icc": lambda: icc_table(_fit("mathach ~ 1", "1", "REML")),
    "fox-rc": lambda: ml_reml_table(_both(*HSB_RANDOM_COEFFICIENTS)),
    "fox-rc-lrt": lambda: lrt_table(_random_slope_test()),
    "fox-cao-loglik": lambda: loglik_table(_coefficients_as_outcomes_fits()),
    "fox-cao-tests": lambda: tests_table(_coefficients_as_outcomes_tests()),
    "fox-cao-refit": _refit_table,
}


def reproduce(table_id: str) -> pd.DataFrame:
    """Recompute one published table and compare it with the published values."""
    if table_id not in REPRODUCERS:
        raise InputError(f"no reproduction is defined for table {table_id!r}; "
                         f"known: {', '.join(sorted(REPRODUCERS))}")
    return compare_with_published(table_id, REPRODUCERS[table_id]())
