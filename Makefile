# The Makefile makes its own virtualenv: `make run` and `make test` work on a fresh machine
# with only Python 3.11 and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8080
ARGS ?=
# Most of the suite waits on real processes (sandboxes, clients under test, browsers), not on the CPU:
# three workers (pytest-xdist), each taking whole files, keep it well inside its budget on 2 cores.
PYTEST_ARGS ?= -n 3 --dist loadfile

.PHONY: run test lint bench clean demo chromium node postgresql nocode bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

# Our packages' bytecode, as pip writes it for an installed wheel: an editable install has none, and
# where PYTHONDONTWRITEBYTECODE is set, every process (each sandbox and client of `check --jobs`, each
# test's server) would compile 20,000 lines again. compileall rewrites only what changed.
bytecode: | $(BIN)/python
	$(BIN)/python -m compileall -q mock_server scenarios

run: $(STAMP_RUN) bytecode
	$(BIN)/ghl-sandbox serve --host $(HOST) --port $(PORT) $(ARGS)

# The dashboard's browser test drives the system's Chromium (Playwright's browser download does not
# work offline): install it from the OS packages when it is missing and we may (root with apt-get).
chromium:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing chromium from the OS packages"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "warning: could not install chromium" >&2; \
	fi

# GHL's official npm SDK and the Node example client run on the system's Node.js (with npm).
node:
	@if ! command -v node >/dev/null || ! command -v npm >/dev/null; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "installing nodejs and npm from the OS packages"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) \
				|| echo "warning: could not install nodejs" >&2; \
		fi; \
	fi

# The Node-RED recipe (examples/nocode): Node-RED as its package-lock.json pins it.
nocode: node
	cd examples/nocode && npm ci --no-audit --no-fund

# The sql destination adapter is tested on a real PostgreSQL server that the tests start themselves.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		echo "installing postgresql from the OS packages"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) \
			|| echo "warning: could not install postgresql" >&2; \
	fi

test: $(STAMP_DEV) bytecode chromium node postgresql
	$(BIN)/ruff check mock_server tests scenarios benchmarks examples
	$(BIN)/mypy mock_server scenarios benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check mock_server tests scenarios benchmarks examples
	$(BIN)/mypy mock_server scenarios benchmarks examples

bench: $(STAMP_DEV) bytecode
	$(BIN)/python -m benchmarks.run $(ARGS)

# The sandbox, the reference client and simulated payment activity; prints the dashboard URL.
# Ctrl-C stops all of it. `make demo ARGS="--interval 0.5 --fault-every 10"` passes options through.
demo: $(STAMP_RUN) bytecode
	$(BIN)/python -m mock_server.demo --host $(HOST) --port $(PORT) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
