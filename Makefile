# evalkit: `make help` lists the targets.
# Two commands matter: `make packs` builds the evidence packs from the demo
# data, `make test` runs the whole test suite. Both set themselves up.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

.PHONY: setup
setup: $(STAMP) ## Create .venv and install the pinned dependencies

.PHONY: data
data: setup ## Generate the demo extracts (if absent) and ingest them
	$(BIN)/evalkit demo-data
	$(BIN)/evalkit ingest

.PHONY: packs
packs: data ## Build every evidence pack from the demo data (outputs/index.html)
	$(BIN)/evalkit run

.PHONY: browser
browser: ## Install headless Chromium and fonts from Debian when missing (browser tests, PDF packs)
	@bash tools/install_browser.sh

.PHONY: test
test: setup browser ## Run the whole test suite (unit, end-to-end, notebooks, browser)
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax tests notebooks

.PHONY: validate
validate: setup ## Check every parameter file without running anything
	$(BIN)/evalkit validate

.PHONY: lab
lab: data ## Open the notebooks in JupyterLab
	$(BIN)/jupyter lab notebooks/

.PHONY: bench
bench: setup ## Run the benchmarks and print their figures
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_pipeline.py
	$(BIN)/python -W ignore benchmarks/its_coverage.py

.PHONY: lock
lock: ## Re-resolve requirements.in into requirements.lock (needs the package index)
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/python -m pip install --quiet -r requirements.in
	.lockenv/bin/python -m pip freeze --all --exclude-editable | grep -v -E "^(pip|evalkit)==" > requirements.lock
	$(PYTHON) tools/write_environment_yml.py
	rm -rf .lockenv

.PHONY: clean
clean: ## Remove generated data and outputs (keeps raw extracts)
	rm -rf data/processed/* outputs/*
	git checkout -- data/processed/README.md outputs/README.md 2>/dev/null || true
