"""The lme4 reference values for several grouping factors (issue 17), checked without R.

``reference/multilevel_reference.R`` wrote ``reference/multilevel_reference.csv``: lme4's fits of
nested and crossed models (Pastes, Penicillin, egsingle, ScotsSec, InstEval) by REML and ML.
lmmlib cannot fit these models yet; these tests check what can be checked now: the file has
every model of the registry (``reference/models.py``, ``MULTILEVEL_MODELS``) with both methods
and R's formula, the Python loaders give exactly the rows R fitted (checksums that see values
and row order), with the numbers of rows and of levels per grouping factor R recorded, and the
stored fits are internally consistent (the optimum kept is the best lme4 found, with a small
gradient; modes stored for the factors and levels the README says).
"""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmmbook.agreement import reference_models

REFERENCE = Path(__file__).resolve().parent / "reference" / "multilevel_reference.csv"
registry = reference_models()
MODELS = registry.MULTILEVEL_MODELS
METHODS = ("REML", "ML")


@functools.cache
def reference() -> pd.DataFrame:
    """The long table (model, method, kind, name, value), values as text; the first line is a comment."""
    return pd.read_csv(REFERENCE, skiprows=1, dtype=str, keep_default_na=False)


def values(model: str, method: str, kind: str) -> pd.Series:
    table = reference()
    rows = table[(table["model"] == model) & (table["method"] == method) & (table["kind"] == kind)]
    return rows.set_index("name")["value"]


def number(model: str, method: str, kind: str, name: str) -> float:
    return float(values(model, method, kind)[name])


def test_the_file_names_its_script_and_lme4():
    first = REFERENCE.read_text().splitlines()[0]
    assert first.startswith("# made by multilevel_reference.R") and "lme4 1.1" in first


def test_every_model_of_the_registry_with_both_methods_and_r_formula():
    table = reference()
    assert set(table["model"]) == set(MODELS)
    for model, (data, formula) in MODELS.items():
        for method in METHODS:
            described = values(model, method, "model")
            assert described["data"] == data and described["formula"] == formula, (model, method)
            assert set(registry.MULTILEVEL_LABELS) == set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_python_loaders_give_the_rows_r_fitted(model):
    """Same rows in the same order with the same values: sum, sum of squares and row-weighted sum
    of every variable of the formula (labels as numbers or as ranks), and the number of rows."""
    data = registry.multilevel_data(MODELS[model][0])
    for method in METHODS:
        recorded = values(model, method, "data").astype(float)
        columns = [name.split(":", 1)[1] for name in recorded.index if name.startswith("sum:")]
        assert columns, model
        computed = registry.data_checksums(data, columns)
        assert set(computed) == set(recorded.index)
        for name, value in recorded.items():
            assert computed[name] == pytest.approx(value, rel=1e-12, abs=1e-9), (model, method, name)
        assert number(model, method, "fit", "n_obs") == len(data)


@pytest.mark.parametrize("model", MODELS)
def test_python_loaders_give_the_levels_per_factor_r_recorded(model):
    data = registry.multilevel_data(MODELS[model][0])
    for method in METHODS:
        for factor, levels in values(model, method, "n_groups").items():
            assert registry.grouping_levels(data, factor) == int(levels), (model, method, factor)


