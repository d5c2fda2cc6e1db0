"""Every chapter, executed now, prints exactly the outputs stored in its notebook.

The comparison is nbval's: its stream merging (carriage returns applied), the sanitizers
of ``tests/nbval_sanitize.cfg``, and the keys it leaves out (images, metadata, execution
counts); every other output -- text, HTML tables, warnings on stderr -- must be equal as
text.  What differs is where the executed notebook comes from: ``make book`` executes each
chapter once and keeps the result in its cache (``_build/.jupyter_cache``), and this test
compares that result instead of running every chapter a second time.  When there is no
build, or the cache holds another version of a chapter's code, the test executes the
chapter itself.  A chapter that needs data the machine does not have is skipped, saying
what to do.
"""
from __future__ import annotations

import copy
import difflib
import json
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams, get_sanitize_patterns, transform_streams_for_comparison

from lmmbook.requirements import unmet_requirements

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CACHE = ROOT / "_build" / ".jupyter_cache"
SANITIZE = get_sanitize_patterns((ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8"))
#: nbval's keys that are never compared (images only with --nbdime, which the book does not use)
SKIPPED = ("metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
           "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg")


def sanitized(value):
    """*value* with the volatile parts masked (sanitize patterns applied to text)."""
    if isinstance(value, list):
        value = "".join(value)
    if not isinstance(value, str):
        return value
    for pattern, replacement in SANITIZE:
        value = re.sub(pattern, replacement, value)
    return value


def comparable(outputs: list) -> dict[str, list]:
    """One cell's outputs as nbval compares them: each key (stream name or MIME type) -> its values."""
    flat = defaultdict(list)
    merged = coalesce_streams([nbformat.from_dict(copy.deepcopy(output)) for output in outputs])
    for output in transform_streams_for_comparison(merged):
        for key, value in output.items():
            if key == "data":
                for mime, content in value.items():
                    if mime not in SKIPPED:
                        flat[mime].append(sanitized(content))
            elif key not in SKIPPED:
                flat[key].append(sanitized(value))
    return dict(flat)


def executed(path: Path) -> tuple[nbformat.NotebookNode, str]:
    """The chapter as the build executed it (from its cache), or executed here; and which it was."""
    notebook = nbformat.read(path, as_version=4)
    if CACHE.is_dir():
        from jupyter_cache import get_cache
        try:
            _, merged = get_cache(CACHE).merge_match_into_notebook(notebook)
            return merged, "the build's execution"
        except KeyError:
            pass                       # not in the cache: another version of the code, or excluded
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook, "executed by this test"


def differences(stored: nbformat.NotebookNode, new: nbformat.NotebookNode) -> list[str]:
    """A readable account of every code cell whose outputs differ (empty when all agree)."""
    found = []
    cells = zip(stored.cells, new.cells)
    for number, (before, after) in enumerate(cells):
        if before.cell_type != "code" or before.get("execution_count") is None:
            continue
        expected, got = comparable(before.outputs), comparable(after.outputs)
        if expected != got:
            diff = difflib.unified_diff(json.dumps(expected, indent=1).splitlines(),
                                        json.dumps(got, indent=1).splitlines(), "stored", "now", lineterm="", n=2)
            found.append(f"cell {number}:\n" + "\n".join(list(diff)[:60]))
    return found


@pytest.mark.chapters
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_the_chapter_prints_its_stored_outputs(path):
    unmet = unmet_requirements(path)
    if unmet:
        pytest.skip(" ".join(unmet))
    new, source = executed(path)
    stored = nbformat.read(path, as_version=4)
    assert len(new.cells) == len(stored.cells)
    found = differences(stored, new)
    assert not found, f"{path.name} ({source}) differs from its stored outputs:\n" + "\n\n".join(found)


def test_a_changed_number_is_caught():
    chapter = ROOT / "chapters" / "random_effects_anova.ipynb"
    stored = nbformat.read(chapter, as_version=4)
    altered = copy.deepcopy(stored)
    cell = next(cell for cell in altered.cells if cell.cell_type == "code" and any(
        "12.637" in "".join(output.get("data", {}).get("text/plain", "")) for output in cell.outputs))
    for output in cell.outputs:
        if "text/plain" in output.get("data", {}):
            output.data["text/plain"] = "".join(output.data["text/plain"]).replace("12.637", "12.638")
    assert differences(stored, copy.deepcopy(stored)) == []
    [report] = differences(stored, altered)
    assert "12.637" in report and "12.638" in report


def test_volatile_text_is_masked_and_nothing_else():
    warning = {"output_type": "stream", "name": "stderr",
               "text": "/tmp/ipykernel_4242/17.py:3: BoundaryWarning: variance 0.0000 at 0x7f3a2b\n"}
    other_run = {**warning, "text": "/tmp/ipykernel_99/2.py:3: BoundaryWarning: variance 0.0000 at 0x55aa10\n"}
    assert comparable([warning]) == comparable([other_run])
    changed = {**warning, "text": warning["text"].replace("0.0000", "0.0001")}
    assert comparable([warning]) != comparable([changed])
