# Kapstone — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
DEV_ENV := KAPSTONE_DEV=1 KAPSTONE_MFA_REQUIRED=0

.PHONY: run test bench install migrate demo lint clean

$(VENV)/.installed: pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $@

install: $(VENV)/.installed

migrate: install
	mkdir -p var
	$(DEV_ENV) $(PY) -m kapstone migrate --noinput

demo: migrate
	$(DEV_ENV) $(PY) -m kapstone seed_demo

run: demo
	@echo
	@echo "Kapstone demo: http://127.0.0.1:8000  (two-factor sign-in is off in the demo)"
	@echo "The web server and the background worker run together; one Ctrl-C stops both."
	$(DEV_ENV) $(PY) -m kapstone devserver 127.0.0.1:8000

test: install
	bash scripts/test.sh

bench: install
	$(PY) bench/run.py

lint: install
	$(PY) -m ruff check kapstone tests bench
	$(PY) -m ruff format --check kapstone tests bench

clean:
	rm -rf $(VENV) var/*.sqlite3* var/audit-checkpoints.log test-artifacts
