"""lmmlib's inference after the fit against R, from the reference values stored in the repository.

The R scripts of ``tests/toolkit/reference`` ran lme4, lmerTest and pbkrtest once and stored
what they computed (``*_reference.csv``, with the script that made each file); the models
they fitted are listed in ``tests/toolkit/reference/models.py``.  Each function here refits
those models with lmmlib and returns one row per number compared: the model, the method, the
quantity, R's value, lmmlib's, their difference and the tolerance it is held to.  The toolkit's
tests and the book's appendix "Agreement with R" use the same functions, so the book shows
exactly what the tests check.

Differences are relative (|lmmlib - R| / |R|), except for correlations and p-values below
1e-12 (absolute) and conditional modes (relative to the spread of the modes of that term).

>>> table = kenward_roger_comparison()
>>> bool((table["difference"] <= table["tolerance"]).all())
True
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "toolkit" / "reference"
#: each statistic: its name in the book, what R computed it with, the tolerance (the appendix
#: gives the reasons)
SOURCES = {
    "profile": ("Profile intervals", "confint(profile())", 1e-3),
    "satterthwaite": ("Satterthwaite tests", "lmerTest", 1e-3),
    "kenward_roger": ("Kenward-Roger tests", "pbkrtest", 1e-3),
    "modes": ("Conditional modes", "ranef(condVar)", 1e-5),
    "influence": ("Refits without a group", "influence()", 3e-4),
    "prediction": ("Predictions", "predict(), MME", 1e-5),
    "multilevel_loglik": ("Several factors: logLik", "lmer()", 1e-6),
    "multilevel": ("Several factors: estimates", "lmer(), ranef()", 1e-4),
}


@functools.cache
def reference_models():
    """The registry of reference models (``tests/toolkit/reference/models.py``), loaded by path."""
    path = REFERENCE / "models.py"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the comparison with R needs the book's repository "
                                "(git clone), where the R reference values are stored")
    spec = importlib.util.spec_from_file_location("reference_models", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def load_hsb_cached() -> pd.DataFrame:
    from .data import load_hsb
    return load_hsb()


def _read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"{name}_reference.csv", dtype={"group": str})


@functools.cache
def _fit(model: str, method: str):
    return reference_models().fit(model, method, load_hsb_cached())


def _rows(kind: str, records: list[tuple]) -> pd.DataFrame:
    """One row per compared number from (model, method, quantity, R, lmmlib, absolute?) records."""
    table = pd.DataFrame(records, columns=["model", "method", "quantity", "R", "lmmlib", "absolute"])
    gap = (table["lmmlib"] - table["R"]).abs()
    table["difference"] = np.where(table["absolute"], gap, gap / table["R"].abs())
    table["tolerance"] = SOURCES[kind][2]
    table.insert(0, "statistic", kind)
    return table.drop(columns="absolute")


def _tiny(value: float) -> bool:
    """A p-value so small that only its order of magnitude means anything: compared absolutely."""
    return abs(value) < 1e-12


def profile_comparison() -> pd.DataFrame:
    """Profile-likelihood intervals (95%) against lme4's ``confint(profile(fit))``.

    lme4 profiles the ML deviance whatever the fit's method, so lmmlib's intervals are
    computed with ``criterion="ML"``; lme4 interpolates its profile with splines, hence the
    tolerance of 1e-3 (absolute for correlations).
    """
    from lmmlib import profile_intervals
    models = reference_models()
    records = []
    for (model, method), rows in _read("profile").groupby(["model", "method"], sort=False):
        ours = profile_intervals(_fit(model, method), criterion="ML")
        for _, row in rows.iterrows():
            name = models.lmmlib_name(row["parameter"])
            for end in ("lower", "upper"):
                records.append((model, method, f"{name} {end}", row[end], ours.loc[name, end],
                                name.startswith("cor(")))
    return _rows("profile", records)


def _small_sample(kind: str, tests, f_test) -> pd.DataFrame:
    models = reference_models()
    reference = _read(kind)
    if "method" not in reference:                   # Kenward-Roger: REML fits only
        reference = reference.assign(method="REML")
    records = []
    for (model, method), rows in reference.groupby(["model", "method"], sort=False):
        fit = _fit(model, method)
        ours = tests(fit)
        for _, row in rows[rows["kind"] == "t"].iterrows():
            term = models.lmmlib_name(row["term"])
            for column, theirs in (("se", "se"), ("df", "df"), ("t", "statistic"), ("p", "p")):
                records.append((model, method, f"{term} {column}", row[theirs], ours.loc[term, column],
                                column == "p" and _tiny(row[theirs])))
        for _, row in rows[rows["kind"] == "F"].iterrows():
            terms = [models.lmmlib_name(term) for term in row["term"].split("+")]
            joint = f_test(fit, terms)
            for column, theirs in (("denominator df", "df"), ("F", "statistic"), ("p", "p")):
                records.append((model, method, f"F({', '.join(terms)}) {column}", row[theirs], joint[column],
                                column == "p" and _tiny(row[theirs])))
            if "scaling" in row and not pd.isna(row["scaling"]):
                records.append((model, method, f"F({', '.join(terms)}) scaling", row["scaling"],
                                joint["scaling"], False))
    return _rows(kind, records)


def satterthwaite_comparison() -> pd.DataFrame:
    """t-tests and a joint F-test with Satterthwaite's df against lmerTest, REML and ML fits."""
    from lmmlib import satterthwaite_f_test, satterthwaite_tests
    return _small_sample("satterthwaite", satterthwaite_tests, satterthwaite_f_test)


