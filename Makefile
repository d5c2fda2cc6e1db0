# The two commands a reader needs:
#   make book   build the HTML book into _build/html and its PDF edition (sets up .venv first if needed)
#   make test   run every test: the toolkit's and the book's tests, doctests, the chapters' outputs, lint
#               (on one pytest worker per core, pytest-xdist)
# Other targets: make check (the quick tier for daily work: toolkit tests without the slow ones, under a
# minute), make pdf (the PDF edition only, into _build/latex), make slides (the lecture decks
# of book/decks, with and without the code, and their PDF handouts), make venv
# (environment only), make notebooks (re-execute the chapters in place after changing lmmlib),
# make bench (time the build, the tests and the engine; bench-engine, bench-peers), make clean.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
# Front-end assets from npm, so that the book and the slides need no network when read:
# MathJax 3 for the book and the slides, reveal.js for the slides.
NPM_PACKAGES := mathjax@3.2.2 reveal.js@4.6.0
OFFLINE := $(VENV)/offline

.PHONY: book pdf slides test check chromium texlive venv notebooks bench bench-engine bench-peers clean

book: $(READY) texlive chromium
	$(BIN)/python book/build_book.py
	@if command -v xelatex >/dev/null 2>&1; then $(BIN)/python book/build_book.py --pdf; \
	  else echo "No TeX Live: the PDF edition was not built (see make texlive)"; fi
	@echo "Book built: open _build/html/index.html"

# the PDF edition alone (from the executed chapters of the HTML build, if there is one)
pdf: $(READY) texlive
	$(BIN)/python book/build_book.py --pdf

# The PDF edition needs xelatex and the LaTeX packages of Jupyter Book's LaTeX class, from
# Debian's TeX Live (about 500 MB; the fonts-extra collection is not needed, see
# book/latex/bbm.sty); pdftotext (poppler-utils) lets the tests read the PDF.
TEXLIVE := texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-xetex \
  texlive-plain-generic lmodern fonts-freefont-otf fonts-dejavu-core latexmk poppler-utils
texlive:
	@{ command -v xelatex && command -v latexmk && command -v pdftotext; } >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  $(TEXLIVE) >/dev/null; } 2>/dev/null || \
	  echo "TeX Live could not be installed (Debian packages: $(TEXLIVE)): no PDF edition"

slides: $(READY)
	$(BIN)/python book/build_slides.py

# -n auto: one worker per core (pytest-xdist); each worker loads the session fixtures once
test: $(READY) chromium
	$(BIN)/python -m pytest -n auto

check: $(READY)
	$(BIN)/python -m pytest -q -m "not slow" tests/toolkit lmmlib

# The browser tests drive Debian's Chromium; without it (no root, no Debian archive) they skip.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } 2>/dev/null || \
	  echo "Chromium could not be installed: the browser tests will be skipped"

venv: $(READY)

$(READY): requirements.lock pyproject.toml book/pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	# the toolkit (lmmlib, this folder) and the book's own package (lmmbook, in book/)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e . -e book
	rm -rf $(OFFLINE) && mkdir -p $(OFFLINE)/_static
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm $(NPM_PACKAGES)
	# all of MathJax: it loads TeX extensions (\boldsymbol, ...) and fonts on demand
	cp -r $(VENV)/npm/node_modules/mathjax/es5 $(OFFLINE)/_static/mathjax
	touch $@

notebooks: $(READY)
	for nb in chapters/*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

bench: $(READY)
	$(BIN)/python benchmarks/build_and_test_times.py
	$(BIN)/python benchmarks/engine_speed.py
	$(BIN)/python benchmarks/several_factors.py
	$(BIN)/python benchmarks/python_peers.py

# the engine alone: against statsmodels and lme4 (when Rscript has lme4), large data, bootstrap
bench-engine: $(READY)
	$(BIN)/python benchmarks/engine_speed.py
	$(BIN)/python benchmarks/several_factors.py

# lmmlib against the other Python mixed-model packages (installed in their own environment,
# benchmarks/.peers-venv, on first use) and lme4, and lmmlib's import time; QUICK=1: about a minute
bench-peers: $(READY)
	$(BIN)/python benchmarks/python_peers.py $(if $(QUICK),--quick,)

clean:
	rm -rf _build _slides $(VENV)
