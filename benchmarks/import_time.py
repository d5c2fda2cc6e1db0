"""Print how long ``import lmmlib`` takes next to ``import numpy, pandas, scipy.linalg``, and what is heavy in it.

Each measurement is a fresh interpreter of the book's environment (this script's
``python``), started from a scratch folder so that the installed lmmlib is the one
imported: ``python -c "import numpy, pandas, scipy.linalg"`` and ``python -c "import
lmmlib"``, interleaved (baseline, lmmlib, baseline, lmmlib, ...), after one untimed run of
each (so that both find their files in the page cache); the wall time of the whole
process, median of ``--repeats`` (at least 7).  The interpreter's own start-up is in both
and cancels in the difference.  Target: lmmlib no more than 0.5 s slower than the three
libraries it cannot do without.

Then one ``python -X importtime -c "import lmmlib"``: the ten modules with the largest
cumulative import time (indented as nested), and the top-level packages that lmmlib
brings in beyond the baseline's, by the time spent importing them.

    .venv/bin/python benchmarks/import_time.py [--repeats N] [--lmmlib-path DIR]

Figures only: nothing here fails.  python_peers.py runs this too, at its end.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

BASELINE = "import numpy, pandas, scipy.linalg"
TARGET = "import lmmlib"
TARGET_SECONDS = 0.5
LINE = re.compile(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def environment(lmmlib_path: str | None) -> dict[str, str]:
    env = dict(os.environ)
    if lmmlib_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [lmmlib_path, env.get("PYTHONPATH")]))
    return env


def run(code: str, env: dict, cwd: str, *options: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *options, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)
    return time.perf_counter() - start, result


def import_times(stderr: str) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) of each line of -X importtime's report."""
    rows = []
    for line in stderr.splitlines():
        match = LINE.match(line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))
    return rows


def report(repeats: int = 15, lmmlib_path: str | None = None) -> None:
    repeats = max(repeats, 7)
    env = environment(lmmlib_path)
    with tempfile.TemporaryDirectory(prefix="import-time-") as cwd:
        for code in (BASELINE, TARGET):                 # untimed: files into the page cache
            _, result = run(code, env, cwd)
            if result.returncode != 0:
                print(f"== Import time: `python -c \"{code}\"` fails: {result.stderr.strip().splitlines()[-1:]}")
                return
        seconds: dict[str, list[float]] = {BASELINE: [], TARGET: []}
        for _ in range(repeats):
            for code in (BASELINE, TARGET):
                elapsed, _ = run(code, env, cwd)
                seconds[code].append(elapsed)
        _, lmmlib_report = run(TARGET, env, cwd, "-X", "importtime")
        _, baseline_report = run(BASELINE, env, cwd, "-X", "importtime")
    base, lib = (statistics.median(seconds[code]) for code in (BASELINE, TARGET))
    print(f"== Import time: {sys.executable}, fresh process each, interleaved, median of {repeats}"
          + (f"; PYTHONPATH={lmmlib_path}" if lmmlib_path else ""))
    print(f"  python -c \"{BASELINE}\"   {base:.3f} s  (min {min(seconds[BASELINE]):.3f}, "
          f"max {max(seconds[BASELINE]):.3f})")
    print(f"  python -c \"{TARGET}\"                         {lib:.3f} s  (min {min(seconds[TARGET]):.3f}, "
          f"max {max(seconds[TARGET]):.3f})")
    difference = lib - base
    print(f"Target 'import lmmlib no more than {TARGET_SECONDS} s slower than import numpy, pandas, scipy.linalg': "
          f"{difference:+.3f} s ({'within' if difference <= TARGET_SECONDS else 'over'} {TARGET_SECONDS} s)")

    rows = import_times(lmmlib_report.stderr)
    print("\npython -X importtime -c \"import lmmlib\": the 10 largest cumulative times (ms; indented as nested)")
    top = sorted(rows, key=lambda r: r[1], reverse=True)[:10]
    print(f"  {'cumulative':>10}  {'self':>7}  module")
    for self_us, cumulative_us, depth, module in top:
        print(f"  {cumulative_us / 1e3:10.1f}  {self_us / 1e3:7.1f}  {'  ' * depth}{module}")
    before = {module for *_, module in import_times(baseline_report.stderr)}
    extra: dict[str, list[float]] = {}
    for self_us, _, _, module in rows:
        if module not in before:
            entry = extra.setdefault(module.split(".")[0], [0.0, 0])
            entry[0] += self_us / 1e3
            entry[1] += 1
    print("packages imported by lmmlib but not by the baseline (self times of their modules added up, ms)")
    for package, (total, count) in sorted(extra.items(), key=lambda item: item[1][0], reverse=True)[:10]:
        print(f"  {total:10.1f}  {package} ({count} modules)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of each command (at least 7)")
    parser.add_argument("--lmmlib-path", help="a folder holding another lmmlib package to import instead")
    args = parser.parse_args()
    report(args.repeats, args.lmmlib_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