def kenward_roger_comparison() -> pd.DataFrame:
    """Kenward-Roger t-tests and a joint F-test against pbkrtest (through lmerTest), REML fits."""
    from lmmlib import kenward_roger_f_test, kenward_roger_tests
    return _small_sample("kenward_roger", kenward_roger_tests, kenward_roger_f_test)


def modes_comparison() -> pd.DataFrame:
    """Conditional modes and their conditional SDs against lme4's ``ranef(fit, condVar = TRUE)``.

    A mode near zero has no meaningful relative difference: modes are compared relative to
    the spread (SD) of that term's modes; their SDs relative to themselves.
    """
    models = reference_models()
    records = []
    for (model, method), rows in _read("modes").groupby(["model", "method"], sort=False):
        fit = _fit(model, method)
        modes, sds = fit.random_effects.rename(index=str), fit.random_effects_se.rename(index=str)
        for term, block in rows.groupby("term", sort=False):
            name = models.lmmlib_name(term)
            spread = block["mode"].std()
            for _, row in block.iterrows():
                gap = abs(modes.loc[row["group"], name] - row["mode"]) / spread
                records.append((model, method, f"mode {name} (per SD of the modes)", 0.0, gap, True))
                records.append((model, method, f"sd {name}", row["sd"], sds.loc[row["group"], name], False))
    return _rows("modes", records)


def influence_comparison() -> pd.DataFrame:
    """The fixed effects refitted without each group against lme4's ``influence()``.

    lme4 stops its refits short of the optimum (it starts them at the full fit and allows a
    few iterations), hence the tolerance of 3e-4; the toolkit's tests also compare lmmlib
    with complete refits at 1e-6.
    """
    from lmmlib import group_influence
    models = reference_models()
    records = []
    for (model, method), rows in _read("influence").groupby(["model", "method"], sort=False):
        ours = group_influence(_fit(model, method)).rename(index=str)
        for _, row in rows.iterrows():
            term = models.lmmlib_name(row["term"])
            records.append((model, method, f"{term} without {row['group']}", row["estimate"],
                            ours.loc[row["group"], f"beta(-group) {term}"], False))
    return _rows("influence", records)


