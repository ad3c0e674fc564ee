# Each target sets up its own environment: a virtual environment in .venv at the repository root,
# created and filled from pyproject.toml when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-slow evaluate lint docs results figures clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)  ## the main job: train the PPO partitioning agent on the embedded dataset
	$(PY) train_agent.py $(ARGS)

evaluate: $(STAMP)  ## compare the newest trained agent with every heuristic
	$(PY) evaluate.py $(ARGS)

test: $(STAMP)  ## the default (fast) test suite
	$(PY) -m pytest -q $(ARGS)

test-slow: $(STAMP)  ## the slow tests only
	$(PY) -m pytest -q -m slow $(ARGS)

docs: $(STAMP)  ## the documentation site, offline, warnings as errors, into site/
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

results: $(STAMP)  ## regenerate every results table in README.md and docs/ from docs/results/
	$(PY) -m agents.result_tables

figures: $(STAMP)  ## redraw the figures made from docs/results/ (bytes depend on matplotlib)
	$(PY) -m agents.result_figures

lint: $(STAMP)
	$(PY) -m ruff check .

clean-venv:
	rm -rf $(VENV)
