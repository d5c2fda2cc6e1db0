"""Build the lecture decks: one reveal.js deck per chapter, from its outline in ``book/decks/``.

A deck is written as a lecture, not converted from the chapter: ``book/decks/<chapter>.md``
holds its slides (see ``book/decks/README.md`` for the format).  Figures and tables come
from the chapter's stored outputs, by name -- a figure by its ``mystnb.figure.name``, any
other output by the id of the cell that prints it -- so a slide always shows what the
chapter's code produced (the tests keep the stored outputs equal to a fresh execution).
The figures are the book's, stored at twice their resolution, so that they stay sharp when
a slide shows them larger.

The decks use local copies of reveal.js and MathJax 3 (installed from npm by ``make venv``)
and open from the file system with no network.  Each deck is written twice: as it is
presented, and with the code behind every figure and table on a slide of its own under it
(``<chapter>-code.html``, for the instructor who wants to show it).  When Chromium and
playwright are available, a PDF handout of each deck is printed too (``<chapter>.pdf``).

Output: ``_slides/slides/`` with the decks, handouts, figures and assets; the book build
copies ``_slides`` into the HTML output, where the page "Slides" links to them.

Usage: ``.venv/bin/python book/build_slides.py [--output FOLDER] [--only CHAPTER ...]`` (``make slides``
builds them all)
"""
from __future__ import annotations

import argparse
import base64
import html
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

ROOT = Path(__file__).resolve().parent.parent
DECKS = ROOT / "book" / "decks"
OUTPUT = ROOT / "_slides" / "slides"      # the book copies _slides into its HTML output
NPM = ROOT / ".venv" / "npm" / "node_modules"
#: npm package -> (folder in the package, folder next to the decks)
ASSETS = {"reveal.js": [("dist", "reveal.js/dist"), ("plugin/notes", "reveal.js/plugin/notes")],
          "mathjax": [("es5", "mathjax")]}
#: the frame every slide is laid out in (reveal.js scales it to the screen)
WIDTH, HEIGHT = 1280, 720
SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
OUTPUT_REFERENCE = re.compile(r"^!\[([^\]]*)\]\(((?:fig|out)-[\w-]+)\)[ \t]*$", re.MULTILINE)


@dataclass
class Slide:
    """One slide: its Markdown, its speaker notes, the outputs it shows."""
    body: str
    notes: str = ""
    outputs: list[str] = field(default_factory=list)


@dataclass
class Deck:
    chapter: str
    title: str
    slides: list[Slide]


def read_outline(path: Path) -> Deck:
    """Parse ``book/decks/<chapter>.md``: YAML front matter, then slides separated by ``---``
    lines; the text after a line ``Note:`` is the slide's speaker notes."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError(f"{path.name}: the outline must start with front matter (---, title: ..., ---)")
    _, front, body = SEPARATOR.split(text, maxsplit=2)
    meta = yaml.safe_load(front) or {}
    if "title" not in meta:
        raise ValueError(f"{path.name}: the front matter needs a title")
    slides = []
    for part in SEPARATOR.split(body):
        if not part.strip():
            continue
        note = re.search(r"^Note:[ \t]*$", part, flags=re.MULTILINE)
        content, notes = (part[:note.start()], part[note.end():]) if note else (part, "")
        slides.append(Slide(body=content.strip(), notes=notes.strip(),
                            outputs=[name for _, name in OUTPUT_REFERENCE.findall(content)]))
    return Deck(chapter=path.stem, title=meta["title"], slides=slides)


def named_outputs(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """The chapter's code cells by name: figures by ``mystnb.figure.name``, and every cell by its id."""
    cells = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cells[cell.get("id", "")] = cell
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        if name:
            cells[name] = cell
    return cells


def markdown() -> MarkdownIt:
    """CommonMark with tables and $...$ / $$...$$ math, written with MathJax's delimiters."""
    def math(tex: str, options: dict) -> str:
        return rf"\[{html.escape(tex)}\]" if options.get("display_mode") else rf"\({html.escape(tex)}\)"
    return MarkdownIt("commonmark", {"html": True}).enable("table").use(dollarmath_plugin, double_inline=True,
                                                                          renderer=math)


def render_output(cell: nbformat.NotebookNode, name: str, alt: str, images: Path, chapter: str) -> str:
    """The HTML of what a named cell shows: for a figure name (``fig-...``) its image, written
    next to the deck; otherwise its last displayable output, an HTML table or printed text."""
    outputs = cell.get("outputs", [])
    if name.startswith("fig-"):
        outputs = [output for output in outputs if "image/png" in output.get("data", {})]
    for output in reversed(outputs):
        data = output.get("data", {})
        if "image/png" in data:
            target = images / f"{chapter}-{name}.png"
            target.write_bytes(base64.b64decode("".join(data["image/png"])))
            return f'<img class="figure" src="img/{target.name}" alt="{html.escape(alt or name)}">'
        if "text/html" in data:
            return f'<div class="table">{"".join(data["text/html"])}</div>'
        text = "".join(output.get("text", "")) or "".join(data.get("text/plain", ""))
        if text:
            return f'<pre class="output">{html.escape(text)}</pre>'
    raise ValueError(f"{chapter}: the cell named {name} has no output to show")


