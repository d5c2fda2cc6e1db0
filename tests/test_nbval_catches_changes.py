"""nbval really compares numbers: a chapter whose stored output was altered must fail.

The chapter is copied to a temporary folder, one stored number is changed, and nbval
is run on the copy in a separate pytest process.  The unaltered copy must pass.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "chapters" / "random_effects_anova.ipynb"
SANITIZER = ROOT / "tests" / "nbval_sanitize.cfg"
STORED = "12.637"   # the intercept in the chapter's lecture-layout table
ALTERED = "12.638"


def run_nbval(notebook: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env",
         f"--nbval-sanitize-with={SANITIZER}", "--rootdir", str(notebook.parent), "-c", "/dev/null",
         str(notebook)],
        capture_output=True, text=True, cwd=notebook.parent, timeout=600,
    )


def alter_first_table_holding(notebook: dict, old: str, new: str) -> None:
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if any(old in "".join(data.get(kind, "")) for kind in ("text/plain", "text/html")):
                for kind in ("text/plain", "text/html"):
                    if kind in data:
                        data[kind] = [line.replace(old, new) for line in data[kind]]
                return
    raise AssertionError(f"no stored output of {CHAPTER.name} holds {old}")


@pytest.mark.parametrize("altered", [False, True], ids=["unaltered-passes", "altered-fails"])
def test_nbval_fails_when_a_stored_number_changes(tmp_path, altered):
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    if altered:
        alter_first_table_holding(notebook, STORED, ALTERED)
    copy = tmp_path / CHAPTER.name
    copy.write_text(json.dumps(notebook), encoding="utf-8")
    result = run_nbval(copy)
    if altered:
        assert result.returncode != 0, result.stdout[-2000:]
        assert ALTERED in result.stdout and STORED in result.stdout
    else:
        assert result.returncode == 0, result.stdout[-4000:]
