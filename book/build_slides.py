"""Make a reveal.js slide deck from every chapter notebook, for offline use.

Each cell's ``slideshow.slide_type`` metadata (slide, subslide, fragment, skip,
notes) decides where it goes; ``book/assign_slide_types.py`` sets them.  The decks
use the stored outputs (no notebook is executed) and local copies of reveal.js,
MathJax 2, require.js and jQuery (installed from npm by ``make venv``), so they
open from the file system with no network.  Code is hidden unless ``--show-code``.

Output: ``_slides/slides/<chapter>.slides.html`` plus the assets; the book build
copies ``_slides`` into the HTML output, where the page "Slides" links to them.

Usage: ``.venv/bin/python book/build_slides.py [--show-code]`` (what ``make slides`` runs)
"""
import argparse
import copy
import re
import shutil
import sys
from pathlib import Path

import nbformat
import yaml
from assign_slide_types import slide_type
from nbconvert import SlidesExporter
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "_slides" / "slides"      # the book copies _slides into its HTML output
NPM = ROOT / ".venv" / "npm" / "node_modules"
#: npm package -> files or folders copied next to the decks (the parts the decks load)
ASSETS = {
    "reveal.js": ["dist", "plugin/notes"],
    "mathjax2": ["MathJax.js", "config", "extensions", "jax/input/TeX", "jax/output/CommonHTML",
                "jax/element", "fonts/HTML-CSS/TeX/woff", "localization/en"],
    "requirejs": ["require.js"],
    "jquery": ["dist/jquery.min.js"],
}


def chapters_in_toc() -> list[Path]:
    """The chapter notebooks in the order of the table of contents (appendices have no decks)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [entry["file"] for part in toc["parts"] if part["caption"] != "Appendices"
             for entry in part["chapters"]]
    return [ROOT / f"{name}.ipynb" for name in files if (ROOT / f"{name}.ipynb").exists()]


def copy_assets(output: Path) -> None:
    for package, parts in ASSETS.items():
        source = NPM / package
        if not source.exists():
            sys.exit(f"{source} is missing: run `make venv` (it installs the slide assets from npm)")
        for part in parts:
            target = output / package / part
            target.parent.mkdir(parents=True, exist_ok=True)
            if (source / part).is_dir():
                shutil.copytree(source / part, target)
            else:
                shutil.copy2(source / part, target)


def plain_markdown(text: str) -> str:
    """MyST constructs that Jupyter's Markdown does not know, rewritten for the slides."""
    def directive(match: re.Match) -> str:
        name, title, body = match.group(1), match.group(2).strip(), match.group(3)
        body = "\n".join(line for line in body.splitlines() if not line.startswith(":"))
        heading = title or {"note": "Note", "seealso": "See also", "warning": "Warning", "tip": "Tip",
                            "exercise": "Exercise"}.get(name, "")
        return f"**{heading}**\n\n{body.strip()}" if heading else body.strip()
    text = re.sub(r"```\{(\w+)\}([^\n]*)\n(.*?)```", directive, text, flags=re.DOTALL)
    text = re.sub(r"^:::\{([\w-]+)\}([^\n]*)\n(.*?)^:::", directive, text, flags=re.DOTALL | re.MULTILINE)
    text = re.sub(r"\{doc\}`(?:([^<`]+?)\s*<[^>]+>|([^`]+))`",
                  lambda m: (m.group(1) or m.group(2).rsplit("/", 1)[-1].replace("_", " ")).strip(), text)
    text = re.sub(r"\{cite(?::t)?\}`([^`]+)`", lambda m: f"[{m.group(1)}]", text)
    return re.sub(r"\{(?:ref|numref|eq|term)\}`([^`<]+?)(?:\s*<[^>]+>)?`", r"\1", text)


def deck(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as shown on slides: plain Markdown, and a heading cell's text after the
    heading moved to a cell of its own, typed by the rules of assign_slide_types."""
    shown = copy.deepcopy(notebook)
    cells = []
    for cell in shown.cells:
        if cell.cell_type != "markdown":
            cells.append(cell)
            continue
        cell.source = plain_markdown(cell.source)
        lines = cell.source.strip().splitlines()
        heading_slide = cell.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide")
        if len(lines) > 1 and lines[0].startswith("#") and heading_slide:
            cell.source = lines[0]
            cells.append(cell)
            # the rest: prose (fragment or notes by length), the learning goals on a slide of their own
            for part in re.split(r"(?=\*\*What you will learn\*\*)", "\n".join(lines[1:])):
                if part.strip():
                    body = nbformat.v4.new_markdown_cell(part.strip())
                    body.metadata["slideshow"] = {"slide_type": slide_type(body)}
                    cells.append(body)
        else:
            cells.append(cell)
    shown.cells = cells
    return shown


def exporter(show_code: bool) -> SlidesExporter:
    slides = SlidesExporter(
        template_name="slides_template", extra_template_basedirs=[str(ROOT / "book")],
        reveal_url_prefix="reveal.js", reveal_theme="white", reveal_scroll=True, reveal_number="c/t",
        mathjax_url="mathjax2/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
        require_js_url="requirejs/require.js", jquery_url="jquery/dist/jquery.min.js",
    )
    # merge each cell's stream outputs and apply carriage returns (a progress bar shows its last state)
    slides.register_preprocessor(CoalesceStreamsPreprocessor(), enabled=True)
    slides.exclude_input = not show_code
    slides.exclude_input_prompt = True
    slides.exclude_output_prompt = True
    return slides


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-code", action="store_true", help="show the code cells on the slides")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"folder for the decks (default {OUTPUT})")
    arguments = parser.parse_args(argv)
    output = arguments.output
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    copy_assets(output)
    slides = exporter(arguments.show_code)
    for notebook in chapters_in_toc():
        body, _ = slides.from_notebook_node(deck(nbformat.read(notebook, as_version=4)))
        (output / f"{notebook.stem}.slides.html").write_text(body, encoding="utf-8")
        print(f"slides: {notebook.relative_to(ROOT)} -> {output / notebook.stem}.slides.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
