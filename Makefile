# Two entry points: `make demo` runs the quick start against the bundled
# sandboxes, `make test` runs lint, types and the whole test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Bytecode is cached, as an installed tool's is: with PYTHONDONTWRITEBYTECODE (set in some
# shells and images), every process the tests start compiles reconciler anew (~0.1 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test lint bench browser clean

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

# Four workers on two cores: most tests wait (on sandboxes, PostgreSQL, processes they
# signal), so two workers left the cores half idle.
test: lint browser
	$(BIN)/pytest -n 4 -q

# The dashboard's browser tests use Chromium from the Debian packages (Playwright drives
# it; it never downloads a browser). Installed here when missing and we may (root).
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
		|| { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }; \
	else echo "Chromium is missing: run 'sudo apt-get install -y chromium' (Debian/Ubuntu) for the dashboard's browser tests; they skip without it."; fi

bench: $(BIN)/.installed
	$(BIN)/python bench/run.py --sizes 1000,10000 --json bench/results.json

clean:
	rm -rf $(VENV) state/*.json state/sandbox
