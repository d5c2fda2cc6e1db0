"""Fixtures of the browser tests: the built book served on localhost, Chromium, and a page
that records console errors and refuses any request that would leave the machine."""
import functools
import http.server
import threading
from urllib.parse import urlparse

import pytest
from browser_support import CHROMIUM, CHROMIUM_FLAGS, FAILURES, SITE


@pytest.fixture
def viewport():
    """The window of a page (a test module may override it)."""
    return {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def site_url():
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api

    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request, viewport):
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