def prediction_comparison() -> pd.DataFrame:
    """Predictions and their standard errors against lme4's ``predict()`` and the standard errors
    computed in R from Henderson's mixed-model equations with lme4's X, Z and Lambda."""
    from lmmlib import predict
    records = []
    for model, rows in _read("prediction").groupby("model", sort=False):
        fit = _fit(model, "REML")
        group = fit.group
        predictors = [c for c in rows.columns[rows.columns.get_loc("sigma") + 1:] if rows[c].notna().all()]
        new = rows[predictors].assign(**{group: rows["group"].astype(int)}).reset_index(drop=True)
        marginal = predict(fit, new, effects="marginal", interval="confidence")
        conditional = predict(fit, new, effects="conditional", interval="confidence", new_groups="population")
        for k, row in enumerate(rows.itertuples()):
            label = f"row {row.row} ({group} {row.group})"
            records.append((model, "REML", f"{label} marginal", row.marginal, marginal["prediction"].iloc[k], False))
            records.append((model, "REML", f"{label} marginal se", row.se_marginal, marginal["se"].iloc[k], False))
            records.append((model, "REML", f"{label} conditional", row.conditional,
                            conditional["prediction"].iloc[k], False))
            if row.known:
                records.append((model, "REML", f"{label} conditional se", row.se_conditional,
                                conditional["se"].iloc[k], False))
    return _rows("prediction", records)


@functools.cache
def _multilevel_fit(model: str, method: str):
    import warnings

    import lmmlib
    models = reference_models()
    data_name, formula = models.MULTILEVEL_MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lmmlib.NestingWarning)      # the wrongly crossed Pastes model
        return lmmlib.fit_mixed(models.multilevel_data(data_name), formula, method=method)


def _multilevel_reference() -> pd.DataFrame:
    table = pd.read_csv(REFERENCE / "multilevel_reference.csv", comment="#", dtype={"value": str},
                        keep_default_na=False)
    return table[table["model"] != "insteval"]          # InstEval is compared in the benchmark


def _factors(fit) -> dict[str, tuple[str, bool]]:
    """lme4's name of each grouping factor (either order of a ':' combination) -> (lmmlib's name,
    whether lme4 writes the levels' labels in the other order)."""
    names = getattr(fit, "factors", None) or (fit.group,)
    return {written: (factor, written != factor) for factor in names
            for written in (factor, ":".join(factor.split(":")[::-1]))}


def _random_parts(fit) -> tuple[dict, dict, dict]:
    """Per factor: the covariance of its effects, its conditional modes and their SDs."""
    if hasattr(fit, "factors"):
        return fit.random_cov, fit.random_effects, fit.random_effects_se
    return {fit.group: fit.random_cov}, {fit.group: fit.random_effects}, {fit.group: fit.random_effects_se}


def _multilevel_theta(fit) -> dict[str, float]:
    """lmmlib's theta by lme4's names: ``factor.effect`` on the diagonal, ``factor.row.column`` below."""
    from lmmlib.engine import theta_positions
    if not hasattr(fit, "factors"):
        return {}
    names, start = {}, 0
    for grouping in fit.model.groupings:
        effects = [name.replace("Intercept", "(Intercept)") for name in fit.model.names[grouping.name]]
        for row, col in zip(*theta_positions(grouping.blocks)):
            label = effects[col] if row == col else f"{effects[row]}.{effects[col]}"
            names[f"{grouping.name}.{label}"] = fit.theta[start]
            start += 1
    return names


def multilevel_loglik_comparison() -> pd.DataFrame:
    """The log-likelihoods of the models with several grouping factors (and the one-factor models
    they are tested against) against lme4's best of four optimizer runs, compared absolutely."""
    reference = _multilevel_reference()
    rows = reference[(reference["kind"] == "fit") & (reference["name"] == "loglik")]
    return _rows("multilevel_loglik", [(row.model, row.method, "logLik", float(row.value),
                                        _multilevel_fit(row.model, row.method).loglik, True)
                                       for row in rows.itertuples()])