def render_deck(deck: Deck, notebook: nbformat.NotebookNode, images: Path, show_code: bool) -> str:
    cells = named_outputs(notebook)
    md = markdown()
    sections = []
    for number, slide in enumerate(deck.slides, start=1):
        missing = [name for name in slide.outputs if name not in cells]
        if missing:
            raise ValueError(f"{deck.chapter}.md, slide {number}: no figure or cell named {missing} in "
                             f"chapters/{deck.chapter}.ipynb")

        def output(match: re.Match) -> str:
            alt, name = match.group(1), match.group(2)
            return f"\n\n{render_output(cells[name], name, alt, images, deck.chapter)}\n\n"
        body = md.render(OUTPUT_REFERENCE.sub(output, slide.body))
        notes = f'<aside class="notes">{md.render(slide.notes)}</aside>' if slide.notes else ""
        kind = "figure-slide" if "<img" in body else "table-slide" if 'class="table"' in body else "text-slide"
        section = f'<section class="{kind}">{body}{notes}</section>'
        if show_code and slide.outputs:
            code = "\n\n".join(cells[name].source for name in slide.outputs)
            section = f"<section>{section}{code_slide(code)}</section>"
        sections.append(section)
    return TEMPLATE.format(title=html.escape(deck.title), slides="\n".join(sections), width=WIDTH, height=HEIGHT)


def code_slide(code: str) -> str:
    """A slide with *code*, in the largest monospaced size (at most 20 px) at which every line
    fits the frame (a character is about 0.6 of the font size wide)."""
    lines = code.splitlines() or [""]
    size = min(20, int((HEIGHT - 110) / (1.3 * len(lines))), int((WIDTH - 60) / (0.61 * max(map(len, lines)))))
    return (f'<section class="code-slide"><h3>The code</h3>'
            f'<pre class="code" style="font-size: {size}px">{html.escape(code)}</pre></section>')


TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="stylesheet" href="reveal.js/dist/reveal.css">
<link rel="stylesheet" href="reveal.js/dist/theme/white.css">
<link rel="stylesheet" href="deck.css">
<script>
window.MathJax = {{
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]]}},
  options: {{processHtmlClass: "math"}},
  startup: {{typeset: true}}
}};
</script>
<script defer src="mathjax/tex-chtml.js"></script>
</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script src="reveal.js/dist/reveal.js"></script>
<script src="reveal.js/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{width: {width}, height: {height}, margin: 0.04, center: false, hash: true,
                   slideNumber: "c/t", transition: "none", pdfMaxPagesPerSlide: 1, plugins: [RevealNotes]}});
</script>
</body>
</html>
"""


def copy_assets(output: Path) -> None:
    for package, parts in ASSETS.items():
        for source_part, target_part in parts:
            source = NPM / package / source_part
            if not source.exists():
                sys.exit(f"{source} is missing: run `make venv` (it installs the slide assets from npm)")
            shutil.copytree(source, output / target_part)
    shutil.copy2(DECKS / "deck.css", output / "deck.css")


def appendices() -> set[str]:
    """The chapters of the table of contents' part "Appendices" (and their sections): no decks."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def files(entries: list[dict]) -> list[str]:
        return [name for entry in entries
                for name in [Path(entry["file"]).name, *files(entry.get("sections", []))]]
    return {name for part in toc["parts"] if part["caption"] == "Appendices" for name in files(part["chapters"])}


def outlines() -> list[Path]:
    """The deck outlines, in the order of the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    order = [Path(entry["file"]).name for part in toc["parts"] for entry in part["chapters"]]
    decks = [path for path in DECKS.glob("*.md") if path.name != "README.md"]
    return sorted(decks, key=lambda p: order.index(p.stem) if p.stem in order else len(order))


def print_handouts(decks: list[Path]) -> None:
    """A PDF of each deck, one slide per page, printed by Chromium in reveal.js's print mode."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if not chromium:
        print("slides: no PDF handouts (they need Chromium and playwright: make test installs Chromium)")
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        for deck in decks:
            page.goto(f"{deck.resolve().as_uri()}?print-pdf", wait_until="load")
            # reveal.js lays the slides out as pages (.pdf-page) once it is ready
            page.wait_for_function("() => document.querySelectorAll('.pdf-page').length > 0")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
            page.evaluate("() => MathJax.startup.promise")
            slides = page.evaluate("() => document.querySelectorAll('.pdf-page').length")
            # Chromium adds an empty last page to reveal.js's print layout: print the slides' pages only
            page.pdf(path=deck.with_suffix(".pdf"), print_background=True, prefer_css_page_size=True,
                     page_ranges=f"1-{slides}")
        browser.close()
    print(f"slides: {len(decks)} PDF handouts")


def build_decks(output: Path = OUTPUT, only: list[str] | None = None) -> list[Path]:
    """Write every deck (or those of the chapters *only*) into *output*, emptied first, with its
    figures and assets; return the presented decks, whose handouts :func:`print_handouts` prints."""
    shutil.rmtree(output, ignore_errors=True)
    (output / "img").mkdir(parents=True)
    copy_assets(output)
    presented = []
    for path in outlines():
        if only and path.stem not in only:
            continue
        deck = read_outline(path)
        notebook = nbformat.read(ROOT / "chapters" / f"{deck.chapter}.ipynb", as_version=4)
        for suffix, show_code in (("", False), ("-code", True)):
            target = output / f"{deck.chapter}{suffix}.html"
            target.write_text(render_deck(deck, notebook, output / "img", show_code), encoding="utf-8")
        presented.append(output / f"{deck.chapter}.html")
        print(f"slides: {path.relative_to(ROOT)} -> {presented[-1]} ({len(deck.slides)} slides)")
    return presented


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"folder for the decks (default {OUTPUT})")
    parser.add_argument("--only", nargs="+", metavar="CHAPTER", help="build these chapters' decks only")
    arguments = parser.parse_args(argv)
    print_handouts(build_decks(arguments.output, arguments.only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
