"""Several grouping factors against lme4 (tests/toolkit/reference/multilevel_reference.R and .csv).

Pastes (nested, and the casks wrongly crossed with batches), Penicillin (crossed), egsingle (three
levels: years within children within schools) and ScotsSec (primary crossed with secondary
school), by REML and ML: the log-likelihood within 1e-6 of lme4's best of four optimizer runs
(or above it), fixed effects, their SEs, theta, SDs, correlations and sigma within 1e-4
relative, and the conditional modes and their SDs.  InstEval (the speed benchmark) is compared
in benchmarks/several_factors.py.
"""
import sys
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib
from lmmlib.engine import theta_positions

sys.path.insert(0, str(Path(__file__).parent / "reference"))
from models import MULTILEVEL_MODELS, MULTILEVEL_NAMES, multilevel_data  # noqa: E402

REFERENCE = Path(__file__).parent / "reference" / "multilevel_reference.csv"
COMPARED = [name for name in MULTILEVEL_MODELS if name != "insteval"]
#: the one-factor models of the registry (the likelihood-ratio tests' smaller models) go through MixedFit
SEVERAL = [name for name in COMPARED if len(lmmlib.formula.parse_formula(MULTILEVEL_MODELS[name][1]).factors) > 1]
LOGLIK_TOLERANCE = 1e-6
RELATIVE_TOLERANCE = 1e-4


@cache
def reference() -> pd.DataFrame:
    return pd.read_csv(REFERENCE, comment="#", dtype={"value": str}, keep_default_na=False)


def values(model: str, method: str, kind: str) -> dict[str, str]:
    table = reference()
    rows = table[(table.model == model) & (table.method == method) & (table.kind == kind)]
    return dict(zip(rows.name, rows.value))


@cache
def fitted(model: str, method: str) -> lmmlib.MultilevelFit:
    data_name, formula = MULTILEVEL_MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.NestingWarning)
        return lmmlib.fit_mixed(multilevel_data(data_name), formula, method=method)


def ours_factor(fit, lme4_factor: str) -> tuple[str, bool]:
    """Our name of lme4's grouping factor (lme4 writes schoolid/childid as childid:schoolid), and
    whether its level labels come in the other order."""
    for factor in getattr(fit, "factors", None) or (fit.group,):
        if factor == lme4_factor:
            return factor, False
        if factor.split(":") == lme4_factor.split(":")[::-1]:
            return factor, True
    raise KeyError(lme4_factor)


def our_name(name: str) -> str:
    return MULTILEVEL_NAMES.get(name, name)


CASES = [(model, method) for model in SEVERAL for method in ("REML", "ML")]


@pytest.mark.parametrize("model, method", [(model, method) for model in COMPARED for method in ("REML", "ML")])
def test_loglik_fixed_effects_and_sigma(model, method):
    fit = fitted(model, method)
    theirs = values(model, method, "fit")
    difference = fit.loglik - float(theirs["loglik"])
    assert difference > -LOGLIK_TOLERANCE, f"lmmlib's optimum is {-difference:.2e} below lme4's"
    assert abs(difference) < LOGLIK_TOLERANCE or fit.gradient_norm < 1e-3
    assert fit.residual_sd == pytest.approx(float(theirs["sigma"]), rel=RELATIVE_TOLERANCE)
    assert fit.singular == (theirs["singular"] == "TRUE")
    for kind, column in (("fixef", "estimate"), ("fixef_se", "se")):
        for name, value in values(model, method, kind).items():
            assert fit.fixed.loc[our_name(name), column] == pytest.approx(float(value), rel=RELATIVE_TOLERANCE), \
                (kind, name)
    levels = getattr(fit, "n_levels", None) or {fit.group: fit.n_groups}
    assert levels == {ours_factor(fit, factor)[0]: int(count)
                      for factor, count in values(model, method, "n_groups").items()}


@pytest.mark.parametrize("model, method", CASES)
def test_theta_sds_and_correlations(model, method):
    fit = fitted(model, method)
    ours = {}
    start = 0
    for grouping in fit.model.groupings:
        names = fit.model.names[grouping.name]
        for row, col in zip(*theta_positions(grouping.blocks)):
            label = names[col] if row == col else f"{names[row]}.{names[col]}"
            ours[(grouping.name, label)] = fit.theta[start]
            start += 1
    theirs = values(model, method, "theta")
    assert len(theirs) == len(ours)
    for name, value in theirs.items():
        factor, rest = _split_factor(fit, name, ".")
        label = ".".join(our_name(part) for part in rest.split(".")) if rest != "(Intercept)" else "Intercept"
        label = label.replace("(Intercept)", "Intercept")
        assert ours[(factor, label)] == pytest.approx(float(value), rel=RELATIVE_TOLERANCE, abs=1e-7), name
    for name, value in values(model, method, "sd").items():
        factor, effect = name.split("|")
        if factor == "Residual":
            continue
        ours_name = ours_factor(fit, factor)[0]
        sd = np.sqrt(fit.random_cov[ours_name].loc[our_name(effect), our_name(effect)])
        assert sd == pytest.approx(float(value), rel=RELATIVE_TOLERANCE, abs=1e-7), name
    for name, value in values(model, method, "cor").items():
        factor, first, second = name.split("|")
        cov = fit.random_cov[ours_factor(fit, factor)[0]]
        a, b = our_name(first), our_name(second)
        correlation = cov.loc[a, b] / np.sqrt(cov.loc[a, a] * cov.loc[b, b])
        assert correlation == pytest.approx(float(value), rel=RELATIVE_TOLERANCE, abs=1e-6), name


def _split_factor(fit, name: str, separator: str) -> tuple[str, str]:
    """lme4's 'factor.rest' theta name -> (our factor, rest); factor names may contain ':' but not '.'."""
    for factor in sorted(fit.factors, key=len, reverse=True):
        for written in (factor, ":".join(factor.split(":")[::-1])):
            if name.startswith(written + separator):
                return factor, name[len(written) + 1:]
    raise KeyError(name)


@pytest.mark.parametrize("model, method", CASES)
def test_conditional_modes_and_their_sds(model, method):
    fit = fitted(model, method)
    for kind, table in (("mode", fit.random_effects), ("mode_sd", fit.random_effects_se)):
        theirs = values(model, method, kind)
        assert theirs, f"no {kind} stored"
        for name, value in theirs.items():
            factor, level, effect = name.split("|")
            ours_name, reversed_labels = ours_factor(fit, factor)
            if reversed_labels:
                level = ":".join(level.split(":")[::-1])
            frame = table[ours_name]
            index = frame.index.astype(str)
            ours = frame.to_numpy()[index.get_loc(level), frame.columns.get_loc(our_name(effect))]
            scale = np.sqrt(fit.random_cov[ours_name].loc[our_name(effect), our_name(effect)])
            assert ours == pytest.approx(float(value), rel=RELATIVE_TOLERANCE, abs=1e-5 * scale), (kind, name)
