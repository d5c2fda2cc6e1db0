"""The built book and the slide decks, in a real (headless) Chromium, served on localhost.

For every page: it loads without console errors, no request leaves localhost, all math is
typeset, every image has loaded, and nothing (code, output, table, figure) is wider than the
text column in a 1280 px wide window.  The front page links to the PDF edition when it was
built.  For every deck: it opens, advancing works, math is typeset.  On failure a
screenshot is saved in ``_build/browser-failures/``.

Needs the built book (``make book``) and Debian's Chromium (``make test`` installs it when it
can); otherwise the tests are skipped with a message saying so.
"""
import functools
import http.server
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
SITE = ROOT / "_build" / "html"
FAILURES = ROOT / "_build" / "browser-failures"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]

if not (SITE / "index.html").exists():
    pytest.skip("the book is not built: run `make book` before the browser tests", allow_module_level=True)
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (Debian package `chromium`); `make test` installs it when run as root "
                "with access to the Debian archive", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run `make venv`")

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
PAGES = [f"{TOC['root']}.html"] + [f"{entry['file']}.html" for part in TOC["parts"] for chapter in part["chapters"]
                                   for entry in [chapter, *chapter.get("sections", [])]]
# MathJax 3 defines MathJax.startup when it has loaded; wait for its typesetting to finish
MATH_DONE = "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)"
DECKS = sorted(p.relative_to(SITE).as_posix() for p in (SITE / "slides").glob("*.slides.html"))


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
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, request):
    """A fresh page that records console errors and refuses (and records) any request off localhost."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
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


def test_pages_and_decks_were_found():
    assert any(p.startswith("chapters/") for p in PAGES)
    assert len(DECKS) >= 10, DECKS


def test_the_front_page_leads_to_the_introduction(page, site_url):
    page.goto(f"{site_url}/index.html")
    page.wait_for_url(f"**/{TOC['root']}.html")
    assert page.external == [] and page.errors == []


@pytest.mark.parametrize("path", PAGES)
def test_page_works_offline(page, site_url, path):
    page.goto(f"{site_url}/{path}", wait_until="load")
    page.wait_for_function(MATH_DONE)
    page.evaluate(f"() => Promise.resolve(({MATH_DONE})())")
    assert page.external == [], f"requests left localhost: {page.external}"
    assert page.errors == [], f"console errors: {page.errors}"
    untypeset = page.evaluate("""() => Array.from(document.querySelectorAll('.math'))
        .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60))""")
    assert untypeset == [], f"math left as raw TeX: {untypeset[:5]}"
    broken = page.evaluate("""() => Array.from(document.images)
        .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)""")
    assert broken == [], f"images that did not load: {broken}"
    # nothing wider than the text column: code, printed output and tables fit without scrolling
    too_wide = page.evaluate("""() => {
        const column = document.querySelector('article.bd-article').getBoundingClientRect();
        return Array.from(document.querySelectorAll('article pre, article table, article img'))
            .filter(el => el.offsetParent !== null)
            .filter(el => el.scrollWidth > el.clientWidth + 1
                          || el.getBoundingClientRect().right > column.right + 1)
            .map(el => `${el.tagName} ${Math.round(el.getBoundingClientRect().width)} px: `
                       + el.textContent.trim().slice(0, 50))}""")
    assert too_wide == [], f"wider than the text column ({len(too_wide)}): {too_wide[:5]}"


@pytest.mark.parametrize("path", DECKS)
def test_deck_works_offline(page, site_url, path):
    # reveal.js is loaded through require.js, so it sets no global: watch the DOM instead
    page.goto(f"{site_url}/{path}", wait_until="load")
    page.wait_for_selector(".reveal.ready", timeout=20000)
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 "
                           "&& MathJax.Hub.queue.running === 0", timeout=20000)
    assert page.evaluate("() => document.querySelectorAll('.reveal .slides section').length") > 3
    before = page.evaluate("() => document.querySelector('section.present').innerText")
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    assert page.evaluate("() => location.hash") not in ("", "#/"), "advancing did not move to the next slide"
    assert page.evaluate("() => document.querySelector('section.present').innerText") != before
    assert page.evaluate("() => MathJax.Hub.getAllJax().length") > 0, "no math was typeset"
    assert page.evaluate("() => document.querySelectorAll('.MathJax_Error, .mjx-error').length") == 0
    assert page.external == [], f"requests left localhost: {page.external}"
    assert page.errors == [], f"console errors: {page.errors}"


def test_the_pdf_edition_is_linked_from_the_front_page(page, site_url):
    if not (SITE / "linear-mixed-models-python.pdf").exists():
        pytest.skip("the PDF edition was not built (TeX Live missing: see `make texlive`)")
    page.goto(f"{site_url}/{TOC['root']}.html")
    link = page.locator("a", has_text="PDF file")
    response = page.request.get(link.evaluate("a => a.href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
