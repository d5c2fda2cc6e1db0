"""The PDF edition (``make book`` builds it when TeX Live is installed; ``make pdf`` alone).

It must hold every page of the table of contents, with its figures and the solutions, and
the HTML book must carry a copy for its link.  Read with ``pdftotext`` (poppler-utils).
"""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "latex" / "linear-mixed-models-python.pdf"
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def text():
    if not PDF.exists():
        if shutil.which("xelatex") and (ROOT / "_build" / "html" / "index.html").exists():
            pytest.fail("TeX Live is installed and the book was built, but there is no PDF edition")
        pytest.skip("no PDF edition: build it with `make pdf` (needs TeX Live, see `make texlive`)")
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed (Debian package poppler-utils)")
    return subprocess.run(["pdftotext", "-layout", str(PDF), "-"], capture_output=True, text=True,
                          check=True).stdout


def titles():
    for part in TOC["parts"]:
        for chapter in part["chapters"]:
            for entry in [chapter, *chapter.get("sections", [])]:
                path = ROOT / f"{entry['file']}.ipynb"
                if path.exists():
                    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]
                    yield "".join(first).splitlines()[0].lstrip("# ")
                else:
                    yield (ROOT / f"{entry['file']}.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")


def plain(title: str) -> str:
    return re.sub(r"[`*$\\]", "", title).replace("–", "-").replace("—", "-")


@pytest.mark.parametrize("title", list(titles()))
def test_every_page_is_in_the_pdf(text, title):
    flat = " ".join(text.replace("–", "-").replace("—", "-").split())
    assert plain(title) in flat


def test_the_pdf_has_numbered_figures_and_the_solutions(text):
    chapters = sorted((ROOT / "chapters").glob("*.ipynb"))
    # figures of the book (the slide-only variants, tagged remove-cell, are not in it)
    captions = sum(1 for path in chapters for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
                   if cell.get("metadata", {}).get("mystnb", {}).get("figure", {}).get("caption")
                   and "remove-cell" not in cell.get("metadata", {}).get("tags", []))
    assert len(set(re.findall(r"Fig\. (\d+\.\d+)", text))) >= captions * 0.9
    assert text.count("Solution to Exercise") >= 4 * 10


def test_the_html_book_carries_the_pdf():
    if not PDF.exists() or not (ROOT / "_build" / "html").is_dir():
        pytest.skip("the HTML book or the PDF edition is not built")
    html_copy = ROOT / "_build" / "html" / PDF.name
    assert html_copy.exists() and html_copy.read_bytes() == PDF.read_bytes()
