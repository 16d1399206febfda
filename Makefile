# `make demo` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# NannyML and Evidently, the peers the cycle benchmark compares with, live in an environment of
# their own (Evidently 0.7.23 needs pandas < 3); one that will not install is skipped with a note.
PEERS_VENV ?= .venv-peers

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

$(PEERS_VENV)/.installed:
	$(PYTHON) -m venv $(PEERS_VENV)
	-$(PEERS_VENV)/bin/python -m pip install --quiet 'pandas<3' 'nannyml==0.13.1'
	-$(PEERS_VENV)/bin/python -m pip install --quiet 'pandas<3' 'evidently==0.7.23'
	touch $@

bench: $(VENV)/.installed $(PEERS_VENV)/.installed
	$(PY) benchmarks/bench_drift.py
	$(PY) benchmarks/bench_sources.py
	PEERS_PYTHON=$(PEERS_VENV)/bin/python $(PY) benchmarks/bench_cycle.py
	$(PY) benchmarks/bench_scrape.py
	$(PY) benchmarks/bench_reference.py
	$(PY) benchmarks/bench_state.py
	$(PY) benchmarks/bench_large_batch.py

clean:
	rm -rf $(VENV) $(PEERS_VENV) .pytest_cache