def test_levels_of_the_data_sets():
    """The structure the chapter describes: egsingle's child ids are unique across schools (each
    child in one school), Pastes' cask labels a, b, c repeat in every batch, ScotsSec's primary
    schools send pupils to several secondary schools (crossed, not nested)."""
    eg = registry.multilevel_data("egsingle")
    assert eg["childid"].nunique() == registry.grouping_levels(eg, "schoolid:childid") == 1721
    assert eg["schoolid"].nunique() == 60
    pastes = registry.multilevel_data("pastes")
    assert pastes["cask"].nunique() == 3 and registry.grouping_levels(pastes, "cask:batch") == 30
    assert registry.grouping_levels(pastes, "sample") == 30
    scots = registry.multilevel_data("scotssec")
    assert (scots.groupby("primary")["second"].nunique() > 1).sum() == 91
    insteval = registry.multilevel_data("insteval")
    assert insteval["dept_service"].nunique() == registry.grouping_levels(insteval, "dept:service") == 28


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", METHODS)
def test_stored_fits_are_consistent(model, method):
    fit = values(model, method, "fit")
    loglik = float(fit["loglik"])
    criterion = float(fit["REMLcrit" if method == "REML" else "deviance"])
    assert criterion == pytest.approx(-2 * loglik, rel=1e-12)
    # the fit kept is the best of lme4's tries, and lme4's own gradient check passes by far
    optimizer = values(model, method, "optimizer")
    tries = {name.split(":", 1)[1]: float(v) for name, v in optimizer.items() if name.startswith("loglik:")}
    assert {"nloptwrap", "bobyqa", "bobyqa@best"} <= set(tries)
    assert tries[optimizer["kept"]] == loglik == max(tries.values())
    assert float(values(model, method, "convergence")["scaled_gradient"]) < 1e-3
    # theta: one entry per lower-triangle element of each term, in the terms' order
    terms = values(model, method, "re_term")
    sizes = [len(term.split(": ", 1)[1].split(", ")) for term in terms]
    theta = values(model, method, "theta")
    assert len(theta) == sum(k * (k + 1) // 2 for k in sizes)
    assert len(values(model, method, "gradient")) == len(theta)
    assert list(values(model, method, "n_groups").index) == list(dict.fromkeys(t.split(": ")[0] for t in terms))
    assert math.isclose(float(values(model, method, "sd")["Residual|"]), float(fit["sigma"]), rel_tol=1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_modes_stored_per_factor_and_level(model):
    """Every level's mode and conditional SD, but egsingle's children only for the sample of 100
    (models.egsingle_mode_children) and none for InstEval."""
    children = set(registry.egsingle_mode_children())
    assert len(children) == 100
    for method in METHODS:
        modes, sds = values(model, method, "mode"), values(model, method, "mode_sd")
        if model == "insteval":
            assert modes.empty and sds.empty
            continue
        assert list(modes.index) == list(sds.index)
        assert (sds.astype(float) > 0).all()
        parts = modes.index.str.split("|", expand=True).to_frame(index=False, name=["factor", "level", "term"])
        terms = values(model, method, "re_term")
        n_groups = values(model, method, "n_groups").astype(int)
        for factor, stored in parts.groupby("factor"):
            columns = {c for t in terms if t.split(": ")[0] == factor for c in t.split(": ", 1)[1].split(", ")}
            assert set(stored["term"]) == columns, (model, factor)
            if "childid" in factor:
                position = factor.split(":").index("childid")
                ids = {int(level.split(":")[position]) for level in stored["level"]}
                assert ids == children, (model, factor)
                expected = 100
            else:
                expected = n_groups[factor]
            assert stored.groupby("term")["level"].nunique().eq(expected).all(), (model, factor)


def test_the_pastes_models_relate_as_the_chapter_says():
    """Sanity of the stored values: the wrongly crossed model has 3 casks, not 30 samples; the
    nested model and the model with samples alone have the same residual variance (within
    samples), and the sample variance of the latter is about the nested model's batch plus
    cask-within-batch variance."""
    assert values("pastes_crossed_wrong", "REML", "n_groups").to_dict() == {"batch": "10", "cask": "3"}
    nested = values("pastes_nested", "REML", "vcov").astype(float)
    sample = values("pastes_sample", "REML", "vcov").astype(float)
    assert nested["cask:batch|(Intercept)|"] + nested["batch|(Intercept)|"] == pytest.approx(
        sample["sample|(Intercept)|"], rel=0.05)
    assert np.isclose(nested["Residual||"], sample["Residual||"], rtol=1e-6)
