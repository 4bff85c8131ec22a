# Yunzhen. `make run` serves a demo at http://127.0.0.1:8000; `make test` runs every check.
# GNU make on Debian 12. Installs use pip with the hashed lock, npm ci, and apt-get for the
# system packages (PostgreSQL, Redis, gettext, Pango; Chromium, dcmtk and poppler for the tests)
# when they are missing. PostgreSQL and Redis are the only supported stores: unless
# DATABASE_URL or REDIS_URL is set, the local servers are installed, started and used.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
NODE_MIN := 20.19

# Stamps named by a hash of the lock file: a new lock means a new stamp, so a reinstall.
PY_STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -d' ' -f1)
NPM_STAMP := frontend/node_modules/.installed-$(shell sha256sum frontend/package-lock.json | cut -d' ' -f1)
PO_FILES := $(shell find . -path ./.venv -prune -o -name node_modules -prune -o -name '*.po' -print)
FRONTEND_SOURCES := $(shell find frontend -path frontend/node_modules -prune \
	-o -path frontend/dist -prune -o -type f -print)
FRONTEND_BUILD := frontend/dist/.vite/manifest.json

# The local stores, unless the caller names servers of their own. The role and database are
# created on the local PostgreSQL (DB_NAME picks another database, as the newcomer test does).
DB_NAME ?= yunzhen
ifeq ($(origin DATABASE_URL),undefined)
LOCAL_POSTGRES := postgres database
RUN_DATABASE_URL := postgres://yunzhen:yunzhen@127.0.0.1:5432/$(DB_NAME)
else
RUN_DATABASE_URL := $(DATABASE_URL)
endif
ifeq ($(origin REDIS_URL),undefined)
LOCAL_REDIS := redis
RUN_REDIS_URL := redis://127.0.0.1:6379/0
else
RUN_REDIS_URL := $(REDIS_URL)
endif

# Root needs no sudo; anyone else needs sudo for apt-get and for starting the servers.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
# $(call need_root,what,otherwise): stop with a sentence when neither root nor sudo is at hand.
need_root = { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null \
	|| { echo "$(1) needs root or sudo: run make as root, install sudo, or $(2)." >&2; exit 1; }; }
# $(call apt_install,packages): install Debian packages, saying so.
apt_install = echo "Installing $(1) with apt-get" \
	&& { command -v apt-get >/dev/null \
		|| { echo "apt-get is missing: install $(1) with your system's package manager, then run make again." >&2; exit 1; }; } \
	&& $(call need_root,Installing $(1),install it yourself) \
	&& $(SUDO) apt-get update -qq \
	&& $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1)
# $(call as_postgres,command): run a command as the PostgreSQL superuser over the local socket.
as_postgres = $(if $(SUDO),sudo -u postgres,runuser -u postgres --) $(1)

.PHONY: help install build run test check services stores postgres redis database node chromium dcmtk poppler gettext pango clean

help: ## List the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

# --- Install ------------------------------------------------------------------------------

# Compiling the catalogues signs nothing: DEBUG lets the settings load without a SECRET_KEY.
install: $(PY_STAMP) $(NPM_STAMP) gettext pango ## Create .venv, install Python and npm packages, compile translations
ifneq ($(PO_FILES),)
	DEBUG=1 $(MANAGE) compilemessages --ignore=.venv --ignore=node_modules
endif

# Debian keeps venv's pip bootstrap in a package of its own (python3-venv).
$(BIN)/python:
	@command -v $(PYTHON) >/dev/null \
		|| { echo "$(PYTHON) is missing: install Python 3.11 or newer, or set PYTHON=/path/to/python3." >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Yunzhen needs Python 3.11 or newer; set PYTHON=python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(call apt_install,python3-venv); }
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	rm -f $(VENV)/.installed-*
	touch $@

$(NPM_STAMP): | node
	cd frontend && npm ci --no-audit --no-fund
	touch $@

# WeasyPrint renders the signed-opinion PDF through Pango.
pango:
	@ldconfig -p | grep -c libpangoft2-1.0 >/dev/null || { $(call apt_install,libpango-1.0-0 libpangoft2-1.0-0); }

