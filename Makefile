PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint up bench faults clean

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
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# Every fault test at 5,000 events, the slow variants included (docs/reliability.md).
faults: $(STAMP)
	mkdir -p build
	COSTLOG_FAULT_EVENTS=5000 COSTLOG_FAULT_REPORT=build/faults-report.jsonl $(BIN)/pytest -q -s -m '' tests/faults/

clean:
	rm -rf $(VENV) .pytest_cache
