"""Chapters declare the data they need; without the data they are skipped with instructions."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lmmbook
import lmmlib
from lmmbook import requirements

ROOT = Path(__file__).resolve().parents[2]


def test_notebook_requirements_are_read_from_metadata(tmp_path, monkeypatch):
    notebook = tmp_path / "chapter.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {"lmmlib": {"requires": ["nels88"]}}}))
    assert requirements.notebook_requirements(notebook) == ["nels88"]
    monkeypatch.setenv("LMMLIB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(lmmbook.data, "REPOSITORY_DATA_DIR", tmp_path)
    [message] = requirements.unmet_requirements(notebook)
    assert "imm10.dta" in message and "LMMLIB_DATA_DIR" in message
    with pytest.raises(lmmlib.InputError, match="unknown data set"):
        requirements.missing_data_message("census")


@pytest.mark.skipif((ROOT / "data" / "imm10.dta").exists(), reason="data/imm10.dta is present in the repository")
def test_chapters_needing_absent_data_are_skipped_with_instructions(tmp_path):
    needing = [p for p in sorted((ROOT / "chapters").glob("*.ipynb")) if requirements.notebook_requirements(p)]
    if not needing:
        pytest.skip("no chapter declares a data requirement")
    environment = {k: v for k, v in os.environ.items() if k != "LMMLIB_DATA_DIR"}
    for command in (  # the chapter-output test, and nbval run on the chapter itself
            [f"tests/book/test_chapter_outputs.py::test_the_chapter_prints_its_stored_outputs[{needing[0].stem}]"],
            ["--nbval", str(needing[0])]):
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *command],
                                cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:]
        assert "skipped" in result.stdout and "passed" not in result.stdout, result.stdout[-3000:]
        assert "imm10.dta" in result.stdout and "LMMLIB_DATA_DIR" in result.stdout
