"""Give every cell of the chapter notebooks a slide type, so that each chapter makes a readable deck.

The rules, applied to cells that have no ``slideshow.slide_type`` yet (``--force`` redoes all):

* a heading cell (``#`` or ``##``) starts a new slide, a ``###`` heading a sub-slide;
* a short text cell (at most ``SHORT`` words once formulas are set aside) or one that is
  mostly a displayed formula appears on the current slide as a fragment;
* a longer text cell becomes speaker notes (press ``s`` in the deck to see them);
* a code cell whose output is a figure or a table gets a sub-slide of its own; one that
  prints text appears as a fragment; one without output is skipped;
* the "What you will learn" box and the exercises are shown, the exercises on a slide of
  their own.

Instructors can then change any cell's type in Jupyter (View > Cell Toolbar > Slideshow).

Usage: ``.venv/bin/python book/assign_slide_types.py [--force] [notebook ...]``
"""
import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SHORT = 60


def words_outside_math(text: str) -> int:
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.DOTALL)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.DOTALL)
    return len(re.findall(r"[A-Za-z]{2,}", text))


def slide_type(cell) -> str:
    source = cell.source.strip()
    if cell.cell_type == "markdown":
        first = source.splitlines()[0] if source else ""
        if first.startswith(("# ", "## ")) or "What you will learn" in source:
            return "slide"
        if first.startswith("### "):
            return "subslide"
        if "$$" in source or words_outside_math(source) <= SHORT:
            return "fragment"
        return "notes"
    outputs = cell.get("outputs", [])
    if not outputs:
        return "skip"
    kinds = {key for output in outputs for key in output.get("data", {})}
    if "image/png" in kinds or "text/html" in kinds:
        return "subslide"
    return "fragment"


def assign(path: Path, force: bool) -> int:
    notebook = nbformat.read(path, as_version=4)
    changed = 0
    for cell in notebook.cells:
        show = cell.metadata.setdefault("slideshow", {})
        if force or "slide_type" not in show:
            new = slide_type(cell)
            if show.get("slide_type") != new:
                show["slide_type"] = new
                changed += 1
    if changed:
        nbformat.write(notebook, path)
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--force", action="store_true", help="reassign cells that already have a slide type")
    arguments = parser.parse_args(argv)
    for path in arguments.notebooks or sorted((ROOT / "chapters").glob("*.ipynb")):
        print(f"{path.name}: {assign(path, arguments.force)} cells assigned")
    return 0


if __name__ == "__main__":
    sys.exit(main())