#: the kinds of rows of multilevel_reference.csv that are compared (besides sigma)
NUMBERS_COMPARED = {"fixef", "fixef_se", "theta", "sd", "cor", "mode", "mode_sd"}


def multilevel_comparison() -> pd.DataFrame:
    """The estimates of the same models against lme4: fixed effects and their SEs, sigma, theta, the
    SDs and correlations of the random effects, and the conditional modes (relative to the SD of
    that effect) with their conditional SDs, per grouping factor.  theta (ratios of SDs to sigma)
    and the correlations are compared absolutely, the others relatively."""
    models = reference_models()
    rename = models.MULTILEVEL_NAMES

    def effect(name: str) -> str:
        return rename.get(name, name)

    records = []
    for (model, method), rows in _multilevel_reference().groupby(["model", "method"], sort=False):
        fit = _multilevel_fit(model, method)
        factors, (covariances, modes, sds) = _factors(fit), _random_parts(fit)
        theta = _multilevel_theta(fit)
        for row in rows.itertuples():
            kind, name = row.kind, row.name
            if kind not in NUMBERS_COMPARED and (kind, name) != ("fit", "sigma"):
                continue
            value = float(row.value)
            if kind in ("fixef", "fixef_se"):
                column = "estimate" if kind == "fixef" else "se"
                records.append((model, method, f"{kind} {effect(name)}", value,
                                fit.fixed.loc[effect(name), column], False))
            elif kind == "fit" and name == "sigma":
                records.append((model, method, "sigma", value, fit.residual_sd, False))
            elif kind == "theta" and theta:
                factor, rest = next((factors[f][0], name[len(f) + 1:]) for f in sorted(factors, key=len, reverse=True)
                                    if name.startswith(f + "."))
                ours = theta[f"{factor}.{rest}"]
                records.append((model, method, f"theta {name}", value, ours, True))   # ratios to sigma
            elif kind == "sd" and not name.startswith("Residual"):
                factor, name_effect = name.split("|")
                cov = covariances[factors[factor][0]]
                records.append((model, method, f"sd {name}", value,
                                float(np.sqrt(cov.loc[effect(name_effect), effect(name_effect)])), False))
            elif kind == "cor":
                factor, first, second = name.split("|")
                cov = covariances[factors[factor][0]]
                a, b = effect(first), effect(second)
                records.append((model, method, f"cor {name}", value,
                                cov.loc[a, b] / np.sqrt(cov.loc[a, a] * cov.loc[b, b]), True))
            elif kind in ("mode", "mode_sd"):
                factor, level, name_effect = name.split("|")
                ours_factor, reverse = factors[factor]
                level = ":".join(level.split(":")[::-1]) if reverse else level
                table = (modes if kind == "mode" else sds)[ours_factor]
                ours = table.to_numpy()[table.index.astype(str).get_loc(level), table.columns.get_loc(
                    effect(name_effect))]
                if kind == "mode":
                    spread = float(np.sqrt(covariances[ours_factor].loc[effect(name_effect), effect(name_effect)]))
                    records.append((model, method, f"mode {name} (per SD)", 0.0, abs(ours - value) / spread, True))
                else:
                    records.append((model, method, f"mode sd {name}", value, ours, False))
    return _rows("multilevel", records)


COMPARISONS = {"profile": profile_comparison, "satterthwaite": satterthwaite_comparison,
               "kenward_roger": kenward_roger_comparison, "modes": modes_comparison,
               "influence": influence_comparison, "prediction": prediction_comparison,
               "multilevel_loglik": multilevel_loglik_comparison, "multilevel": multilevel_comparison}


