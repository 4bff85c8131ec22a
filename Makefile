# Yunzhen. `make run` serves a demo at http://127.0.0.1:8000; `make test` runs every check.
# GNU make on Debian 12. Installs use pip with the hashed lock, npm ci, and apt-get for the few
# system packages (gettext, Chromium) when they are missing.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py

# Stamps named by a hash of the lock file: a new lock means a new stamp, so a reinstall.
PY_STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -d' ' -f1)
NPM_STAMP := frontend/node_modules/.installed-$(shell sha256sum frontend/package-lock.json | cut -d' ' -f1)
PO_FILES := $(shell find . -path ./.venv -prune -o -name node_modules -prune -o -name '*.po' -print)

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# $(call apt_install,packages): install Debian packages, saying so.
apt_install = echo "Installing $(1) with apt-get" && $(SUDO) apt-get update -qq \
	&& $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1)

.PHONY: help install build run test check services postgres redis database chromium dcmtk poppler gettext pango clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

# --- Install ------------------------------------------------------------------------------

install: $(PY_STAMP) $(NPM_STAMP) gettext pango ## Create .venv, install Python and npm packages, compile translations
ifneq ($(PO_FILES),)
	$(MANAGE) compilemessages --ignore=.venv --ignore=node_modules
endif

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Yunzhen needs Python 3.11 or newer; set PYTHON=python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

$(NPM_STAMP):
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# WeasyPrint renders the signed-opinion PDF through Pango.
pango:
	@ldconfig -p | grep -c libpangoft2-1.0 >/dev/null || { $(call apt_install,libpango-1.0-0 libpangoft2-1.0-0); }

gettext:
	@command -v msgfmt >/dev/null || { $(call apt_install,gettext); }

# --- Build and run ------------------------------------------------------------------------

build: $(NPM_STAMP) ## Build the frontend into frontend/dist
	cd frontend && npm run build

# Without REDIS_URL: daphne and the DICOM SCP on SQLite, the in-memory channel layer and eager
# Celery. With REDIS_URL: also a Celery worker and beat. All under honcho (Procfile); Ctrl-C stops all.
run: export DEBUG := 1
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: install build ## Migrate, seed the demo (prints its logins) and serve on PORT (8000)
	mkdir -p $${YUNZHEN_VAR_DIR:-var}
	$(MANAGE) migrate --no-input
	$(MANAGE) seed_demo
	$(MANAGE) seed_demo_images
	$(MANAGE) calendar_load_cn 2026
ifdef REDIS_URL
	honcho start -f Procfile -p $(PORT)
else
	honcho start -f Procfile -p $(PORT) web dicom
endif

# --- Checks -------------------------------------------------------------------------------

check: install ## Format check, lint and strict type check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: install build services check ## Everything: check, then pytest (integration and browser tests too)
	$(BIN)/pytest

services: postgres redis database chromium dcmtk poppler

postgres:
	@pg_isready -q -h 127.0.0.1 || { \
		command -v pg_ctlcluster >/dev/null \
			|| { echo "PostgreSQL is not running on 127.0.0.1:5432 and is not installed." >&2; exit 1; }; \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
	}

redis:
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { \
		command -v redis-server >/dev/null \
			|| { echo "Redis is not running on 127.0.0.1:6379 and is not installed." >&2; exit 1; }; \
		$(SUDO) mkdir -p /var/lib/redis /var/log/redis; \
		$(SUDO) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
			--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
	}

# pytest creates and drops test_yunzhen itself; it connects through yunzhen.
database: postgres
	@test "$$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'yunzhen'")" = 1 \
		|| createdb -h 127.0.0.1 -U postgres yunzhen

# Browser tests drive Debian's Chromium; the CJK fonts render the Chinese pages.
chromium:
	@test -x /usr/bin/chromium && dpkg -s fonts-noto-cjk >/dev/null 2>&1 \
		|| { $(call apt_install,chromium fonts-noto-cjk); }

# The DICOM tests drive the archive with dcmtk's real clients (storescu, findscu, getscu).
dcmtk:
	@command -v storescu >/dev/null && command -v findscu >/dev/null \
		|| { $(call apt_install,dcmtk); }

# The PDF tests read signed opinions back with poppler (text, fonts, a rendered page).
poppler:
	@command -v pdftotext >/dev/null && command -v pdftoppm >/dev/null \
		|| { $(call apt_install,poppler-utils); }

# --- Clean --------------------------------------------------------------------------------

clean: ## Remove .venv, node_modules, builds and caches (keeps var/: the database and uploads)
	rm -rf $(VENV) frontend/node_modules frontend/dist var/static var/celerybeat-schedule* \
		.mypy_cache .ruff_cache .pytest_cache test-artifacts
	find . -path ./.git -prune -o -name __pycache__ -prune -exec rm -rf {} + \
		-o -name '*.mo' -exec rm -f {} +
