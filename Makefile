# The two commands that matter: `make demo` and `make test` (both work on a fresh machine).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PG_URL ?= postgresql+psycopg://owlmigrate:owlmigrate@127.0.0.1:5432/owlmigrate_test
HYPOTHESIS_PROFILE ?= ci
PYTEST_ARGS ?=

.PHONY: install services demo test test-fast test-deep test-hatchet lint typecheck bench \
        hatchet-up hatchet-down clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres,hatchet]'
	@touch $@

install: $(VENV)/.installed

services: install
	bash scripts/pg-up.sh >/dev/null

hatchet-up: services
	bash scripts/hatchet.sh up

hatchet-down:
	bash scripts/hatchet.sh down

demo: install
	bash scripts/demo.sh

# Everything, with coverage for both packages; PostgreSQL and the Hatchet engine are started first.
test: install services hatchet-up
	set -a; [ -f .hatchet/env ] && source .hatchet/env; set +a; \
	OWLMIGRATE_TEST_PG_URL='$(PG_URL)' HYPOTHESIS_PROFILE=$(HYPOTHESIS_PROFILE) \
	$(PY) -m pytest -q -p no:cacheprovider \
	  --cov=owlmigrate --cov=owlclaw_runtime --cov-report=term --cov-fail-under=85 $(PYTEST_ARGS)
	$(PY) -m ruff check .

# No services: the tests that need PostgreSQL or Hatchet are skipped with a reason.
test-fast: install
	HYPOTHESIS_PROFILE=dev $(PY) -m pytest -q -x -m 'not postgres and not hatchet' $(PYTEST_ARGS)

test-deep: install services
	OWLMIGRATE_TEST_PG_URL='$(PG_URL)' HYPOTHESIS_PROFILE=deep $(PY) -m pytest -q $(PYTEST_ARGS)

test-hatchet: install hatchet-up
	set -a; source .hatchet/env; set +a; \
	OWLMIGRATE_TEST_PG_URL='$(PG_URL)' $(PY) -m pytest -q -m hatchet $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install
	$(PY) -m mypy --strict runtime/owlclaw_runtime

bench: install services hatchet-up
	set -ae; source .hatchet/env; set +a; \
	for b in benchmarks/*.py; do echo "== $$b"; OWLMIGRATE_TEST_PG_URL='$(PG_URL)' $(PY) $$b; done

clean:
	rm -rf $(VENV) .coverage* htmlcov .pytest_cache
