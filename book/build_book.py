"""Build the HTML book from a clean _build, executing every chapter once, with the slide decks.

A chapter that declares data the machine does not have (notebook metadata
``lmmlib.requires``; see :mod:`lmmbook.requirements`) is not executed: it is
rendered from the outputs stored in the notebook, and the build says so and
what to do.  Everything else is executed and any failing cell fails the build.
The executed notebooks stay in ``_build/.jupyter_cache``, where the tests compare
them with the stored outputs instead of executing every chapter again.

Usage (what ``make book`` runs): ``.venv/bin/python book/build_book.py [--keep-cache]``;
``--keep-cache`` keeps the executed notebooks of an earlier build (a chapter whose code
has not changed is then not executed again).
"""
import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from build_slides import main as build_slides

from lmmbook.requirements import unmet_requirements

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


CACHE = BUILD / ".jupyter_cache"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-cache", action="store_true", help="reuse the executed notebooks of the last build")
    arguments = parser.parse_args(argv)
    kept = BUILD.with_name("_kept_jupyter_cache")
    if arguments.keep_cache and CACHE.is_dir():
        shutil.rmtree(kept, ignore_errors=True)
        CACHE.rename(kept)
    shutil.rmtree(BUILD, ignore_errors=True)
    if kept.is_dir():
        BUILD.mkdir()
        kept.rename(CACHE)
    build_slides([])     # the decks are copied into the HTML output (html_extra_path)
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
    command = [str(JUPYTER_BOOK), "build", "--warningiserror", "--keep-going", "--config", str(config_path),
               str(ROOT)]
    return subprocess.run(command, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
