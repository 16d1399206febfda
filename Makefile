# `make demo` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint bench system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	scripts/run-demo-stack.sh $(VENV)/bin/mlmon

system-deps:
	scripts/ensure-system-deps.sh

test: $(VENV)/.installed system-deps
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check exporter tests benchmarks scripts grafana
	$(VENV)/bin/ruff format --check exporter tests benchmarks scripts grafana

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_drift.py

clean:
	rm -rf $(VENV) .pytest_cache
