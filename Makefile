# portguard: every target installs what it needs first, so a fresh clone works with `make run`
# or `make test` and nothing else. `make install` is idempotent: it reinstalls only when
# pyproject.toml or package-lock.json changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
CDK    := node_modules/.bin/cdk

.PHONY: install run test lint typecheck unit bench synth deploy destroy clean

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(VENV)/.installed  # the sandbox needs only Python, not the CDK CLI
	$(PY) -m portguard_cli.sandbox

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

bench: install
	$(PY) -m bench

synth: install
	$(CDK) synth

deploy: install
	$(CDK) deploy

destroy: install
	$(CDK) destroy

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage
