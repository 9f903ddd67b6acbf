# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Both build .venv first from the pinned requirements; nothing else needs to be installed.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

VEGA    := plots/vega/vega-embed.min.js

.PHONY: repro test test-fast lint venv serve bench clean-venv browser plots

venv: $(STAMP)

# Data-only packages go in with --no-deps (see requirements-nodeps.txt).
$(STAMP): requirements.txt requirements-nodeps.txt
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

repro: $(STAMP) $(VEGA)
	@test -d .dvc || $(BIN)/dvc init --quiet
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The dvc plots page offline: vega, vega-lite and vega-embed copied from the pinned PyPI package
# into plots/vega/ (gitignored), where plots/offline.html loads them from dvc_plots/index.html.
$(VEGA): $(STAMP)
	$(BIN)/python -m docent.plots_page plots/vega

# `make plots` = dvc plots show (workspace); `make plots REVS="HEAD r64"` = dvc plots diff HEAD r64.
plots: $(STAMP) $(VEGA)
	$(BIN)/dvc plots $(if $(REVS),diff $(REVS),show) --html-template plots/offline.html

test: $(STAMP) browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider tests

# The edit loop: everything but the tests marked `slow` (whole pipelines through dvc, the real SmolLM2).
# It installs nothing beyond .venv: without chromium the browser test skips, saying why.
test-fast: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" tests

# The browser test drives Debian's chromium (Playwright's own download does not work offline).
# Installed quietly when missing and running as root; otherwise that one test skips, saying why.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser test (apt-get, a minute or two)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	      >/dev/null 2>&1 || echo "warning: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium missing and not root; the browser test will be skipped"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# `make serve SERVE_ARGS="--no-adapter --port 8080"` passes options through.
serve: $(STAMP)
	$(BIN)/python -m docent serve $(SERVE_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/retrieval_scale.py

clean-venv:
	rm -rf $(VENV)
