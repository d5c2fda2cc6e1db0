"""Every slide of every lecture deck, measured in headless Chromium in a 1280 x 720 window.

A slide fails when its content is taller or wider than the 1280 x 720 frame, when a figure
did not load or is shown narrower than 60% of the frame (too small to read from the back of
a room), when it is a heading alone, or when its math is not typeset.  Each failing slide is
saved as a screenshot in ``_build/browser-failures/``.  The deck must also open offline:
no console errors, no request leaving localhost.
"""
import re

import pytest
from browser_support import (  # noqa: F401
    FAILURES,
    SITE,
    browser_fixture,
    page_fixture,
    site_url_fixture,
    skip_unless_ready,
)

skip_unless_ready()
#: the decks as presented and with their code (<chapter>-code.html)
DECKS = sorted(p.name for p in (SITE / "slides").glob("*.html"))
WIDTH, HEIGHT = 1280, 720
#: a figure must be shown at least this share of the frame's width
FIGURE_SHARE = 0.6
MEASURE = """([width, share]) => {
  const slide = Reveal.getCurrentSlide(), scale = Reveal.getScale();
  const problems = [];
  if (slide.scrollHeight > slide.clientHeight + 1)
    problems.push(`content ${slide.scrollHeight} px tall in a ${slide.clientHeight} px frame`);
  if (slide.scrollWidth > slide.clientWidth + 1)
    problems.push(`content ${slide.scrollWidth} px wide in a ${slide.clientWidth} px frame`);
  slide.querySelectorAll('pre, table, .math.block').forEach(el => {
    if (el.scrollWidth > el.clientWidth + 1) problems.push(`${el.tagName} scrolls sideways`);
  });
  slide.querySelectorAll('img').forEach(img => {
    if (!(img.complete && img.naturalWidth > 0)) problems.push(`figure ${img.src} did not load`);
    const shown = img.getBoundingClientRect().width / scale / width;
    if (shown < share) problems.push(`figure shown at ${Math.round(100 * shown)}% of the frame's width`);
  });
  const body = slide.cloneNode(true);
  body.querySelectorAll('h1, h2, h3, aside.notes').forEach(el => el.remove());
  if (!body.textContent.trim() && !slide.querySelector('img, table, .math'))
    problems.push('a heading alone');
  slide.querySelectorAll('.math').forEach(el => {
    if (!el.querySelector('mjx-container')) problems.push(`math not typeset: ${el.textContent.slice(0, 40)}`);
  });
  if (slide.querySelector('mjx-merror')) problems.push('a MathJax error');
  return problems;
}"""


@pytest.fixture
def viewport():
    return {"width": WIDTH, "height": HEIGHT}


def test_every_chapter_deck_was_built_with_its_code_and_handout():
    presented = [deck for deck in DECKS if not deck.endswith("-code.html")]
    assert len(presented) >= 10, DECKS
    for deck in presented:
        stem = deck.removesuffix(".html")
        assert f"{stem}-code.html" in DECKS
        handout = (SITE / "slides" / f"{stem}.pdf").read_bytes()
        slides = (SITE / "slides" / deck).read_text(encoding="utf-8").count('<section class="')
        assert len(re.findall(rb"/Type\s*/Page\b", handout)) == slides, f"{stem}.pdf: one page per slide"


@pytest.mark.parametrize("deck", DECKS)
def test_every_slide_fits_the_frame_and_shows_what_it_should(page, site_url, deck):
    page.goto(f"{site_url}/slides/{deck}", wait_until="load")
    page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=20000)
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
    page.evaluate("() => MathJax.startup.promise")
    failures = []
    # every slide, the vertical ones too (the code under a slide in the decks with code)
    for h, v in page.evaluate("() => Reveal.getSlides().map(s => { const i = Reveal.getIndices(s); "
                              "return [i.h, i.v || 0]; })"):
        page.evaluate(f"() => Reveal.slide({h}, {v})")
        page.wait_for_timeout(50)
        problems = page.evaluate(MEASURE, [WIDTH, FIGURE_SHARE])
        if problems:
            FAILURES.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(FAILURES / f"{deck.removesuffix('.html')}-slide-{h + 1}-{v + 1}.png"))
            failures.append(f"slide {h + 1}{f'.{v + 1}' if v else ''}: {'; '.join(problems)}")
    assert page.external == [], f"requests left localhost: {page.external}"
    assert page.errors == [], f"console errors: {page.errors}"
    assert not failures, f"{deck}:\n" + "\n".join(failures)
