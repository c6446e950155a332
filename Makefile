# Two entry points (README.md): `make run` and `make test`. Everything else is a dependency of those.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= python3

.PHONY: setup system run test lint unit clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Optional system tools (apertium for offline en<->es MT, cmake/g++ to build fast_align); root + apt only.
system:
	bash scripts/install-system-packages.sh

# The embedded default: the demo corpus end to end on the CPU.
run: setup
	$(BIN)/snakemake --cores 2

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakemake --lint

unit: setup
	HF_HUB_OFFLINE=1 $(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -m "not slow"

test: setup system lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15 -rs

clean:
	rm -rf results logs .snakemake
