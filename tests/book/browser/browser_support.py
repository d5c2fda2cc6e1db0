"""What the browser tests share: where the built book is, whether they can run, and the
fixtures -- the built book served on localhost, Chromium, and a page that records console
errors and refuses any request that would leave the machine.

A test module calls :func:`skip_unless_ready` first and imports the fixtures it uses (their
functions are named ``*_fixture``; the fixtures are ``site_url``, ``browser``, ``page`` and
``viewport``, which a module may override).
(They are not in a ``conftest.py``: with ``--doctest-modules`` a second module named
``conftest`` beside ``tests/conftest.py`` cannot be imported.)
"""
import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

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


@pytest.fixture(name="viewport")
def viewport_fixture():
    """The window of a page (a test module may override it)."""
    return {"width": 1280, "height": 900}


@pytest.fixture(name="site_url", scope="module")
def site_url_fixture():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(name="browser", scope="module")
def browser_fixture():
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(name="page")
def page_fixture(browser, request, viewport):
    """A fresh page that records console errors and refuses (and records) any request off localhost."""
    context = browser.new_context(viewport=viewport)
    tab = context.new_page()
    tab.errors, tab.external = [], []
    tab.on("console", lambda message: tab.errors.append(message.text) if message.type == "error" else None)
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))

    def route(route_):
        host = urlparse(route_.request.url).hostname
        if host in (None, "127.0.0.1", "localhost"):
            route_.continue_()
        else:
            tab.external.append(route_.request.url)
            route_.abort()
    tab.route("**/*", route)
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(FAILURES / f"{request.node.name.replace('/', '_')}.png"), full_page=True)
    context.close()
