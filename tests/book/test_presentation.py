"""How the chapters look: lines that fit the code column, figures drawn at the text column's
width (stored at twice the resolution, for the slides) with a number and a caption, tables
without a raw index, exercises with solutions.

The rules are those of ``book/AUTHORING.md``; the tests read the stored notebooks (the
outputs the book shows, which ``test_chapter_outputs`` keeps equal to a fresh execution).
"""
from __future__ import annotations

import base64
import json
import re
import struct
from pathlib import Path

import pytest
from test_slides import APPENDICES

from lmmbook.style import COLUMN_WIDTH, FIGURE_DPI, LINE_LENGTH

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))
#: appendices: no exercises
CHAPTERS = [path for path in NOTEBOOKS if path.stem not in APPENDICES]
#: the widest figure the text column shows without shrinking it (the column is about 740 px
#: wide on a 1280 px screen; figures are drawn COLUMN_WIDTH inches wide at FIGURE_DPI)
WIDEST_FIGURE = 740
HIDDEN = {"remove-cell", "remove-input"}
RAW_INDEX = re.compile(r"<tbody>\s*<tr>\s*<th>0</th>.*?<tr>\s*<th>1</th>", re.DOTALL)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def text(value) -> str:
    return "".join(value) if isinstance(value, list) else value


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def shown_texts(cell: dict):
    """The text a reader sees in a cell's outputs: streams, errors, and plain text that no
    HTML table or image replaces."""
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            # carriage returns (a progress bar) leave only the text after the last one
            yield "\n".join(line.rsplit("\r", 1)[-1] for line in text(output["text"]).split("\n"))
        elif output["output_type"] == "error":
            yield "\n".join(output.get("traceback", []))
        else:
            data = output.get("data", {})
            if "text/plain" in data and not {"text/html", "image/png", "text/markdown"} & set(data):
                yield text(data["text/plain"])


def png_width(encoded: str) -> int:
    header = base64.b64decode(text(encoded)[:64])
    return struct.unpack(">I", header[16:20])[0]


def test_the_limits_are_those_of_the_column():
    assert WIDEST_FIGURE >= COLUMN_WIDTH * FIGURE_DPI
    assert png_width(base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + struct.pack(">II", 715, 400))
                     .decode()) == 715


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_and_output_lines_fit_the_column(path):
    too_long = []
    for number, cell in enumerate(load(path)["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        sources = [] if tags(cell) & HIDDEN else [text(cell["source"])]
        for where, block in [("code", s) for s in sources] + [("output", t) for t in shown_texts(cell)]:
            too_long += [f"cell {number} {where}: {len(line)} characters: {line[:60]}..."
                         for line in block.splitlines() if len(line) > LINE_LENGTH]
    assert not too_long, f"{path.name}: lines longer than {LINE_LENGTH} characters:\n" + "\n".join(too_long)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_fit_the_column_and_have_a_number_and_a_caption(path):
    problems = []
    for number, cell in enumerate(load(path)["cells"], start=1):
        images = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            continue
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
        if not figure.get("caption") or not figure.get("name", "").startswith("fig-"):
            problems.append(f"cell {number}: no caption or no name fig-... (metadata mystnb.figure)")
        if len(images) > 1:
            problems.append(f"cell {number}: {len(images)} figures in one cell (one caption each)")
        for image in images:
            pixels = png_width(image["data"]["image/png"])
            shown = image.get("metadata", {}).get("image/png", {}).get("width", pixels)
            if shown > WIDEST_FIGURE:
                problems.append(f"cell {number}: figure shown {shown} px wide (at most {WIDEST_FIGURE})")
            if pixels < 2 * shown - 2:
                problems.append(f"cell {number}: figure stored at {pixels} px for {shown} px shown "
                                "(twice, for the slides: lmmbook.setup_notebook)")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_tables_show_no_raw_index(path):
    raw = [number for number, cell in enumerate(load(path)["cells"], start=1)
           for output in cell.get("outputs", [])
           if RAW_INDEX.search(text(output.get("data", {}).get("text/html", "")))]
    assert not raw, f"{path.name}: tables with a raw 0, 1, 2, ... index in cells {raw}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_solution(path):
    cells = load(path)["cells"]
    markdown = [text(c["source"]) for c in cells if c["cell_type"] == "markdown"]
    exercises = [label for source in markdown
                 for label in re.findall(r":::\{exercise\}[^\n]*\n(?::[^\n]*\n)*?:label: (\S+)", source)]
    solved = [label for source in markdown for label in re.findall(r"\{solution-start\} (\S+)", source)]
    assert len(exercises) >= 4, f"{path.name}: {len(exercises)} exercises (at least four)"
    assert sorted(exercises) == sorted(solved), f"{path.name}: exercises {exercises}, solutions {solved}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_solution_cells_are_tagged(path):
    inside, problems = False, []
    for number, cell in enumerate(load(path)["cells"], start=1):
        source = text(cell["source"])
        inside = inside or "{solution-start}" in source
        if inside:
            if "solution" not in tags(cell):
                problems.append(f"cell {number}: tags {sorted(tags(cell))}")
        elif "solution" in tags(cell):
            problems.append(f"cell {number}: tagged solution outside a solution")
        inside = inside and "{solution-end}" not in source
    assert not inside, f"{path.name}: a solution is not closed"
    assert not problems, f"{path.name}: solution cells must be tagged solution:\n" + "\n".join(problems)
