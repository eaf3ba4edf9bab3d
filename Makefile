# One virtual environment, made on first use; every target below depends on it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup test demo lint bench eval size clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: setup
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist worksteal --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

demo: setup
	$(BIN)/kubemedic demo $(DEMO_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python -m benchmarks

size: setup
	$(BIN)/python tools/size_report.py

eval: setup
	$(BIN)/kubemedic eval $(EVAL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage build *.egg-info
