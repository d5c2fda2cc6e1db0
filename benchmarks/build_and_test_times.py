"""Print the wall time of building the book and of running the test suite.

Targets on a 2-core machine: book build under 3 minutes, test suite under 5 minutes.
This is a measurement, not a test: it prints figures and never fails on a slow machine.

Run it with ``make bench`` (the environment must exist; ``make venv`` creates it).
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
# label -> (command, target in seconds); the book is always built from an empty _build
STEPS = {
    "book build (clean _build, every chapter executed)": (
        [str(BIN / "jupyter-book"), "build", "--warningiserror", "--keep-going", "."], 180),
    "test suite (unit tests, doctests, nbval)": ([str(BIN / "python"), "-m", "pytest", "-q"], 300),
}


def main() -> int:
    print(f"cores: {os.cpu_count()}; NELS:88 data dir: {os.environ.get('LMMLIB_DATA_DIR') or '(not set)'}")
    shutil.rmtree(ROOT / "_build", ignore_errors=True)
    for label, (command, target) in STEPS.items():
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
        print(f"{label}: {seconds:6.1f} s  (target < {target} s)  {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
