# portguard: every target installs what it needs first, so a fresh clone works with `make run`
# or `make test` and nothing else. Installs are idempotent: they run again only when
# pyproject.toml or package-lock.json changed, or when .venv had to be made again.
#
# `make run` installs only what the sandbox needs (the package and its `sandbox` extra: boto3,
# Powertools, rich, moto); `make test` and the other targets add the `dev` extra (the CDK, the
# linters, the test tools) and the CDK CLI.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
CDK    := node_modules/.bin/cdk
PIP    := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: install run test lint typecheck unit bench synth deploy destroy clean FORCE

install: $(VENV)/.installed node_modules/.installed

# Checked before every install (scripts/ensure-venv.sh): a .venv that is missing, made by a
# Python older than 3.11 or whose interpreter no longer runs is made again with a suitable one
# (PYTHON, else python3.13/3.12/3.11), which makes the markers below out of date; when there is
# none, it stops and says what to run.
$(VENV)/pyvenv.cfg: FORCE
	@PYTHON='$(PYTHON)' GOAL='$(or $(MAKECMDGOALS),install)' sh scripts/ensure-venv.sh $(VENV)

$(VENV)/.sandbox-installed: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) --upgrade pip
	$(PIP) -e '.[sandbox]'
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/pyvenv.cfg
	$(PIP) --upgrade pip
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.sandbox-installed  # dev includes the sandbox extra

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: $(VENV)/.sandbox-installed  # the sandbox needs neither the CDK nor the test tools
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

FORCE:
