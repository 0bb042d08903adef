# Two entry points: `make demo` runs the quick start against the bundled
# sandboxes, `make test` runs lint, types and the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/reconciler plan examples/quickstart --sandbox
	$(BIN)/reconciler apply examples/quickstart --sandbox --auto-approve

lint: $(BIN)/.installed
	$(BIN)/ruff check reconciler tests bench
	$(BIN)/mypy reconciler

test: lint
	$(BIN)/pytest -n 2 -q

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py --sizes 1000,10000 --json bench/results.json

clean:
	rm -rf $(VENV) state/*.json state/sandbox
