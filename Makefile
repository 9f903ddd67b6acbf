# Two entry points (see README): `make repro` runs the pipeline, `make test` runs the tests.
# Both build .venv first from the pinned requirements; nothing else needs to be installed.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: repro test lint venv serve bench clean-venv

venv: $(STAMP)

# Data-only packages go in with --no-deps (see requirements-nodeps.txt).
$(STAMP): requirements.txt requirements-nodeps.txt
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found (Python 3.11 is required)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

repro: $(STAMP)
	@test -d .dvc || $(BIN)/dvc init --quiet
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(BIN)/ruff check .

serve: $(STAMP)
	$(BIN)/python -m docent serve

bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py

clean-venv:
	rm -rf $(VENV)
