"""Build the HTML book from a clean _build, executing every chapter once, with the slide decks.

A chapter that declares data the machine does not have (notebook metadata
``lmmlib.requires``; see :mod:`lmmbook.requirements`) is not executed: it is
rendered from the outputs stored in the notebook, and the build says so and
what to do.  Everything else is executed and any failing cell fails the build.
The executed notebooks stay in ``_build/.jupyter_cache``, where the tests compare
them with the stored outputs instead of executing every chapter again.

The chapters are executed before Jupyter Book runs, as many at once as the machine has
cores (``--jobs``), each in its own kernel in the chapter's folder with the timeout of
``_config.yml``, exactly as Jupyter Book would execute it; each result goes into the same
cache, where Jupyter Book then finds every chapter executed.  A chapter that fails stops
the build, which prints the failing cell and its traceback.  The decks' PDF handouts are
printed meanwhile (they need a browser, not the cores), and copied into the HTML book when
they are done.

The notebooks a reader downloads from the HTML book (its download button serves
``_build/html/_sources``) have the solutions of the exercises removed, so that students
can try first; the book's pages show the solutions collapsed.

``--pdf`` builds the PDF edition instead (Jupyter Book's LaTeX builder and xelatex), from
the same executed notebooks when the HTML book was built first, into
``_build/latex/linear-mixed-models-python.pdf``, and copies it into the HTML book, whose
front page links to it.  latexmk runs xelatex without writing a PDF until the references
have settled, then writes the PDF once (latexmk's ``-xelatex`` mode, which Sphinx's
Makefile recommends): the same PDF as three full runs, in about half the time.

Usage (what ``make book`` runs): ``.venv/bin/python book/build_book.py [--keep-cache] [--jobs N]``;
``--keep-cache`` keeps the executed notebooks of an earlier build (a chapter whose code
has not changed is then not executed again).  ``make pdf`` runs ``book/build_book.py --pdf``.
"""
import argparse
import fnmatch
import multiprocessing
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml
from build_slides import build_decks, print_handouts
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from jupyter_cache.executors.utils import single_nb_execution

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
    parser.add_argument("--jobs", type=int, default=cores(), help="chapters executed at once (default: the cores)")
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
    decks = build_decks()     # the decks are copied into the HTML output (html_extra_path)
    with ThreadPoolExecutor(max_workers=1) as printer:
        handouts = printer.submit(print_handouts, decks)
        if not execute_chapters(arguments.jobs):
            return 1
        returncode = jupyter_book("html")
        handouts.result()
    if returncode == 0:
        # the handouts printed after Sphinx copied the decks into the HTML output
        for deck in decks:
            if deck.with_suffix(".pdf").exists():
                shutil.copy2(deck.with_suffix(".pdf"), BUILD / "html" / "slides")
        removed = strip_solutions(BUILD / "html" / "_sources")
        print(f"Solutions removed from the {removed} downloadable notebooks that have exercises")
    return returncode


def cores() -> int:
    """The cores this process may run on (all of the machine's where that cannot be asked)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def execute_chapters(jobs: int) -> bool:
    """Execute, *jobs* at a time, the chapters that Jupyter Book would execute and its cache lacks,
    and add them to the cache; print each chapter's time, and the error of any that fails.
    Return whether all succeeded (the successful ones are cached either way)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["execute"]
    if config.get("execute_notebooks") != "cache":
        return True                   # Jupyter Book executes (or not) by itself
    excluded = [*config.get("exclude_patterns", []), *chapters_not_executed()]
    cache = get_cache(CACHE)
    pending = []
    for path in book_notebooks():
        if any(fnmatch.fnmatch(path.relative_to(ROOT).as_posix(), pattern) for pattern in excluded):
            continue
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            pending.append(path)
    if not pending:
        return True
    print(f"Executing {len(pending)} chapters, {jobs} at a time")
    failed = []
    # "spawn": a clean interpreter per worker (this process has a thread driving the browser)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(execute_notebook, path, config.get("timeout", 30),
                               config.get("allow_errors", False)): path
                   for path in pending}
        for future in as_completed(futures):
            path = futures[future]
            executed, seconds, error = future.result()
            name = path.relative_to(ROOT)
            if error:
                print(f"{name}: FAILED after {seconds:.1f} s\n{error}", flush=True)
                failed.append(name)
                continue
            cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(executed, as_version=4), str(path),
                                                      data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"{name}: executed in {seconds:.1f} s", flush=True)
    if failed:
        print(f"The book is not built: a cell failed in {', '.join(map(str, failed))}")
    return not failed


def execute_notebook(path: Path, timeout: int, allow_errors: bool) -> tuple[str, float, str | None]:
    """Execute the notebook at *path* as Jupyter Book's cache mode does (myst-nb's
    ``NotebookClientCache``: a kernel in the notebook's folder, the notebook's own execution
    metadata overriding *timeout* and *allow_errors*); return it as JSON, the seconds taken
    and, if a cell failed, the error (the cell and its traceback in the kernel)."""
    notebook = nbformat.read(path, as_version=4)
    result = single_nb_execution(notebook, cwd=str(path.parent), timeout=timeout, allow_errors=allow_errors,
                                 meta_override=True)
    return nbformat.writes(notebook), result.time, None if result.err is None else str(result.err)


def book_notebooks() -> list[Path]:
    """The notebooks of the table of contents, in its order (Jupyter Book builds only those)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def files(entries: list[dict]) -> list[str]:
        return [name for entry in entries for name in [entry["file"], *files(entry.get("sections", []))]]
    names = [toc["root"], *(name for part in toc["parts"] for name in files(part["chapters"]))]
    listed = [ROOT / f"{name}.ipynb" for name in names]
    return [path for path in listed if path.exists()]


def build_pdf() -> int:
    """The PDF edition, from the executed notebooks of the HTML build when there is one."""
    # latexmk -xelatex: xelatex writes .xdv files until the references settle, xdvipdfmx the PDF once
    returncode = jupyter_book("pdflatex", environment={"LATEXMKOPTS": "-xelatex"})
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


def chapters_not_executed() -> dict[str, list[str]]:
    """The chapters whose data this machine lacks (path relative to the book -> what to do)."""
    not_executed = {}
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        messages = unmet_requirements(notebook)
        if messages:
            not_executed[notebook.relative_to(ROOT).as_posix()] = messages
    return not_executed


def jupyter_book(builder: str, environment: dict[str, str] | None = None) -> int:
    """Run Jupyter Book's *builder* on the book, with the chapters whose data this machine
    lacks shown from their stored outputs, and *environment* added to this process's."""
    config_path = ROOT / "_config.yml"
    not_executed = chapters_not_executed()
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
    return subprocess.run(command, cwd=ROOT, env={**os.environ, **(environment or {})}).returncode


if __name__ == "__main__":
    sys.exit(main())
