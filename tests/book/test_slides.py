"""The slide decks: every chapter cell has a slide type, MyST is translated, nothing is fetched remotely."""
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book"))
import build_slides  # noqa: E402
from assign_slide_types import slide_type  # noqa: E402

SLIDE_TYPES = {"slide", "subslide", "fragment", "notes", "skip", "-"}


@pytest.mark.parametrize("notebook", build_slides.chapters_in_toc(), ids=lambda p: p.stem)
def test_every_cell_of_a_chapter_has_a_slide_type(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    missing = [i for i, cell in enumerate(cells) if cell.metadata.get("slideshow", {}).get("slide_type")
               not in SLIDE_TYPES]
    assert not missing, f"cells {missing} have no slide type: run book/assign_slide_types.py {notebook.name}"
    assert cells[0].metadata["slideshow"]["slide_type"] == "slide"


def test_myst_is_translated_for_the_slides():
    text = ("```{admonition} What you will learn\n:class: tip\n* one\n```\n"
            "See {doc}`../book/notation` and {doc}`the errata <errata>`, after {cite}`laird1982random`.")
    plain = build_slides.plain_markdown(text)
    assert plain.startswith("**What you will learn**\n\n* one")
    assert "See notation and the errata, after [laird1982random]." in plain
    assert "{" not in plain and ":class:" not in plain


def test_colon_fences_and_glossary_terms_are_translated_for_the_slides():
    text = (":::{exercise}\n:label: ex-anova-1\n\nShow that the {term}`design effect` is $1 + (n-1)\\rho$.\n:::\n"
            ":::{admonition} The same model in statsmodels and lme4\n:class: standard-tools\nFit it.\n:::")
    plain = build_slides.plain_markdown(text)
    assert plain.startswith("**Exercise**\n\nShow that the design effect is")
    assert "**The same model in statsmodels and lme4**\n\nFit it." in plain
    assert "{" not in plain.replace("{n-1}", "") and ":::" not in plain and ":label:" not in plain


def test_rules_for_slide_types():
    markdown = nbformat.v4.new_markdown_cell
    assert slide_type(markdown("## A section\nshort")) == "slide"
    assert slide_type(markdown("### A part")) == "subslide"
    assert slide_type(markdown("A short remark.")) == "fragment"
    assert slide_type(markdown("word " * 200)) == "notes"
    assert slide_type(nbformat.v4.new_code_cell("x = 1")) == "skip"


def test_decks_load_nothing_from_the_network(tmp_path):
    if not (ROOT / ".venv" / "npm" / "node_modules" / "reveal.js").exists():
        pytest.skip("the slide assets are not installed: run `make venv`")
    build_slides.main(["--output", str(tmp_path)])
    decks = sorted(tmp_path.glob("*.slides.html"))
    assert [d.name.split(".")[0] for d in decks] == sorted(p.stem for p in build_slides.chapters_in_toc())
    for deck in decks:
        html = deck.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)[^>]+(?:src|href)="(https?:[^"]+)"', html)
        assert remote == [], f"{deck.name} loads {remote}"
        assert "import mermaid" not in html and html.count("<section") > 3
    assert (tmp_path / "reveal.js" / "dist" / "reveal.js").exists()
    assert (tmp_path / "mathjax2" / "MathJax.js").exists()
