# The two commands a reader needs:
#   make book   build the HTML book into _build/html (sets up .venv first if needed)
#   make test   run every test: lmmlib's unit tests, doctests and nbval on each chapter
# Other targets: make venv (environment only), make notebooks (re-execute the chapters
# in place after changing lmmlib), make bench (time the build and the tests), make clean.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready
MATHJAX_VERSION := 3.2.2
OFFLINE := $(VENV)/offline

.PHONY: book test venv notebooks bench clean

book: $(READY)
	$(BIN)/python book/build_book.py
	@echo "Book built: open _build/html/index.html"

test: $(READY)
	$(BIN)/python -m pytest

venv: $(READY)

$(READY): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -rf $(OFFLINE) && mkdir -p $(OFFLINE)/_static/mathjax/output/chtml/fonts
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm mathjax@$(MATHJAX_VERSION)
	cp $(VENV)/npm/node_modules/mathjax/es5/tex-mml-chtml.js $(OFFLINE)/_static/mathjax/
	cp -r $(VENV)/npm/node_modules/mathjax/es5/output/chtml/fonts/woff-v2 $(OFFLINE)/_static/mathjax/output/chtml/fonts/
	touch $@

notebooks: $(READY)
	for nb in chapters/*.ipynb; do \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace "$$nb" || exit 1; done

bench: $(READY)
	$(BIN)/python benchmarks/build_and_test_times.py

clean:
	rm -rf _build $(VENV)
