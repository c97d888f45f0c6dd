# The two commands a newcomer runs (README): `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint install test-deps tempest test-neutron-ipam test-neutron-import clean

# Create the virtualenv and install Quark with its test extras; redone only
# when pyproject.toml changes.
install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install
	$(BIN)/quark serve

# System packages the dataplane tests need (installed only when missing).
test-deps:
	@if [ -x scripts/install-dataplane-deps.sh ]; then scripts/install-dataplane-deps.sh; fi

# Style and static checks; `make test` runs them first. mypy checks quark/
# with the settings of [tool.mypy] in pyproject.toml.
LINTED := quark tests bench
lint: install
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

# The suite runs in a new shuffled order each time (pytest-randomly; the last
# lines name the seed): every test file must pass alone and in any order.
# Replay an order with `make test PYTEST_ARGS=--randomly-seed=N` (or =last), or
# run in file order with PYTEST_ARGS="-p no:randomly".
PYTEST_ARGS ?=
test: install test-deps lint
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The long suite, not part of `make test`: Tempest's network API tests and
# neutron-tempest-plugin's API tests through Keystone, against a fresh Quark on
# PostgreSQL with a real network node (scripts/tempest.sh); narrow it with
# `make tempest TEMPEST_ARGS='test_routers'` or SUITES=tempest.
TEMPEST_ARGS ?=
tempest: install test-deps
	scripts/tempest.sh $(TEMPEST_ARGS)

# A stock Neutron (../shared/peers/neutron) with `ipam_driver = quark` against a
# real Quark (docs/neutron_ipam_driver.md); also part of `make test`. The first
# run builds Neutron's venv with the kit's install.sh (~4 minutes).
test-neutron-ipam: install
	$(BIN)/python -m pytest -q -m neutron_peer tests/neutron_ipam

# `quark import neutron` from a stock Neutron of the same kit (docs/import_neutron.md); also in `make test`.
test-neutron-import: install
	$(BIN)/python -m pytest -q -m neutron_peer tests/neutron_import

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis .mypy_cache *.egg-info
