"""The lectures' tables rebuilt from fitted models, in the lectures' layout.

The chapters fit the models in view of the reader and pass the fits to the
layout functions here; :mod:`lmmbook.reproductions` fits the same models itself
and uses the same layouts, so tests and reports check exactly what the chapters
print.  Parameters are named as in the lecture (``beta_1``, ``psi_1``, ...): the
k-th fixed term of a fit is ``beta_k``.

>>> import lmmlib
>>> import lmmbook
>>> fits = lmmlib.compare_ml_reml(lmmbook.load_hsb(), "mathach ~ 1", group="school")
>>> re_anova_table(fits).index.tolist()
['beta_1', 'psi_1', 'sigma']
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from lmmlib import (
    LikelihoodRatioTest,
    MethodComparison,
    MixedFit,
    coefficient_table,
    fit_statistics,
    intraclass_correlation,
    regression_anova,
)

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


def rename_schools(labels, prefix: str = "") -> list[str]:
    """School ids as the lectures print them (``7472``, or ``id7472`` with *prefix* ``id``)."""
    return [f"{prefix}{int(label)}" for label in labels]


def descriptives_table(by_school: pd.DataFrame, overall: pd.Series) -> pd.DataFrame:
    """Per-school n, Mean, Std Dev, Min, Max (from :func:`lmmlib.describe_by_group`) and a total row."""
    table = by_school.rename(columns={"mean": "Mean", "sd": "Std Dev", "min": "Min", "max": "Max"})
    table.index = rename_schools(table.index)
    total = pd.DataFrame({"n": [overall["n"]], "Mean": [overall["mean"]], "Std Dev": [overall["sd"]]},
                         index=["total"])
    return pd.concat([table, total]).rename_axis("school")


def oneway_anova_table(fit) -> pd.DataFrame:
    """The fixed-effects ANOVA table of a one-factor least-squares fit, as the lecture labels it."""
    table = regression_anova(fit).rename(columns={"DF": "df", "Pr > F": "p"})
    table.index = ["Model (school)", "Error (residual)", "Corrected total"]
    return table


def dummy_coefficients_table(fit, reference: int | None = None, r_style: bool = False) -> pd.DataFrame:
    """Coefficients of a school-dummy regression, rows labelled by school.

    SAS style (default): rows ``Intercept`` and the school ids, with the *reference*
    school's estimate 0.  R style: rows ``(Intercept)`` and ``id<school>``, columns
    ``Estimate``, ``Std. Error``, ``t value``, ``Pr(>|t|)``.
    """
    table = coefficient_table(fit)
    schools = [int(term.split("[T.")[1].rstrip("]")) for term in table.index[1:]]
    if r_style:
        table = table.drop(columns="DF").rename(columns={"t": "t value", "Pr > |t|": "Pr(>|t|)"})
        table.index = ["(Intercept)"] + rename_schools(schools, "id")
        return table
    table = table.rename(columns={"Std. Error": "Standard Error", "DF": "df"})
    table.index = ["Intercept"] + rename_schools(schools)
    if reference is not None:
        table.loc[str(reference), "Estimate"] = 0.0
    return table


def sas_regression_tables(fit, names: dict[str, str]) -> dict[str, pd.DataFrame]:
    """PROC REG's three blocks for a least-squares fit: ``anova``, ``fit`` and ``coef``.

    *names* maps model terms to the printed row names (e.g. ``{"meanses": "meanSES"}``).
    """
    coef = coefficient_table(fit).rename(columns={"Estimate": "Parameter Estimate", "Std. Error": "Standard Error"})
    coef = coef[["DF", "Parameter Estimate", "Standard Error", "t", "Pr > |t|"]]
    coef["DF"] = 1
    coef.index = [names.get(term, term) for term in coef.index]
    return {"anova": regression_anova(fit), "fit": fit_statistics(fit).to_frame("fit").T, "coef": coef}
