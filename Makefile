# Two commands do all the set-up on a fresh clone:
#   make run [DATE=YYYY-MM-DD | FROM=YYYY-MM-DD TO=YYYY-MM-DD]
#                                the nightly DAG end to end on what is in the export inbox
#   make test                    the test suite
#   make bench [SIZES=100k,1M] [PROFILE=1]
#                                the real DAG on generated exports -> docs/benchmarks.md (~5 min)
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell uv --version >/dev/null 2>&1 && echo uv || echo .tools/bin/uv)
DATE ?= $(shell date -u +%F)
Q ?= select * from marts.followups order by priority, score desc limit 20
SIZES ?= 100k,1M

export CRM_DATA_DIR ?= $(CURDIR)/var
export UV_COMPILE_BYTECODE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: help install browser run test bench lint lock airflow-ui mlflow-ui docs-ui sql clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.tools/bin/uv:
	python3 -m pip install --quiet --target .tools uv

$(VENV)/.installed: requirements.lock pyproject.toml | $(filter .tools/bin/uv,$(UV))
	$(UV) venv --quiet --allow-existing -p 3.11 $(VENV)
	$(UV) pip sync --quiet -p $(PY) requirements.lock
	$(UV) pip install --quiet -p $(PY) --no-deps -e .
	touch $@

install: $(VENV)/.installed  ## create .venv from the lock file

run: install  ## run crm_nightly for DATE (default today), or FROM=D1 TO=D2 in date order
	$(PY) -m crm_followups run $(if $(FROM),--from $(FROM) --to $(TO),--date $(DATE))

# The browser tests (tests/e2e/test_browser.py) drive Debian's chromium, never a downloaded one;
# fonts-noto-cjk lets it draw the Chinese in the pages it screenshots.
BROWSER_PACKAGES := chromium fonts-noto-cjk
BROWSER_FILES := /usr/bin/chromium /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

browser:  ## install Debian's chromium and CJK fonts for the browser tests (root; once)
	@if ls $(BROWSER_FILES) >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	elif [ "$$CI" = true ]; then \
	  echo "make browser: CI needs $(BROWSER_PACKAGES), and only root can install them" >&2; exit 1; \
	else \
	  echo "make browser: $(BROWSER_PACKAGES) missing and not root: the browser tests will skip" \
	       "(sudo apt-get install $(BROWSER_PACKAGES))"; \
	fi

test: install browser  ## run the test suite (browser tests included: make browser)
	$(PY) -m pytest

# this checkout's code (PYTHONPATH), whichever checkout the venv was installed from
bench: install  ## nightly benchmark into docs/benchmarks.md: SIZES=100k,1M (default; ~5 min on 2 quiet cores), PROFILE=1 adds py-spy
	PYTHONPATH=$(CURDIR) $(PY) bench/nightly.py --sizes $(SIZES) $(if $(PROFILE),--profile)

lint: install  ## ruff and the layers contract (import-linter, pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache

lock:  ## re-resolve requirements.txt into requirements.lock
	$(UV) pip compile --quiet -p 3.11 requirements.txt -o requirements.lock

# the UIs run until Ctrl-C (or SIGTERM to make), which stops every process they started;
# PORT=N serves on another port, SCHEDULE=1 lets the Airflow UI's scheduler run crm_nightly
airflow-ui: install  ## Airflow UI on http://127.0.0.1:8080 (no login: loopback only); crm_nightly paused
	$(PY) -m crm_followups ui airflow $(if $(PORT),--port $(PORT)) $(if $(SCHEDULE),--schedule)

mlflow-ui: install  ## MLflow UI on http://127.0.0.1:5000
	$(PY) -m crm_followups ui mlflow $(if $(PORT),--port $(PORT))

docs-ui: install  ## dbt docs on http://127.0.0.1:8580 (generated first when a night ran since)
	$(PY) -m crm_followups ui docs $(if $(PORT),--port $(PORT))

sql: install  ## query the warehouse: make sql Q="select ..."
	$(PY) -m crm_followups sql "$(Q)"

clean:  ## delete the data folder (warehouse, MLflow store, Airflow metadata)
	rm -rf "$(CRM_DATA_DIR)"
