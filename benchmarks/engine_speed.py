"""Print the speed, accuracy and memory of lmmlib's mixed-model engine, next to statsmodels and lme4.

What is measured (wall-clock times on this machine; a fit always starts from the DataFrame):

1. The HSB models of the random-effects lecture, each by ML and by REML (12 fits), group ``school``:

   * ``anova``: ``mathach ~ 1``, random ``1`` (the random-effects one-way ANOVA);
   * ``rc``: ``mathach ~ cses``, random ``1 + cses`` (random coefficients);
   * ``ri``: ``mathach ~ cses``, random ``1`` (the null model of the random-slope test);
   * ``cao``: ``mathach ~ meanses + sector + cses + meanses:cses + I(meanses**2):cses +
     sector:cses``, random ``1 + cses`` (coefficients as outcomes);
   * ``cao-s`` and ``cao-i``: the same fixed part with random ``0 + cses`` and ``1``
     (the refits of the coefficients-as-outcomes tests).

   For each: :func:`lmmlib.fit_mixed` (median of ``--repeats`` runs, default 20, half
   of them just before and half just after the other programs fit the same model, so
   that a machine that slows down for a minute slows both sides of a ratio) against
   statsmodels' ``MixedLM.from_formula(formula, data, groups="school",
   re_formula="~<random>").fit(reml=...)`` with its default optimizer (median of
   ``--statsmodels-repeats`` runs, default 5).  Targets: lmmlib at least 100 times
   faster; its log-likelihood within 1e-6 of the best statsmodels optimum
   (:func:`lmmlib.fit_statsmodels`, several optimizers and a polish).  The table also
   shows how far statsmodels' default fit falls short of that optimum.
2. lme4's ``lmer`` on the same 12 fits, one ``Rscript`` per model (median of
   ``--repeats`` fits, each timed with ``proc.time``, lme4's default control, which
   includes its gradient and Hessian checks as lmmlib's fit does).  Targets: lmmlib
   at least 10 times faster; log-likelihoods within 1e-6.  Skipped, with a note, when
   Rscript or lme4 is missing (Debian: ``apt-get install -y r-base-core r-cran-lme4``).
3. Scale: HSB-shaped data simulated with known parameters (160 x 10, x 100 and
   x 1000 schools, about 7.2 million rows at the largest; school sizes resampled from
   HSB's, a school-centred predictor spread like ``cses``), random intercept and
   slope, REML, each size in its own process.  Printed: rows, seconds spent
   building the design, accumulating the cross-products, optimising and in total
   (the rest of ``fit_mixed``: conditional modes and fitted values), seconds per
   million rows, peak resident memory of the process (``ru_maxrss``, the simulated
   data included), and the estimates next to the true values.  Targets: the x 1000
   fit under 5 s and under 2 GB; the time per million rows at x 1000 at most 1.5
   times that at x 100 (cost linear in the rows).
4. The parametric bootstrap of the random-slope test (1000 replicates, REML,
   ``mathach ~ cses`` with random ``1 + cses`` against random ``1``); target: under
   a minute.
5. Profile-likelihood intervals of every parameter of the HSB random-coefficients fit
   (target: under a second; lme4's ``confint(profile(fit))`` in the same run) and 1000
   parametric-bootstrap refits of it (target: under 30 s).
6. t-tests of every coefficient of the coefficients-as-outcomes fit with Satterthwaite's
   and Kenward and Roger's degrees of freedom, against lmerTest and pbkrtest in the same
   run (target: faster than each).
7. Structured level-1 errors: Fox's Blackmore model with CAR(1) errors, Orthodont with
   AR(1) errors, Orthodont with AR(1) errors and a variance by Sex, and Blackmore with a
   random intercept, CAR(1) errors and a variance by group (nlme's varIdent), against nlme
   in the same run (target: faster than nlme on each, and the same log-likelihood where
   nlme converges), and a million rows of simulated panel data with CAR(1) errors (time
   and peak memory).

This is a measurement, not a test: it prints figures and never fails on a slow
machine.  Run from the repository root:

    .venv/bin/python benchmarks/engine_speed.py [--repeats N] [--statsmodels-repeats N]
                                                [--skip-scale] [--skip-r] [--skip-bootstrap]

It takes about two minutes with every section.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
from _timing import (
    GROUP,
    HSB_RANDOM_COEFFICIENTS,
    METHODS,
    MODELS,
    SEED,
    TRUE_BETA,
    TRUE_CORRELATION,
    TRUE_SD,
    TRUE_SIGMA,
    hsb_frame,
    lme4_version,
    median_seconds,
    print_table,
    r_formula,
    simulate_hsb_shaped,
    wall_seconds,
)
from statsmodels.regression.mixed_linear_model import MixedLM

import lmmlib

STATSMODELS_SPEEDUP_TARGET = 100
LME4_SPEEDUP_TARGET = 10
LOGLIK_TOLERANCE = 1e-6
SCALE_FACTORS = (10, 100, 1000)
SCALE_SECONDS_TARGET = 5.0
SCALE_MEMORY_TARGET_MB = 2000.0
LINEARITY_TARGET = 1.5
BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_SECONDS_TARGET = 60.0
LME4_SCRIPT = r"""
suppressMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
model <- as.formula(args[2])
repeats <- as.integer(args[3])
for (reml in c(FALSE, TRUE)) {
  seconds <- numeric(repeats)
  for (i in seq_len(repeats)) {
    start <- proc.time()[["elapsed"]]
    fit <- suppressMessages(suppressWarnings(lmer(model, data = data, REML = reml)))
    seconds[i] <- proc.time()[["elapsed"]] - start
  }
  cat(if (reml) "REML" else "ML", median(seconds), sprintf("%.10f", as.numeric(logLik(fit))), "\n")
}
"""


@dataclass
class Target:
    """One target and whether this run met it."""

    description: str
    measured: str
    met: bool


def status(met: bool) -> str:
    return "within target" if met else "OVER TARGET"


# ------------------------------------------------------------------ 1. and 2. HSB: lmmlib against statsmodels and lme4

@dataclass
class ModelTiming:
    """One model and method: lmmlib's times and fit, statsmodels' default fit and time, lme4's time and logL."""

    lmmlib_seconds: list[float]
    fit: lmmlib.MixedFit
    statsmodels_seconds: float
    statsmodels_default: object
    statsmodels_best: float
    lme4_seconds: float = np.nan
    lme4_loglik: float = np.nan

    @property
    def seconds(self) -> float:
        return statistics.median(self.lmmlib_seconds)


