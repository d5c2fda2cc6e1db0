"""Build the HTML book from a clean _build, executing every chapter once, with the slide decks.

A chapter that declares data the machine does not have (notebook metadata
``lmmlib.requires``; see :mod:`lmmbook.requirements`) is not executed: it is
rendered from the outputs stored in the notebook, and the build says so and
what to do.  Everything else is executed and any failing cell fails the build.
The executed notebooks stay in ``_build/.jupyter_cache``, where the tests compare
them with the stored outputs instead of executing every chapter again.

The notebooks a reader downloads from the HTML book (its download button serves
``_build/html/_sources``) have the solutions of the exercises removed, so that students
can try first; the book's pages show the solutions collapsed.

``--pdf`` builds the PDF edition instead (Jupyter Book's LaTeX builder and xelatex), from
the same executed notebooks when the HTML book was built first, into
``_build/latex/linear-mixed-models-python.pdf``, and copies it into the HTML book, whose
front page links to it.

Usage (what ``make book`` runs): ``.venv/bin/python book/build_book.py [--keep-cache]``;
``--keep-cache`` keeps the executed notebooks of an earlier build (a chapter whose code
has not changed is then not executed again).  ``make pdf`` runs ``book/build_book.py --pdf``.
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import yaml
from build_slides import main as build_slides

from lmmbook.requirements import unmet_requirements

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


CACHE = BUILD / ".jupyter_cache"
PDF_NAME = "linear-mixed-models-python.pdf"
#: the cell tag of every cell of an exercise's solution (see book/AUTHORING.md)
SOLUTION_TAG = "solution"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-cache", action="store_true", help="reuse the executed notebooks of the last build")
    parser.add_argument("--pdf", action="store_true", help="build the PDF edition (after the HTML book, if built)")
    arguments = parser.parse_args(argv)
    if arguments.pdf:
        return build_pdf()
    kept = BUILD.with_name("_kept_jupyter_cache")
    if arguments.keep_cache and CACHE.is_dir():
        shutil.rmtree(kept, ignore_errors=True)
        CACHE.rename(kept)
    shutil.rmtree(BUILD, ignore_errors=True)
    if kept.is_dir():
        BUILD.mkdir()
        kept.rename(CACHE)
    build_slides([])     # the decks are copied into the HTML output (html_extra_path)
    returncode = jupyter_book("html")
    if returncode == 0:
        removed = strip_solutions(BUILD / "html" / "_sources")
        print(f"Solutions removed from the {removed} downloadable notebooks that have exercises")
    return returncode


def build_pdf() -> int:
    """The PDF edition, from the executed notebooks of the HTML build when there is one."""
    returncode = jupyter_book("pdflatex")
    pdf = BUILD / "latex" / PDF_NAME
    if returncode == 0 and (BUILD / "html").is_dir():
        shutil.copy2(pdf, BUILD / "html" / PDF_NAME)
    if returncode == 0:
        print(f"PDF edition: {pdf.relative_to(ROOT)}")
    return returncode


def strip_solutions(sources: Path) -> int:
    """Remove the cells tagged ``solution`` from every notebook under *sources*; return how
    many notebooks had any."""
    changed = 0
    for path in sorted(sources.rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        kept = [cell for cell in notebook.cells if SOLUTION_TAG not in cell.metadata.get("tags", [])]
        if len(kept) < len(notebook.cells):
            notebook.cells = kept
            nbformat.write(notebook, path)
            changed += 1
    return changed


def jupyter_book(builder: str) -> int:
    """Run Jupyter Book's *builder* on the book, with the chapters whose data this machine
    lacks shown from their stored outputs."""
    config_path = ROOT / "_config.yml"
    not_executed = {}
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        messages = unmet_requirements(notebook)
        if messages:
            not_executed[notebook.relative_to(ROOT).as_posix()] = messages
    if not_executed:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        config["execute"]["exclude_patterns"] = sorted(not_executed)
        BUILD.mkdir(exist_ok=True)
        config["execute"]["cache"] = str(CACHE)
        config_path = BUILD / "config-with-stored-outputs.yml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        for notebook, messages in not_executed.items():
            print(f"NOTE: {notebook} is shown with its stored outputs, not executed: {' '.join(messages)}")
    command = [str(JUPYTER_BOOK), "build", "--builder", builder, "--warningiserror", "--keep-going",
               "--config", str(config_path), str(ROOT)]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
