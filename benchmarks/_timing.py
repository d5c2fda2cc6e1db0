"""What the benchmarks share: the HSB models, the HSB frame, the simulated HSB-shaped data, timing and tables.

Used by ``engine_speed.py`` (lmmlib against statsmodels and lme4) and ``python_peers.py``
(lmmlib against the other Python mixed-model packages).  Imports nothing but numpy,
pandas and the standard library at module level (the book's loader only inside
:func:`hsb_frame`), so that it also loads in the peers' virtual environment.
"""
from __future__ import annotations

import shutil
import statistics
import subprocess
import time

import numpy as np
import pandas as pd

GROUP = "school"
#: The HSB models of the random-effects lecture (fixed part, random part), as fitted in
#: the chapters (the lecture-table constants HSB_RANDOM_COEFFICIENTS and
#: HSB_COEFFICIENTS_AS_OUTCOMES).
HSB_RANDOM_COEFFICIENTS = ("mathach ~ cses", "1 + cses")
HSB_COEFFICIENTS_AS_OUTCOMES = (
    "mathach ~ meanses + sector + cses + meanses:cses + I(meanses**2):cses + sector:cses", "1 + cses")
CAO_FORMULA = HSB_COEFFICIENTS_AS_OUTCOMES[0]
#: label -> (fixed part, random part), as fitted in the chapters.
MODELS = {
    "anova": ("mathach ~ 1", "1"),
    "rc": HSB_RANDOM_COEFFICIENTS,
    "ri": (HSB_RANDOM_COEFFICIENTS[0], "1"),
    "cao": HSB_COEFFICIENTS_AS_OUTCOMES,
    "cao-s": (CAO_FORMULA, "0 + cses"),
    "cao-i": (CAO_FORMULA, "1"),
}
METHODS = ("ML", "REML")
#: The simulation's true values, close to the HSB random-coefficients estimates.
TRUE_BETA = (12.6, 2.2)
TRUE_SD = (2.9, 0.8)
TRUE_CORRELATION = 0.2
TRUE_SIGMA = 6.1
SEED = 20240601


# ------------------------------------------------------------------ timing and tables

def wall_seconds(run, repeats: int) -> tuple[list[float], object]:
    """Wall time of each of *repeats* calls of *run*, and the last call's result."""
    seconds = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def median_seconds(run, repeats: int) -> tuple[float, object]:
    """Median wall time of *repeats* calls of *run*, and the last call's result."""
    seconds, result = wall_seconds(run, repeats)
    return statistics.median(seconds), result


def print_table(headers: list[str], rows: list[list[str]], left: int = 1) -> None:
    """Columns as wide as their widest cell: the first *left* aligned left, the others right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    for line in [headers, ["-" * w for w in widths], *rows]:
        cells = [f"{cell:<{w}}" if k < left else f"{cell:>{w}}" for k, (cell, w) in enumerate(zip(line, widths))]
        print("  ".join(cells).rstrip())


# ------------------------------------------------------------------ data

def hsb_frame() -> pd.DataFrame:
    """High School and Beyond (the book's loader, :func:`lmmbook.load_hsb`), the columns the benchmarks fit.

    Only the coordinating process, in the book's environment, calls it; the workers of
    other environments read the data it writes.
    """
    from lmmbook import load_hsb

    return load_hsb()[["school", "sector", "ses", "meanses", "cses", "mathach"]]


def simulate_hsb_shaped(factor: int, seed: int = SEED, hsb: pd.DataFrame | None = None) -> pd.DataFrame:
    """160 * factor schools with HSB's school sizes (resampled), a school-centred predictor and known effects.

    About 7185 * factor rows; random intercept and slope on ``cses`` with the TRUE_*
    parameters.  *hsb* (default :func:`hsb_frame`) gives the school sizes and the spread
    of ``cses``.
    """
    hsb = hsb_frame() if hsb is None else hsb
    rng = np.random.default_rng([seed, factor])
    sizes = rng.choice(hsb.groupby(GROUP).size().to_numpy(), size=160 * factor)
    school = np.repeat(np.arange(len(sizes)), sizes)
    raw = rng.normal(0.0, hsb["cses"].std(), size=len(school))
    cses = raw - (np.bincount(school, weights=raw) / sizes)[school]
    covariance = TRUE_CORRELATION * TRUE_SD[0] * TRUE_SD[1]
    psi = np.array([[TRUE_SD[0] ** 2, covariance], [covariance, TRUE_SD[1] ** 2]])
    effects = rng.standard_normal((len(sizes), 2)) @ np.linalg.cholesky(psi).T
    mathach = (TRUE_BETA[0] + effects[school, 0] + (TRUE_BETA[1] + effects[school, 1]) * cses
               + rng.normal(0.0, TRUE_SIGMA, size=len(school)))
    return pd.DataFrame({GROUP: school, "cses": cses, "mathach": mathach})


# ------------------------------------------------------------------ lme4

def lme4_version() -> str | None:
    """lme4's version and R's if Rscript can load lme4, else None."""
    if shutil.which("Rscript") is None:
        return None
    result = subprocess.run(["Rscript", "-e", 'suppressMessages(library(lme4)); '
                             'cat(as.character(packageVersion("lme4")), R.version$version.string)'],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def r_formula(formula: str, random: str, group: str = GROUP) -> str:
    """The lme4 formula of a model: R writes powers with ^ and the random part in the formula."""
    return f"{formula.replace('**', '^')} + ({random} | {group})"
