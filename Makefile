PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Running needs costlog and its dependencies; the tests and benchmarks also need the test extras.
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP := $(VENV)/.installed-test

.PHONY: install test test-fast lint up bench faults clean

$(RUNTIME_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(RUNTIME_STAMP)

$(STAMP): $(RUNTIME_STAMP)
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q

# Unit tests only (no Redis server, no processes): the inner loop.
test-fast: $(STAMP)
	$(BIN)/pytest -q tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .

PORT ?= 8787
up: $(RUNTIME_STAMP)
	$(BIN)/costlog up --demo --port $(PORT)

# Benchmarks print figures (docs/benchmarks.md); CI does not run them. QUICK=1 for a smoke run.
bench: $(STAMP)
	$(BIN)/python -m bench $(if $(QUICK),--quick)

# Every fault test at 5,000 events, the slow variants included (docs/operations.md).
faults: $(STAMP)
	mkdir -p build
	COSTLOG_FAULT_EVENTS=5000 COSTLOG_FAULT_REPORT=build/faults-report.jsonl $(BIN)/pytest -q -s -m '' tests/faults/

clean:
	rm -rf $(VENV) .pytest_cache
