"""The notebooks a reader downloads from the HTML book leave the exercises' solutions out.

The book's pages show each solution collapsed under its exercise; the ``.ipynb`` that a
chapter's download button serves (``_build/html/_sources``) has every cell tagged
``solution`` removed by ``book/build_book.py``, so that students can try first.
"""
import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
from build_book import SOLUTION_TAG, strip_solutions  # noqa: E402

SOURCES = ROOT / "_build" / "html" / "_sources" / "chapters"


def test_solution_cells_are_removed_and_the_rest_kept(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(":::{exercise}\n:label: ex-1\nAsk.\n:::"),
        nbformat.v4.new_markdown_cell(":::{solution-start} ex-1\n:::", metadata={"tags": [SOLUTION_TAG]}),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": [SOLUTION_TAG, "hide-input"]}),
        nbformat.v4.new_markdown_cell(":::{solution-end}\n:::", metadata={"tags": [SOLUTION_TAG]}),
        nbformat.v4.new_code_cell("print('kept')", metadata={"tags": ["hide-input"]}),
    ])
    nbformat.write(notebook, tmp_path / "chapter.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), tmp_path / "other.ipynb")
    assert strip_solutions(tmp_path) == 1
    kept = nbformat.read(tmp_path / "chapter.ipynb", as_version=4).cells
    assert [cell.source for cell in kept] == [":::{exercise}\n:label: ex-1\nAsk.\n:::", "print('kept')"]


def test_the_built_book_serves_notebooks_without_solutions():
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    with_solutions = [p for p in chapters if f'"{SOLUTION_TAG}"' in p.read_text(encoding="utf-8")]
    if not SOURCES.is_dir():
        pytest.skip("the book is not built: run `make book`")
    assert with_solutions, "no chapter has solutions"
    for path in with_solutions:
        served = json.loads((SOURCES / path.name).read_text(encoding="utf-8"))
        tags = [tag for cell in served["cells"] for tag in cell.get("metadata", {}).get("tags", [])]
        assert SOLUTION_TAG not in tags, f"the downloadable {path.name} still has its solutions"
        assert any(":::{exercise}" in "".join(cell["source"]) for cell in served["cells"]), path.name