def agreement_summary(comparisons: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per statistic: what R computed it with, the models, how many numbers were
    compared, the largest difference, the tolerance and whether every number is within it."""
    rows = []
    for kind, table in comparisons.items():
        name, source, tolerance = SOURCES[kind]
        rows.append({"statistic": name, "R": source, "models": table["model"].nunique(),
                     "numbers": len(table), "largest": difference_bound(table["difference"].max()),
                     "tolerance": f"{tolerance:.0e}",
                     "within": bool((table["difference"] <= table["tolerance"]).all())})
    return pd.DataFrame(rows).set_index("statistic")


def outside_tolerance(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a comparison whose difference exceeds the tolerance (empty when all agree)."""
    return table[~(table["difference"] <= table["tolerance"])]


#: differences below this are rounding, and their size varies from machine to machine
ROUNDING = 1e-9


def difference_bound(value: float) -> str:
    """A difference as the next step of the grid 1, 3, 10, 30, ... times a power of ten above
    it ("< 3e-07", :func:`lmmlib.display.bound`), a form that does not change with the last
    digits of a computation (machines differ in those); differences below 1e-9 are all "< 1e-09".

    >>> difference_bound(1.6e-07), difference_bound(2e-14), difference_bound(3.2e-4)
    ('< 3e-07', '< 1e-09', '< 1e-03')
    """
    from lmmlib.display import bound
    return bound(value, ROUNDING)


def lme4_default_shortfall(threshold: float = 1e-7) -> pd.DataFrame:
    """The fits where lme4's default optimizer stopped more than *threshold* below the best of its
    four runs (the reference), by how much (as a bound, :func:`difference_bound`), and whether
    lme4 warned about the convergence."""
    reference = _multilevel_reference()
    labels = reference_models().MULTILEVEL_LABELS
    rows = []
    for (model, method), table in reference.groupby(["model", "method"], sort=False):
        values = dict(zip(table["kind"] + ":" + table["name"], table["value"]))
        short = float(values["fit:loglik"]) - float(values["optimizer:loglik:nloptwrap"])
        if short > threshold:
            rows.append({"model": labels[model], "method": method, "short by": difference_bound(short),
                         "warned": any(kind == "warning" for kind in table["kind"])})
    return pd.DataFrame(rows).set_index(["model", "method"])


def multilevel_by_model(comparisons: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The models with several grouping factors: the difference in log-likelihood and, for the
    estimates, the numbers compared and the largest difference (bounds, :func:`difference_bound`),
    and whether all are within their tolerances."""
    loglik, estimates = (agreement_by_model(comparisons[kind]) for kind in ("multilevel_loglik", "multilevel"))
    return pd.DataFrame({"logLik": loglik["largest"], "numbers": estimates["numbers"],
                         "largest": estimates["largest"], "within": loglik["within"] & estimates["within"]})


def model_list(width: int = 79) -> str:
    """The reference models, one per paragraph: the book's name and the formula, wrapped."""
    models = reference_models()
    return _listed(models.LABELS, models.MODELS, width)


def multilevel_model_list(width: int = 79) -> str:
    """The reference models with several grouping factors (and the one-factor models they are
    tested against), one per paragraph: the book's name and the formula, wrapped."""
    models = reference_models()
    return _listed(models.MULTILEVEL_LABELS, {name: model for name, model in models.MULTILEVEL_MODELS.items()
                                              if name != "insteval"}, width)


def _listed(labels: dict, models: dict, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.fill(f"{labels[name]}: {formula}", width, subsequent_indent="    ")
                     for name, (_, formula) in models.items())


def agreement_by_model(table: pd.DataFrame) -> pd.DataFrame:
    """One comparison summarised per model and method: numbers compared, the largest difference
    (as a bound, :func:`difference_bound`) and whether all are within the tolerance."""
    models = reference_models()
    labels = {**models.LABELS, **models.MULTILEVEL_LABELS}
    grouped = table.assign(model=table["model"].map(labels)).groupby(["model", "method"], sort=False)
    return pd.DataFrame({"numbers": grouped.size(),
                         "largest": grouped["difference"].max().map(difference_bound),
                         "within": grouped.apply(lambda g: bool((g["difference"] <= g["tolerance"]).all()),
                                                           include_groups=False)})
