# Huiyuan: `make run` (demo on SQLite) and `make test` (everything) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgres://postgres@127.0.0.1:5432/huiyuan
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install system-deps run test test-sqlite test-postgres lint format check bench messages clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need: Chromium for the browser tests, CJK fonts so
# Chinese renders in screenshots, gettext for the message catalogs. Without the packages
# they only recommend (avahi, cups, udev, ... about 120 of them): none is needed here.
APT_PACKAGES := chromium fonts-noto-cjk gettext
APT_FLAGS := --no-install-recommends
system-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v msgfmt >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium, fonts-noto-cjk, gettext (apt)"; \
	    (apt-get install -y -q $(APT_FLAGS) $(APT_PACKAGES) >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q $(APT_FLAGS) $(APT_PACKAGES) >/dev/null)); \
	  else \
	    echo "Run as root or: sudo apt-get install -y $(APT_FLAGS) $(APT_PACKAGES)"; \
	  fi; \
	fi

# `make run` serves until Ctrl-C or SIGTERM, then stops what it started: each server in a
# process group of its own (setsid), sent SIGTERM, given STOP_SECONDS to finish (the task
# cluster's graceful stop waits for its workers), then killed with its children.
STOP_SECONDS ?= 5
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py seed_demo --if-empty --members 2000
	$(PY) manage.py setup_schedules
	@echo "Staff login: http://$(HOST):$(PORT)/accounts/login/  (demo staff above; owner / huiyuan-demo-2026)"
	@pids=""; \
	stop() { \
	  trap - INT TERM EXIT; \
	  for pid in $$pids; do kill -TERM -- -$$pid 2>/dev/null; done; \
	  for _ in $$(seq $$(( $(STOP_SECONDS) * 10 ))); do \
	    alive=""; for pid in $$pids; do kill -0 -- -$$pid 2>/dev/null && alive=1; done; \
	    [ -z "$$alive" ] && break; sleep 0.1; \
	  done; \
	  for pid in $$pids; do kill -KILL -- -$$pid 2>/dev/null; done; \
	  wait 2>/dev/null; \
	}; \
	trap 'stop; exit 130' INT; trap 'stop; exit 143' TERM; trap stop EXIT; \
	if [ -z "$$WECHAT_APP_ID" ] && ! grep -qs '^WECHAT_APP_ID=.' .env; then \
	  echo "No WECHAT_APP_ID: fake WeChat on http://127.0.0.1:8765 (received: /_fake/log)"; \
	  setsid $(PY) manage.py fake_wechat --port 8765 & pids="$$pids $$!"; \
	  export WECHAT_OAUTH_ANY_BROWSER=$${WECHAT_OAUTH_ANY_BROWSER:-true} \
	         NOTICE_CHANNELS=$${NOTICE_CHANNELS:-inbox,wechat,console}; \
	fi; \
	setsid $(PY) manage.py qcluster & pids="$$pids $$!"; \
	setsid $(PY) manage.py runserver $(HOST):$(PORT) & pids="$$pids $$!"; \
	wait $$!

# The whole suite on SQLite; under CI=true on PostgreSQL too (started if it is not running).
test: install system-deps lint check
	@if [ "$$CI" = "true" ]; then $(MAKE) --no-print-directory test-ci; \
	else $(MAKE) --no-print-directory test-sqlite; fi

# CI: the SQLite and PostgreSQL passes side by side (a core each; scripts/ci-passes), then
# the fault suite alone, as it times what it measures.
test-ci:
	@scripts/ensure-postgres
	@rm -rf data/ci
	@$(PY) scripts/ci-passes $(PY) $(PG_URL) data/ci
	DATABASE_URL= $(PY) -m pytest -m faults

test-sqlite:
	DATABASE_URL= $(PY) -m pytest

test-postgres:
	@scripts/ensure-postgres
	DATABASE_URL=$(PG_URL) $(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: install
	DATABASE_URL= $(PY) manage.py makemigrations --check --dry-run
	DATABASE_URL= $(PY) manage.py check

bench: install
	$(PY) -m bench

messages: install
	$(PY) manage.py makemessages -l zh_Hans --ignore=.venv --ignore=data --ignore=static --ignore=bench
	$(PY) manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	rm -rf $(VENV) data test-artifacts
