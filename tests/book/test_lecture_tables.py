"""Each lecture table is shown to the reader as the reproducibility report computes it.

A chapter shows a lecture's table in the lecture's layout with a ✓/✗ column
(:func:`lmmbook.lecture_check`); the page named for the table in
:data:`lmmbook.reproductions.CHAPTERS` must show exactly the values that
:func:`lmmbook.reproduce` computes now, cell by cell.  The tests read the stored outputs
(``test_chapter_outputs`` keeps them equal to a fresh execution).  No page shows the
tables' internal ids, except the reproducibility report, whose command takes them.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from lmmbook import DataFileMissingError, lecture_check
from lmmbook.reproductions import CHAPTERS, reproduce

ROOT = Path(__file__).resolve().parents[2]
#: the one page that names the tables by id: the ledger, whose command line takes the ids
LEDGER = "reproducibility_report"


def shown_tables(chapter: str) -> list[list[list[str]]]:
    """Every HTML table in the chapter's outputs, as rows of cell texts (header row first)."""
    notebook = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    tables = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            html = "".join(output.get("data", {}).get("text/html", ""))
            for table in BeautifulSoup(html, "html.parser").find_all("table"):
                tables.append([[cell.get_text(strip=True) for cell in row.find_all(["th", "td"])]
                               for row in table.find_all("tr")])
    return tables


def as_rows(table) -> list[list[str]]:
    return [["", *table.columns]] + [[str(label), *values] for label, values in zip(table.index, table.values.tolist())]


@pytest.mark.parametrize("table_id", sorted(CHAPTERS))
def test_the_page_shows_the_lecture_table_as_the_report_computes_it(table_id):
    try:
        expected = as_rows(lecture_check(reproduce(table_id)))
    except DataFileMissingError as missing:
        pytest.skip(str(missing))
    chapter = CHAPTERS[table_id]
    assert expected in shown_tables(chapter), (
        f"{chapter} does not show the lecture's table {table_id} as lmmbook.lecture_check(reproduce(...)) "
        f"computes it now:\n{expected}")


def test_a_changed_value_is_not_found():
    table = lecture_check(reproduce("fox-re-anova-icc"))
    changed = table.copy()
    changed.iloc[0, 0] = "0.181"
    shown = shown_tables(CHAPTERS["fox-re-anova-icc"])
    assert as_rows(table) in shown and as_rows(changed) not in shown


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_page_shows_internal_table_ids(path):
    if path.stem == LEDGER:
        pytest.skip("the reproducibility report names the tables as its command does")
    shown = path.read_text(encoding="utf-8")
    notebook = json.loads(shown)
    texts = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            texts.append("".join(cell["source"]))
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts += ["".join(value) for key, value in output.get("data", {}).items() if key.startswith("text/")]
    found = sorted({table_id for table_id in CHAPTERS if any(table_id in text for text in texts)})
    assert not found, f"{path.name} shows internal table ids to the reader: {found}"


@pytest.mark.parametrize("chapter", sorted(set(CHAPTERS.values())))
def test_the_lecture_tables_come_last_in_the_chapter(chapter):
    """A student meets the reproduction only in the chapter's last section before its summary."""
    notebook = json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    sections, first = [], None
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            sections += [line for line in source.splitlines() if line.startswith("## ")]
        elif first is None and ("compare_with_published" in source or "lecture_check" in source):
            first = len(sections)
    assert first is not None, f"{chapter} does not show its lecture tables"
    assert sections[first:] == ["## Summary", "## Exercises"], (
        f"{chapter}: sections after the one with the lecture's tables: {sections[first:]}")
