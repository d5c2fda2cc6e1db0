"""The built book in a real (headless) Chromium, served on localhost.

For every page: it loads without console errors, no request leaves localhost, all math is
typeset, every image has loaded, and nothing (code, output, table, figure) is wider than the
text column in a 1280 px wide window.  The front page links to the PDF edition when it was
built.  (The slide decks: test_decks.py.)  On failure a screenshot is saved in
``_build/browser-failures/``.

Needs the built book (``make book``) and Debian's Chromium (``make test`` installs it when it
can); otherwise the tests are skipped with a message saying so.
"""

import pytest
import yaml
from browser_support import (  # noqa: F401
    ROOT,
    SITE,
    browser_fixture,
    page_fixture,
    site_url_fixture,
    skip_unless_ready,
    viewport_fixture,
)

skip_unless_ready()
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
PAGES = [f"{TOC['root']}.html"] + [f"{entry['file']}.html" for part in TOC["parts"] for chapter in part["chapters"]
                                   for entry in [chapter, *chapter.get("sections", [])]]
# MathJax 3 defines MathJax.startup when it has loaded; wait for its typesetting to finish
MATH_DONE = "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)"


def test_pages_were_found():
    assert any(p.startswith("chapters/") for p in PAGES)


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


def test_the_pdf_edition_is_linked_from_the_front_page(page, site_url):
    if not (SITE / "linear-mixed-models-python.pdf").exists():
        pytest.skip("the PDF edition was not built (TeX Live missing: see `make texlive`)")
    page.goto(f"{site_url}/{TOC['root']}.html")
    link = page.locator("a", has_text="PDF file")
    response = page.request.get(link.evaluate("a => a.href"))
    assert response.ok and response.headers["content-type"] == "application/pdf"