def time_hsb_models(hsb: pd.DataFrame, repeats: int, statsmodels_repeats: int, with_lme4: bool) -> dict:
    """(label, method) -> ModelTiming, the programs timed model by model, lmmlib before and after the others."""
    timings = {}
    with tempfile.TemporaryDirectory() as scratch:
        csv, script = Path(scratch) / "hsb.csv", Path(scratch) / "time_lmer.R"
        hsb[[GROUP, "mathach", "cses", "meanses", "sector"]].to_csv(csv, index=False)
        script.write_text(LME4_SCRIPT)
        for label, (formula, random) in MODELS.items():
            before = {method: wall_seconds(partial(lmmlib.fit_mixed, hsb, formula, GROUP, random, method),
                                           repeats - repeats // 2) for method in METHODS}
            for method in METHODS:
                seconds, default = median_seconds(partial(fit_statsmodels_default, hsb, formula, random, method),
                                                  statsmodels_repeats)
                try:
                    best = lmmlib.fit_statsmodels(hsb, formula, GROUP, random, method).loglik
                except lmmlib.ConvergenceError:
                    best = np.nan
                timings[(label, method)] = ModelTiming(before[method][0], before[method][1], seconds, default, best)
            for method, seconds, loglik in lme4_fits(script, csv, label, formula, random, repeats) if with_lme4 else []:
                timings[(label, method)].lme4_seconds, timings[(label, method)].lme4_loglik = seconds, loglik
            for method in METHODS:
                timings[(label, method)].lmmlib_seconds += wall_seconds(
                    partial(lmmlib.fit_mixed, hsb, formula, GROUP, random, method), repeats // 2)[0]
    return timings


def fit_statsmodels_default(hsb: pd.DataFrame, formula: str, random: str, method: str):
    """statsmodels' MixedLM fit of one model with its default optimizer."""
    return MixedLM.from_formula(formula, hsb, groups=GROUP, re_formula=f"~{random}").fit(reml=method == "REML")


def compare_with_statsmodels(timings: dict, repeats: int) -> list[Target]:
    rows, ratios, differences = [], [], []
    for (label, method), t in timings.items():
        ratio, difference = t.statsmodels_seconds / t.seconds, t.fit.loglik - t.statsmodels_best
        ratios.append(ratio)
        differences.append(difference)
        rows.append([label, method, f"{t.seconds * 1e3:.1f}", f"{t.statsmodels_seconds * 1e3:.0f}", f"{ratio:.0f}x",
                     f"{t.fit.loglik:.6f}", f"{difference:+.1e}",
                     f"{t.statsmodels_best - t.statsmodels_default.llf:.6f}"])
    print(f"statsmodels {statsmodels.__version__}: MixedLM.from_formula(...).fit(reml=...) with its defaults, "
          f"median of {repeats} fits (fewer than lmmlib's: each takes up to seconds); best statsmodels logL: "
          "lmmlib.fit_statsmodels (several optimizers and a polish); 'short by' = best logL - default fit's logL")
    print_table(["model", "method", "lmmlib ms", "statsmodels ms", "speed-up", "lmmlib logL",
                 "lmmlib - best sm logL", "sm default short by"], rows)
    return [
        Target(f"lmmlib >= {STATSMODELS_SPEEDUP_TARGET}x faster than statsmodels' default fit",
               f"{sum(r >= STATSMODELS_SPEEDUP_TARGET for r in ratios)} of {len(ratios)} fits; "
               f"smallest speed-up {min(ratios):.0f}x", min(ratios) >= STATSMODELS_SPEEDUP_TARGET),
        Target(f"|lmmlib logL - best statsmodels logL| < {LOGLIK_TOLERANCE:g}",
               f"largest {np.nanmax(np.abs(differences)):.1e}" + (" (a statsmodels fit failed)"
                                                                  if np.isnan(differences).any() else ""),
               bool(np.all(np.abs(differences) < LOGLIK_TOLERANCE))),
    ]


# ------------------------------------------------------------------ 2. HSB: lmmlib against lme4


def lme4_fits(script: Path, csv: Path, label: str, formula: str, random: str, repeats: int):
    """(method, median seconds, logL) of lmer on one model, by ML and by REML (one Rscript)."""
    result = subprocess.run(["Rscript", str(script), str(csv), r_formula(formula, random), str(repeats)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{label}: Rscript failed: {result.stderr.strip()[-300:]}")
        return []
    return [(method, float(seconds), float(loglik))
            for method, seconds, loglik in (line.split() for line in result.stdout.split("\n") if line.strip())]


def compare_with_lme4(timings: dict, repeats: int) -> list[Target]:
    rows, ratios, differences = [], [], []
    for (label, method), t in timings.items():
        if np.isnan(t.lme4_seconds):
            continue
        ratio, difference = t.lme4_seconds / t.seconds, t.fit.loglik - t.lme4_loglik
        ratios.append(ratio)
        differences.append(difference)
        rows.append([label, method, f"{t.seconds * 1e3:.1f}", f"{t.lme4_seconds * 1e3:.0f}",
                     f"{ratio:.1f}x", f"{t.lme4_loglik:.6f}", f"{difference:+.1e}"])
    print(f"lme4: lmer with its default control, median of {repeats} fits per model")
    print_table(["model", "method", "lmmlib ms", "lme4 ms", "speed-up", "lme4 logL", "lmmlib - lme4 logL"], rows)
    if not ratios:
        return [Target("lme4 comparison", "no lme4 fit ran", False)]
    return [
        Target(f"lmmlib >= {LME4_SPEEDUP_TARGET}x faster than lme4",
               f"{sum(r >= LME4_SPEEDUP_TARGET for r in ratios)} of {len(ratios)} fits; "
               f"smallest speed-up {min(ratios):.1f}x", min(ratios) >= LME4_SPEEDUP_TARGET),
        Target(f"|lmmlib logL - lme4 logL| < {LOGLIK_TOLERANCE:g}", f"largest {max(map(abs, differences)):.1e}",
               max(map(abs, differences)) < LOGLIK_TOLERANCE),
    ]


# ------------------------------------------------------------------ 3. scale: one process per size

def true_parameters() -> dict[str, float]:
    """The simulation's parameters, named as in MixedFit.parameters()."""
    covariance = TRUE_CORRELATION * TRUE_SD[0] * TRUE_SD[1]
    return {"Intercept": TRUE_BETA[0], "cses": TRUE_BETA[1], "sd(Intercept)": TRUE_SD[0], "sd(cses)": TRUE_SD[1],
            "cov(Intercept,cses)": covariance, "sd(residual)": TRUE_SIGMA}


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


#: phase -> the lmmlib function whose calls it times (a function name is wrapped in every lmmlib
#: module that binds it, wherever the engine's code has it; "Class.method" a static method).
PHASES = {"design": "model_design", "cross-products": "CrossProducts.from_codes",
          "optimisation": "minimize_deviance"}


def record_phases(phases: dict[str, float]) -> None:
    """Make fit_mixed add the seconds of each of its phases to *phases* (in the scale child process only).

    A phase whose function no lmmlib module has (lmmlib's internals move) is dropped from
    *phases* and reported as n/a.
    """
    import importlib
    import pkgutil

    def timed(name, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] += time.perf_counter() - start
        return wrapper

    modules = [importlib.import_module(f"lmmlib.{info.name}") for info in pkgutil.iter_modules(lmmlib.__path__)
               if info.name != "__main__"]
    for phase, target in PHASES.items():
        found = False
        for module in modules:
            if "." in target:
                owner, method = target.split(".")
                cls = vars(module).get(owner)
                if isinstance(cls, type) and method in vars(cls) and cls.__module__ == module.__name__:
                    setattr(cls, method, staticmethod(timed(phase, getattr(cls, method))))
                    found = True
            elif callable(vars(module).get(target)):
                setattr(module, target, timed(phase, getattr(module, target)))
                found = True
        if not found:
            del phases[phase]


def scale_child(factor: int) -> None:
    """Simulate one size, fit it once, print one JSON line (run in a process of its own)."""
    data = simulate_hsb_shaped(factor, SEED)
    report = {"rows": len(data), "groups": 160 * factor, "data MB": peak_memory_mb()}
    phases = {"design": 0.0, "cross-products": 0.0, "optimisation": 0.0}
    record_phases(phases)
    formula, random = HSB_RANDOM_COEFFICIENTS
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = lmmlib.fit_mixed(data, formula, GROUP, random, "REML")
        report["estimates"] = fit.parameters()["estimate"].to_dict()
    except lmmlib.LmmlibError as error:
        report["error"] = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    report["total"] = time.perf_counter() - start
    report.update(phases, **{"peak MB": peak_memory_mb()})
    print(json.dumps(report))


def scale(factors: tuple[int, ...]) -> list[Target]:
    reports = {}
    for factor in factors:
        result = subprocess.run([sys.executable, __file__, "--scale-child", str(factor)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            print(f"x{factor}: the child process failed: {result.stderr.strip()[-500:]}")
            continue
        reports[factor] = json.loads(result.stdout.strip().splitlines()[-1])
    if not reports:
        return [Target("scale", "no size ran", False)]
    rows = []
    for factor, r in reports.items():
        other = r["total"] - sum(r.get(phase, 0.0) for phase in PHASES)
        rows.append([f"x{factor}", f"{r['rows']:,}", f"{r['groups']:,}",
                     *[f"{r[phase]:.2f}" if phase in r else "n/a" for phase in PHASES],
                     "-" if "error" in r else f"{other:.2f}", f"{r['total']:.2f}",
                     f"{r['total'] / r['rows'] * 1e6:.2f}", f"{r['data MB']:.0f}", f"{r['peak MB']:.0f}"])
    print(f"REML, {HSB_RANDOM_COEFFICIENTS[0]}, random {HSB_RANDOM_COEFFICIENTS[1]}; times in seconds; "
          "'other' is the rest of fit_mixed (checks, conditional modes, fitted values); memory: the process's "
          "peak RSS in MB once the data are simulated, and at the end")
    print_table(["size", "rows", "schools", "design", "cross-prod", "optimise", "other", "total", "s per 1M rows",
                 "MB with data", "peak MB"], rows)
    for factor, r in reports.items():
        if "error" in r:
            print(f"x{factor}: {r['error']}")
    estimate_rows = [[name, f"{value:.4f}", *[f"{r['estimates'][name]:.4f}" if "estimates" in r else "failed"
                                                 for r in reports.values()]]
                     for name, value in true_parameters().items()]
    print()
    print_table(["parameter", "true", *[f"x{factor}" for factor in reports]], estimate_rows)
    targets = []
    largest = max(reports)
    r = reports[largest]
    targets.append(Target(f"x{largest} fit under {SCALE_SECONDS_TARGET:g} s", f"{r['total']:.2f} s"
                          + (" (failed)" if "error" in r else ""),
                          r["total"] < SCALE_SECONDS_TARGET and "error" not in r))
    targets.append(Target(f"x{largest} peak memory under {SCALE_MEMORY_TARGET_MB / 1000:g} GB",
                          f"{r['peak MB']:.0f} MB", r["peak MB"] < SCALE_MEMORY_TARGET_MB))
    if len(reports) > 1:
        second = sorted(reports)[-2]
        per_row = {f: reports[f]["total"] / reports[f]["rows"] for f in (second, largest)}
        growth = per_row[largest] / per_row[second]
        targets.append(Target(f"time per row at x{largest} <= {LINEARITY_TARGET:g} times that at x{second}",
                              f"{growth:.2f} times", growth <= LINEARITY_TARGET))
    return targets


# ------------------------------------------------------------------ 4. parametric bootstrap

def bootstrap(hsb: pd.DataFrame) -> list[Target]:
    formula, random = HSB_RANDOM_COEFFICIENTS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bigger = lmmlib.fit_mixed(hsb, formula, GROUP, random, "REML")
        smaller = lmmlib.fit_mixed(hsb, formula, GROUP, "1", "REML")
        seconds, test = median_seconds(lambda: lmmlib.parametric_bootstrap_lrt(
            bigger, smaller, hsb, replicates=BOOTSTRAP_REPLICATES, seed=SEED, progress=False), 1)
    print(f"random-slope test, REML, {BOOTSTRAP_REPLICATES} replicates (two refits each), one run")
    print_table(["test", "replicates", "failed refits", "seconds", "ms per replicate", "G2", "p (bootstrap)"],
                [["rc against ri", str(test.replicates), str(test.failed), f"{seconds:.1f}",
                  f"{seconds / test.replicates * 1e3:.1f}", f"{test.g2:.3f}", f"{test.p_bootstrap:.4f}"]])
    return [Target(f"{BOOTSTRAP_REPLICATES} bootstrap replicates under {BOOTSTRAP_SECONDS_TARGET:g} s",
                   f"{seconds:.1f} s", seconds < BOOTSTRAP_SECONDS_TARGET)]


# ------------------------------------------------------------------ 5. profile intervals

PROFILE_SECONDS_TARGET = 1.0
BOOTSTRAP_INTERVALS_SECONDS_TARGET = 30.0
PROFILE_R = """
suppressPackageStartupMessages(library(lme4))
students <- nlme::MathAchieve
hsb <- data.frame(school = students$School, ses = students$SES, mathach = students$MathAch)
hsb$cses <- hsb$ses - ave(hsb$ses, hsb$school)
fit <- lmer(mathach ~ cses + (1 + cses | school), hsb)
cat(system.time(confint(profile(fit), level = 0.95))[["elapsed"]], "\n")
"""


def profiles(hsb: pd.DataFrame, with_lme4: bool) -> list[Target]:
    formula, random = HSB_RANDOM_COEFFICIENTS
    fit = lmmlib.fit_mixed(hsb, formula, GROUP, random, "REML")
    seconds, table = median_seconds(lambda: lmmlib.profile_intervals(fit, criterion="ML"), 3)
    row = ["lmmlib profile_intervals", str(len(table)), f"{seconds:.2f}", ""]
    rows = [row]
    if with_lme4:
        result = subprocess.run(["Rscript", "-e", PROFILE_R], capture_output=True, text=True, timeout=600)
        if result.returncode == 0:
            r_seconds = float(result.stdout.split()[-1])
            rows.append(["lme4 confint(profile(fit))", str(len(table)), f"{r_seconds:.2f}", ""])
            row[3] = f"{r_seconds / seconds:.1f}x faster than lme4"
    print("HSB random-coefficients fit, 95% profile intervals of every parameter (ML profiles, as lme4)")
    print_table(["what", "parameters", "seconds", "ratio"], rows)
    boot_seconds, boot = median_seconds(lambda: lmmlib.bootstrap_intervals(
        fit, replicates=BOOTSTRAP_REPLICATES, seed=SEED, progress=False), 1)
    print(f"bootstrap intervals, {BOOTSTRAP_REPLICATES} refits: {boot_seconds:.1f} s "
          f"({boot.attrs['failed']} failed refits)")
    return [Target(f"profile intervals of the HSB random-coefficients fit under {PROFILE_SECONDS_TARGET:g} s",
                   f"{seconds:.2f} s", seconds < PROFILE_SECONDS_TARGET),
            Target(f"{BOOTSTRAP_REPLICATES} bootstrap refits of it under {BOOTSTRAP_INTERVALS_SECONDS_TARGET:g} s",
                   f"{boot_seconds:.1f} s", boot_seconds < BOOTSTRAP_INTERVALS_SECONDS_TARGET)]


# ------------------------------------------------------------------ 6. small-sample tests of fixed effects

SMALL_SAMPLE_FORMULA = "mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school)"
SMALL_SAMPLE_R = """
suppressPackageStartupMessages(library(lmerTest))
students <- nlme::MathAchieve
schools <- nlme::MathAchSchool
hsb <- data.frame(school = students$School, ses = students$SES, mathach = students$MathAch)
hsb$sector <- as.integer(schools$Sector[match(hsb$school, schools$School)] == "Catholic")
hsb$meanses <- ave(hsb$ses, hsb$school)
hsb$cses <- hsb$ses - hsb$meanses
fit <- lme4::lmer(mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (1 + cses | school), hsb)
satterthwaite <- system.time(coef(summary(as_lmerModLmerTest(fit), ddf = "Satterthwaite")))[["elapsed"]]
tested <- as_lmerModLmerTest(fit)
kenward_roger <- system.time(coef(summary(tested, ddf = "Kenward-Roger")))[["elapsed"]]
cat(satterthwaite, kenward_roger, "\n")
"""


def small_sample_tests(hsb: pd.DataFrame, with_r: bool) -> list[Target]:
    """t-tests of every coefficient of the coefficients-as-outcomes fit (REML) with Satterthwaite's
    and Kenward and Roger's degrees of freedom, against lmerTest and pbkrtest in the same run."""
    fit = lmmlib.fit_mixed(hsb, SMALL_SAMPLE_FORMULA, method="REML")
    ours = {"Satterthwaite": median_seconds(lambda: lmmlib.satterthwaite_tests(fit), 5)[0],
            "Kenward-Roger": median_seconds(lambda: lmmlib.kenward_roger_tests(fit), 5)[0]}
    theirs = {}
    if with_r:
        result = subprocess.run(["Rscript", "-e", SMALL_SAMPLE_R], capture_output=True, text=True, timeout=600)
        if result.returncode == 0:
            theirs = dict(zip(ours, map(float, result.stdout.split()[-2:])))
        else:
            print(f"Rscript failed: {result.stderr.strip()[-300:]}")
    print(f"HSB coefficients as outcomes, REML, t-tests of the {len(fit.fixed)} coefficients")
    rows = [[method, f"{seconds:.3f}", f"{theirs[method]:.3f}" if method in theirs else "",
             f"{theirs[method] / seconds:.0f}x faster" if method in theirs else ""]
            for method, seconds in ours.items()]
    print_table(["degrees of freedom", "lmmlib s", "lmerTest/pbkrtest s", "ratio"], rows)
    return [Target(f"{method} t-tests faster than {'lmerTest' if method == 'Satterthwaite' else 'pbkrtest'}",
                   f"{theirs[method] / seconds:.0f}x", theirs[method] > seconds)
            for method, seconds in ours.items() if method in theirs]


# ------------------------------------------------------------------ 7. serially correlated errors

LONGITUDINAL_R = """
suppressPackageStartupMessages(library(nlme))
data_dir <- "%s"
blackmore <- read.csv(file.path(data_dir, "Blackmore.csv"), stringsAsFactors = TRUE)
blackmore$log_exercise <- log2(blackmore$exercise + 5 / 60)
blackmore$time <- blackmore$age - 8
orthodont <- read.csv(file.path(data_dir, "Orthodont.csv"), stringsAsFactors = TRUE)
orthodont <- orthodont[order(orthodont$Subject, orthodont$age), ]
fits <- list(
  function() lme(log_exercise ~ time * group, random = ~ time | subject, data = blackmore,
                 correlation = corCAR1(form = ~ age | subject), control = lmeControl(opt = "optim")),
  function() lme(distance ~ age + Sex, random = ~ 1 | Subject, data = orthodont,
                 correlation = corAR1(form = ~ 1 | Subject)),
  function() lme(distance ~ age + Sex, random = ~ 1 | Subject, data = orthodont,
                 correlation = corAR1(form = ~ 1 | Subject), weights = varIdent(form = ~ 1 | Sex)),
  function() lme(log_exercise ~ time * group, random = ~ 1 | subject, data = blackmore,
                 correlation = corCAR1(form = ~ age | subject), weights = varIdent(form = ~ 1 | group)))
for (fit in fits) {
  cat(median(sapply(1:5, function(i) system.time(fit())[["elapsed"]])), sprintf("%%.8f", logLik(fit())), "\\n")
}
"""
REFERENCE_DATA = Path(__file__).resolve().parent.parent / "tests" / "toolkit" / "reference" / "data"
PANEL_SUBJECTS, PANEL_OCCASIONS = 200_000, 5


def longitudinal(with_r: bool) -> list[Target]:
    """Four longitudinal models (REML) against nlme in the same run: Fox's Blackmore model with CAR(1)
    errors (nlme's default optimizer fails; it is timed with optim, which runs but stops short of the
    optimum), Orthodont with AR(1) errors, the same with a variance by Sex, and Blackmore with a random
    intercept, CAR(1) errors and a variance by group; then a million rows of simulated panel data.
    lmmlib's time is the median of 10 fits, 5 just before and 5 just after nlme's (median of 5), so
    that a machine that slows down for a while slows both sides of a ratio."""
    blackmore = pd.read_csv(REFERENCE_DATA / "Blackmore.csv")
    blackmore = blackmore.assign(log_exercise=np.log2(blackmore["exercise"] + 5 / 60), time=blackmore["age"] - 8)
    orthodont = pd.read_csv(REFERENCE_DATA / "Orthodont.csv").sort_values(["Subject", "age"], kind="stable")
    models = {
        "Blackmore, CAR(1)": (blackmore, "log_exercise ~ time * group + (time | subject)", lmmlib.CAR1("age"), None),
        "Orthodont, AR(1)": (orthodont, "distance ~ age + Sex + (1 | Subject)", lmmlib.AR1(), None),
        "Orthodont, AR(1), variance by Sex": (orthodont, "distance ~ age + Sex + (1 | Subject)", lmmlib.AR1(),
                                              lmmlib.VarIdent("Sex")),
        "Blackmore, intercept, CAR(1), variance by group": (
            blackmore, "log_exercise ~ time * group + (1 | subject)", lmmlib.CAR1("age"), lmmlib.VarIdent("group")),
    }
    runs = {name: partial(lmmlib.fit_mixed, data, formula, correlation=correlation, variance=variance)
            for name, (data, formula, correlation, variance) in models.items()}
    seconds, logliks = {name: [] for name in models}, {}

    def time_ours() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", lmmlib.BoundaryWarning)   # Fox's model: the random effects' boundary
            for name, run in runs.items():
                times, fit = wall_seconds(run, 5)
                seconds[name] += times
                logliks[name] = fit.loglik

    time_ours()
    theirs = {}
    if with_r:
        result = subprocess.run(["Rscript", "-e", LONGITUDINAL_R % REFERENCE_DATA], capture_output=True, text=True,
                                timeout=600)
        if result.returncode == 0:
            rows = [line.split() for line in result.stdout.strip().splitlines()[-len(models):]]
            theirs = {name: (float(elapsed), float(loglik)) for name, (elapsed, loglik) in zip(models, rows)}
        else:
            print(f"Rscript failed: {result.stderr.strip()[-300:]}")
    time_ours()
    ours = {name: statistics.median(times) for name, times in seconds.items()}
    print_table(["model (REML)", "lmmlib s", "nlme s", "ratio", "logLik lmmlib - nlme"],
                [[name, f"{median:.3f}", f"{theirs[name][0]:.3f}" if name in theirs else "",
                  f"{theirs[name][0] / median:.1f}x faster" if name in theirs else "",
                  f"{logliks[name] - theirs[name][1]:.2g}" if name in theirs else ""]
                 for name, median in ours.items()], left=1)
    targets = [Target(f"{name} faster than nlme", f"{theirs[name][0] / median:.1f}x", theirs[name][0] > median)
               for name, median in ours.items() if name in theirs]
    targets += [Target(f"{name}: log-likelihood at least nlme's", f"{logliks[name] - theirs[name][1]:+.2g}",
                       logliks[name] > theirs[name][1] - LOGLIK_TOLERANCE) for name in ours if name in theirs]
    result = subprocess.run([sys.executable, __file__, "--panel-child"], capture_output=True, text=True)
    if result.returncode != 0:
        print(f"panel: the child process failed: {result.stderr.strip()[-500:]}")
        return targets + [Target("a million panel rows with CAR(1) errors", "failed", False)]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"simulated panel: {report['rows']:,} rows ({PANEL_SUBJECTS:,} subjects x {PANEL_OCCASIONS} occasions at "
          f"irregular times), random intercept and slope, CAR(1) errors with phi = 0.5: "
          f"{report['total']:.1f} s, peak {report['peak MB']:.0f} MB; phi estimated {report['phi']:.3f}")
    return targets + [Target("a million panel rows with CAR(1) errors under a minute", f"{report['total']:.1f} s",
                             report["total"] < 60)]


def panel_child() -> None:
    """Simulate the panel, fit it once, print one JSON line (run in a process of its own)."""
    rng = np.random.default_rng(SEED)
    subjects, occasions = PANEL_SUBJECTS, PANEL_OCCASIONS
    subject = np.repeat(np.arange(subjects), occasions)
    times = np.sort(np.arange(occasions) + rng.uniform(0, 0.5, (subjects, occasions)), axis=1)
    errors = np.empty((subjects, occasions))
    errors[:, 0] = rng.normal(size=subjects)
    for k in range(1, occasions):
        rho = 0.5 ** (times[:, k] - times[:, k - 1])
        errors[:, k] = rho * errors[:, k - 1] + np.sqrt(1 - rho ** 2) * rng.normal(size=subjects)
    x = rng.normal(size=subjects * occasions)
    y = (1 + 0.5 * times.ravel() + 0.3 * x + rng.normal(size=subjects)[subject]
         + rng.normal(0, 0.3, subjects)[subject] * times.ravel() + errors.ravel())
    data = pd.DataFrame({"y": y, "time": times.ravel(), "x": x, "subject": subject})
    start = time.perf_counter()
    fit = lmmlib.fit_mixed(data, "y ~ time + x + (time | subject)", correlation=lmmlib.CAR1("time"))
    print(json.dumps({"rows": len(data), "total": time.perf_counter() - start, "peak MB": peak_memory_mb(),
                      "phi": fit.correlation.phi}))


# ------------------------------------------------------------------ main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="runs per lmmlib and lme4 timing (median)")
    parser.add_argument("--statsmodels-repeats", type=int, default=5, help="runs per statsmodels timing")
    parser.add_argument("--skip-scale", action="store_true", help="leave out the simulated large data")
    parser.add_argument("--skip-r", action="store_true", help="leave out lme4")
    parser.add_argument("--skip-bootstrap", action="store_true", help="leave out the parametric bootstrap")
    parser.add_argument("--scale-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--panel-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        scale_child(args.scale_child)
        return 0
    if args.panel_child:
        panel_child()
        return 0

    print(f"cores: {os.cpu_count()}; Python {platform.python_version()}, numpy {np.__version__}, "
          f"pandas {pd.__version__}, statsmodels {statsmodels.__version__}")
    print_table(["model", "fixed part", "random part (group: school)"],
                [[label, formula, random] for label, (formula, random) in MODELS.items()], left=3)
    hsb = hsb_frame()
    targets: list[Target] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # boundary warnings (cao-s) and statsmodels' convergence warnings
        version = None if args.skip_r else lme4_version()
        timings = time_hsb_models(hsb, args.repeats, args.statsmodels_repeats, with_lme4=version is not None)
        print(f"\n== 1. HSB, lmmlib (median of {args.repeats} fits) against statsmodels")
        targets += compare_with_statsmodels(timings, args.statsmodels_repeats)
        print("\n== 2. HSB, lmmlib against lme4")
        if args.skip_r:
            print("skipped (--skip-r)")
        elif version is None:
            print("Rscript with lme4 not found: skipped. Install it with "
                  "apt-get install -y r-base-core r-cran-lme4")
        else:
            print(f"lme4 {version}")
            targets += compare_with_lme4(timings, args.repeats)
    print("\n== 3. Scale: simulated HSB-shaped data, one process per size")
    if args.skip_scale:
        print("skipped (--skip-scale)")
    else:
        targets += scale(SCALE_FACTORS)
    print("\n== 4. Parametric bootstrap")
    if args.skip_bootstrap:
        print("skipped (--skip-bootstrap)")
    else:
        targets += bootstrap(hsb)
    print("\n== 5. Profile-likelihood and bootstrap intervals")
    targets += profiles(hsb, with_lme4=not args.skip_r and version is not None)
    print("\n== 6. Small-sample tests of fixed effects")
    targets += small_sample_tests(hsb, with_r=not args.skip_r and version is not None)
    print("\n== 7. Serially correlated errors (longitudinal models)")
    targets += longitudinal(with_r=not args.skip_r and version is not None)
    print("\n== Summary")
    for target in targets:
        print(f"{target.description}: {target.measured}  {status(target.met)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
