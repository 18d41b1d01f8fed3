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
# Chinese renders in screenshots, gettext for the message catalogs.
system-deps:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v msgfmt >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium, fonts-noto-cjk, gettext (apt)"; \
	    (apt-get install -y -q chromium fonts-noto-cjk gettext >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk gettext >/dev/null)); \
	  else \
	    echo "Run as root or: sudo apt-get install -y chromium fonts-noto-cjk gettext"; \
	  fi; \
	fi

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable
	$(PY) manage.py seed_demo --if-empty --members 2000
	$(PY) manage.py setup_schedules
	@echo "Staff login: http://$(HOST):$(PORT)/accounts/login/  (demo staff above; owner / huiyuan-demo-2026)"
	@trap 'kill 0' EXIT; \
	if [ -z "$$WECHAT_APP_ID" ] && ! grep -qs '^WECHAT_APP_ID=.' .env; then \
	  echo "No WECHAT_APP_ID: fake WeChat on http://127.0.0.1:8765 (received: /_fake/log)"; \
	  $(PY) manage.py fake_wechat --port 8765 & \
	  export WECHAT_OAUTH_ANY_BROWSER=$${WECHAT_OAUTH_ANY_BROWSER:-true} \
	         NOTICE_CHANNELS=$${NOTICE_CHANNELS:-inbox,wechat,console}; \
	fi; \
	$(PY) manage.py qcluster & $(PY) manage.py runserver $(HOST):$(PORT)

# The whole suite on SQLite; under CI=true on PostgreSQL too (started if it is not running).
test: install system-deps lint check test-sqlite
	@if [ "$$CI" = "true" ]; then $(MAKE) --no-print-directory test-postgres; fi

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
