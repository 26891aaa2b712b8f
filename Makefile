# Two commands on a fresh machine: `make demo` and `make test`. Everything installs into .venv,
# pinned by constraints.txt (regenerate with `make constraints`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
export AIRFLOW__CORE__LOAD_EXAMPLES := False

.PHONY: install test lint demo bench emulator docs dist constraints clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10) and "Python 3.10+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[dev]"
	@touch $@

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

demo: install
	$(BIN)/python -m demo.run

bench: install
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[dev,bench]"
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

docs: install
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[dev,docs]"
	$(BIN)/python -m snap_capi_provider.core.docs --write
	$(BIN)/mkdocs build --strict --site-dir site

dist: install
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e ".[dev,docs]"
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

emulator: install
	$(BIN)/snap-capi-emulator --port 8787 --token demo-token

constraints:
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --extra docs --python-version 3.11 -o constraints.txt -q

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis site dist
