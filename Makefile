PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint up bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

up: $(STAMP)
	$(BIN)/costlog up --demo

# Benchmarks print figures (docs/benchmarks.md); CI does not run them. QUICK=1 for a smoke run.
bench: $(STAMP)
	$(BIN)/python -m bench.bench_ingest $(if $(QUICK),--events 500 --batched 5000)
	$(BIN)/python -m bench.bench_import $(if $(QUICK),--events 50000 --rounds 10)

clean:
	rm -rf $(VENV) .pytest_cache
