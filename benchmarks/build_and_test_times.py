"""Print wall times: each chapter's execution, the book build, and the test suite.

Targets on a 2-core machine: each chapter under 30 s, ``python -m lmmbook reproduce``
under a minute, the book build under 3 minutes, the test suite under 5 minutes, the quick
tier (``make check``) under a minute.  This is a measurement, not a test: it prints figures
and never fails on a slow machine.

Run it with ``make bench`` (the environment must exist; ``make venv`` creates it).
"""
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
CHAPTER_TARGET = 30
# label -> (command, target in seconds); the build script starts from an empty _build
STEPS = {
    "python -m lmmbook reproduce (every published table)": ([str(BIN / "python"), "-m", "lmmbook", "reproduce"], 60),
    "book build (clean _build, every chapter executed once)": ([str(BIN / "python"), "book/build_book.py"], 180),
    "test suite (every test, one worker per core as make test runs it)": (
        [str(BIN / "python"), "-m", "pytest", "-q", "-n", "auto"], 300),
    "quick tier (make check: toolkit tests without the slow ones)": (
        [str(BIN / "python"), "-m", "pytest", "-q", "-m", "not slow", "tests/toolkit", "lmmlib"], 60),
}


def timed(command: list[str], cwd: Path) -> tuple[float, int]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, result.returncode


def status(code: int, seconds: float, target: float) -> str:
    if code != 0:
        return f"FAILED (exit {code})"
    return "within target" if seconds < target else "OVER TARGET"


def main() -> int:
    print(f"cores: {os.cpu_count()}; NELS:88 data dir: {os.environ.get('LMMLIB_DATA_DIR') or '(not set)'}")
    with tempfile.TemporaryDirectory() as scratch:
        for chapter in sorted((ROOT / "chapters").glob("*.ipynb")):
            seconds, code = timed([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                                   "--output-dir", scratch, str(chapter)], chapter.parent)
            print(f"chapter {chapter.stem:<28} {seconds:6.1f} s  (target < {CHAPTER_TARGET} s)  "
                  f"{status(code, seconds, CHAPTER_TARGET)}")
    for label, (command, target) in STEPS.items():
        seconds, code = timed(command, ROOT)
        print(f"{label}: {seconds:6.1f} s  (target < {target} s)  {status(code, seconds, target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
