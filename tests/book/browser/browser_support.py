"""What the browser tests share: where the built book is, and whether they can run.

The fixtures (a local web server for the book, Chromium, a page that refuses the network)
are in ``conftest.py``; a test module calls :func:`skip_unless_ready` first.
"""
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "_build" / "html"
FAILURES = ROOT / "_build" / "browser-failures"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]


def skip_unless_ready() -> None:
    """Skip the calling test module when the book is not built or Chromium is missing."""
    if not (SITE / "index.html").exists():
        pytest.skip("the book is not built: run `make book` before the browser tests", allow_module_level=True)
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (Debian package `chromium`); `make test` installs it when run as "
                    "root with access to the Debian archive", allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run `make venv`")