gettext:
	@command -v msgfmt >/dev/null || { $(call apt_install,gettext); }

# Debian 12's own Node.js is too old for the frontend's tools; it comes from nodejs.org or nvm.
node:
	@command -v node >/dev/null \
		|| { echo "Node.js $(NODE_MIN) or newer is needed to build the frontend: install it from https://nodejs.org (or nvm), then run make again." >&2; exit 1; }
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); const [x, y] = "$(NODE_MIN)".split(".").map(Number); process.exit(a > x || (a === x && b >= y) ? 0 : 1)' \
		|| { echo "Node.js $$(node --version) is too old: the frontend needs $(NODE_MIN) or newer (https://nodejs.org or nvm)." >&2; exit 1; }

# --- Build and run ------------------------------------------------------------------------

build: $(FRONTEND_BUILD) ## Build the frontend into frontend/dist (when its sources changed)

$(FRONTEND_BUILD): $(NPM_STAMP) $(FRONTEND_SOURCES) | node
	cd frontend && npm run build

# Every process of the product under honcho (Procfile): daphne, Celery worker and beat, the
# DICOM SCP. Ctrl-C stops them all.
run: export DEBUG := 1
run: export PATH := $(CURDIR)/$(BIN):$(PATH)
run: export DATABASE_URL := $(RUN_DATABASE_URL)
run: export REDIS_URL := $(RUN_REDIS_URL)
run: install build stores ## Install, migrate, seed the demo (prints its logins) and serve on PORT (8000)
	mkdir -p $${YUNZHEN_VAR_DIR:-var}
	$(MANAGE) migrate --no-input
	$(MANAGE) seed_demo
	$(MANAGE) seed_demo_images
	$(MANAGE) calendar_load_cn 2026
	exec honcho start -f Procfile -p $(PORT)

# --- Checks -------------------------------------------------------------------------------

check: install ## Format check, lint and strict type check
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: install build services check ## Everything: check, then pytest (integration and browser tests too)
	$(BIN)/pytest

services: stores chromium dcmtk poppler

stores: $(LOCAL_POSTGRES) $(LOCAL_REDIS)

postgres:
	@command -v pg_ctlcluster >/dev/null || { $(call apt_install,postgresql); }
	@pg_isready -q -h 127.0.0.1 || { \
		$(call need_root,Starting PostgreSQL,start it yourself); \
		echo "Starting PostgreSQL"; \
		$(SUDO) pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | sort -V | tail -n 1) main start; \
		for _ in $$(seq 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done; \
		pg_isready -q -h 127.0.0.1 || { echo "PostgreSQL did not start: see /var/log/postgresql/." >&2; exit 1; }; \
	}

redis:
	@command -v redis-server >/dev/null || { $(call apt_install,redis-server); }
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { \
		$(call need_root,Starting Redis,start it yourself); \
		echo "Starting Redis"; \
		$(SUDO) mkdir -p /var/lib/redis /var/log/redis; \
		$(SUDO) redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
			--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log; \
		for _ in $$(seq 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	}

# The development role (password yunzhen, local only) owns DB_NAME; it may create databases, so
# pytest can create and drop test_yunzhen itself. UTF-8 whatever locale the cluster was made in
# (a machine with no locale set gets a SQL_ASCII cluster).
database: postgres
	@test "$$($(call as_postgres,psql -Atqc "SELECT 1 FROM pg_roles WHERE rolname = 'yunzhen'"))" = 1 \
		|| $(call as_postgres,psql -q -c "CREATE ROLE yunzhen LOGIN CREATEDB PASSWORD 'yunzhen'")
	@test "$$($(call as_postgres,psql -Atqc "SELECT 1 FROM pg_database WHERE datname = '$(DB_NAME)'"))" = 1 \
		|| $(call as_postgres,createdb -O yunzhen -E UTF8 -T template0 $(DB_NAME))
	@test "$$($(call as_postgres,psql -Atqc "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$(DB_NAME)'"))" = yunzhen \
		|| $(call as_postgres,psql -q -c "ALTER DATABASE \"$(DB_NAME)\" OWNER TO yunzhen")

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
