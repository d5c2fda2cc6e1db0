"""The lecture decks' outlines (book/decks/*.md): every chapter has one, each follows the rules
of ``book/decks/README.md``, every output it names exists, and every number it writes is
printed by its chapter.  The decks themselves are measured in a browser (browser/test_decks.py).
"""
import re
import sys
from pathlib import Path

import nbformat
import pytest
from test_prose_numbers import PROSE_NUMBER, printed_numbers, rounds_to

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
import build_slides  # noqa: E402

OUTLINES = build_slides.outlines()
APPENDICES = build_slides.appendices()
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb") if p.stem not in APPENDICES)
MOST_WORDS = 45


def words(markdown: str) -> int:
    """Words a reader sees on a slide: math, output references and Markdown marks left out."""
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$", " ", markdown, flags=re.DOTALL)
    text = build_slides.OUTPUT_REFERENCE.sub(" ", text)
    return len(re.findall(r"[A-Za-z0-9][\w'’-]*", re.sub(r"^#+ .*$", " ", text, flags=re.MULTILINE)))


def test_every_chapter_has_a_deck():
    assert sorted(p.stem for p in OUTLINES) == CHAPTERS


@pytest.mark.parametrize("path", OUTLINES, ids=lambda p: p.stem)
def test_the_outline_follows_the_rules_of_a_lecture_deck(path):
    deck = build_slides.read_outline(path)
    notebook = nbformat.read(ROOT / "chapters" / f"{deck.chapter}.ipynb", as_version=4)
    named = build_slides.named_outputs(notebook)
    assert 12 <= len(deck.slides) <= 25, f"{len(deck.slides)} slides"
    assert deck.slides[0].body.startswith("# "), "the first slide is the title slide (# title)"
    problems = []
    for number, slide in enumerate(deck.slides[1:], start=2):
        headings = re.findall(r"^## .+$", slide.body, flags=re.MULTILINE)
        if len(headings) != 1 or not slide.body.startswith("## "):
            problems.append(f"slide {number}: one ## heading, first")
        if words(slide.body) > MOST_WORDS:
            problems.append(f"slide {number}: {words(slide.body)} words (at most {MOST_WORDS})")
        if len(slide.outputs) > 1:
            problems.append(f"slide {number}: {len(slide.outputs)} outputs (one per slide)")
        problems += [f"slide {number}: no output named {name}" for name in slide.outputs if name not in named]
        if "```" in slide.body:
            problems.append(f"slide {number}: code on a slide")
        if not words(slide.body.split("\n", 1)[-1]) and not slide.outputs and "$$" not in slide.body:
            problems.append(f"slide {number}: a heading alone")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", OUTLINES, ids=lambda p: p.stem)
def test_numbers_on_the_slides_are_printed_by_the_chapter(path):
    deck = build_slides.read_outline(path)
    notebook = nbformat.read(ROOT / "chapters" / f"{deck.chapter}.ipynb", as_version=4)
    candidates = printed_numbers(notebook)
    unbacked = []
    for slide in deck.slides:
        for written in PROSE_NUMBER.findall(slide.body + "\n" + slide.notes):
            same_sign = [c for c in candidates if c.startswith("-") == written.startswith("-")
                         and len(c.split(".")[1]) >= len(written.split(".")[1])]
            if not any(rounds_to(c, written) for c in same_sign):
                unbacked.append(written)
    assert not unbacked, f"numbers on the slides of {path.name} that no output of the chapter prints: {unbacked}"


def test_an_outline_is_parsed_into_slides_notes_and_outputs(tmp_path):
    outline = tmp_path / "chapter.md"
    outline.write_text("---\ntitle: T\n---\n\n# T\n\nWhy.\n\n---\n\n## A figure\n\n![The means](fig-means)\n\n"
                       "Note:\nSay this.\n\n---\n\n## Math\n\n$$y = x$$\n", encoding="utf-8")
    deck = build_slides.read_outline(outline)
    assert deck.title == "T" and len(deck.slides) == 3
    assert deck.slides[1].outputs == ["fig-means"] and deck.slides[1].notes == "Say this."
    assert "Note:" not in deck.slides[1].body and deck.slides[2].notes == ""


def test_math_reaches_mathjax_with_its_delimiters_and_escaped():
    rendered = build_slides.markdown().render("If $a < b$ then\n\n$$\nb > a\n$$\n")
    assert r"\(a &lt; b\)" in rendered and r"\[b &gt; a\]" in rendered
