"""Yunzhen settings: the one settings module, driven by the environment.

PostgreSQL and Redis are the only stores, in development, tests and production alike: the product
is several processes (daphne, Celery worker and beat, the DICOM SCP) that meet only through them.
In development DATABASE_URL and REDIS_URL default to the local servers `make run` installs and
starts; DJANGO_ENV=production requires both, and the secrets, from the environment.
"""

import hashlib
from pathlib import Path

import django_stubs_ext
from django.utils.translation import gettext_lazy as _

from server.lib.env import (
    EnvError,
    env_bool,
    env_int,
    env_list,
    env_secret,
    env_str,
    parse_database_url,
)

# Lets Django's generic classes be subscripted at run time, as their type stubs are.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("YUNZHEN_VAR_DIR", default=str(BASE_DIR / "var")))

DJANGO_ENV = env_str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise EnvError(f"DJANGO_ENV must be 'development' or 'production', got {DJANGO_ENV!r}.")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = False if PRODUCTION else env_bool("DEBUG", default=False)

# A built-in key only with DEBUG on (`make run`, the tests): a server with DEBUG off, staging as
# much as production, signs sessions with a key of its own or does not start.
_THROWAWAY_SECRET = "insecure-development-only-" + "x" * 40
SECRET_KEY = env_secret("SECRET_KEY", debug_fallback=_THROWAWAY_SECRET if DEBUG else None)
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", default=None if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])


def _derived_key(label: str) -> str:
    """A key derived from SECRET_KEY, used when a dedicated secret is not configured."""
    return hashlib.sha256(f"yunzhen:{label}:{SECRET_KEY}".encode()).hexdigest()


# Keyed hash for national ID numbers. Set it explicitly in production so SECRET_KEY can rotate
# without breaking patient matching.
PATIENT_ID_HASH_KEY = env_secret("PATIENT_ID_HASH_KEY", debug_fallback=_derived_key("patient-id"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "server.accounts",
    "server.directory",
    "server.audit",
    "server.notifications",
    "server.outbox",
    "server.web",
    "consult",
    "imaging",
    "devices",
]

MIDDLEWARE = [
    "server.lib.headers.ResponseHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "server.audit.context.AuditContextMiddleware",
    # After the user and the audit context are known, before any view reads an input.
    "server.lib.inputs.InputGuardMiddleware",
    "server.lib.http.NotFoundMiddleware",
]

ROOT_URLCONF = "server.urls"
ASGI_APPLICATION = "server.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "accounts:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "server" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "server.web.context_processors.navigation",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# The development defaults are the role and database `make run` creates on the local server.
DATABASE_URL = env_str(
    "DATABASE_URL",
    default=None if PRODUCTION else "postgres://yunzhen:yunzhen@127.0.0.1:5432/yunzhen",
)
_db = parse_database_url(DATABASE_URL)
DATABASES = {
    "default": {
        "ENGINE": _db.engine,
        "NAME": _db.name,
        "USER": _db.user,
        "PASSWORD": _db.password,
        "HOST": _db.host,
        "PORT": _db.port,
        # A pool per process: under ASGI each request runs its database work in a thread of
        # its own, so a persistent connection (CONN_MAX_AGE) would be opened per request and
        # left behind; the pool hands each request a warm connection and takes it back.
        "OPTIONS": {
            **_db.options,
            # Parameters travel apart from the SQL text, so psycopg prepares a statement
            # once it has run a few times and PostgreSQL stops planning it again: planning,
            # not running, is most of a short indexed query's cost.
            "server_side_binding": True,
            "prepare_threshold": 5,
            "pool": {
                "min_size": 2,
                "max_size": env_int("DATABASE_POOL_SIZE", default=10),
                "timeout": 10,
            },
        },
        "CONN_MAX_AGE": 0,
        # With a pool: each connection is checked as it is handed out, so a database
        # restart costs no failed request.
        "CONN_HEALTH_CHECKS": True,
        # UTF-8 even where the cluster was made without a locale (SQL_ASCII template1).
        "TEST": {
            "NAME": env_str("TEST_DATABASE_NAME", default=f"test_{_db.name}"),
            "CHARSET": "UTF8",
            "TEMPLATE": "template0",
        },
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and Celery -------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", default=None if PRODUCTION else "redis://127.0.0.1:6379/0")
_layer_key = env_secret(
    "CHANNEL_LAYER_ENCRYPTION_KEY",
    debug_fallback=None if PRODUCTION else _derived_key("channel-layer"),
)
# Redis pub/sub: a group message is published once and each daphne process fans it out to
# its own sockets, instead of one Redis list entry (and one round trip to pop it) per
# socket. Delivery is at most once, as for any live event here: pages load their state
# over HTTP and the events only say what changed.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": env_str("CHANNEL_LAYER_PREFIX", default="yunzhen"),
            # Live events may carry patient data, so they are encrypted in Redis.
            "symmetric_encryption_keys": [_layer_key],
        },
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
# A task whose worker died before acknowledging it goes back to the queue once it has been
# unacknowledged for the visibility timeout, so a killed worker's task returns within about a
# minute. Redis cannot tell a dead worker from a slow one, so the hard time limit stays below
# the timeout: a healthy task is never started again beside itself. Long work is split into
# short tasks (one per series, one per batch), and no countdown or retry delay may exceed it.
TASK_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", default=45)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=TASK_VISIBILITY_TIMEOUT - 5)
CELERY_TASK_SOFT_TIME_LIMIT = env_int(
    "CELERY_TASK_SOFT_TIME_LIMIT", default=CELERY_TASK_TIME_LIMIT - 10
)
if not 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < TASK_VISIBILITY_TIMEOUT:
    raise EnvError(
        "Celery limits must satisfy 0 < CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT"
        " < CELERY_VISIBILITY_TIMEOUT, or running tasks would be delivered twice."
    )
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": TASK_VISIBILITY_TIMEOUT,
    # Workers look for such tasks at startup and then every few seconds; kombu's own default
    # (a scan every 10 s x 10 throttled calls) would leave one waiting up to 100 s more.
    "unacked_restore_interval": max(1, min(10, TASK_VISIBILITY_TIMEOUT // 3)),
    "unacked_restore_throttle": 1,
    # A publisher gives up at once when Redis is down (one immediate retry, then the error),
    # instead of retrying for broker_connection_timeout: a request that enqueues after its
    # commit must not hang, and what it could not enqueue waits in the outbox (server/outbox).
    # Workers keep reconnecting on their own schedule (broker_connection_max_retries).
    "max_retries": 1,
    "interval_start": 0,
    # A host that does not refuse but never answers costs seconds per attempt, not forever.
    # Workers read their queues with 1 s blocking pops, well inside the read timeout.
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Caches and sessions --------------------------------------------------------------------
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 12 * 3600
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the frontend reads it for fetch() calls

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)

# --- Internationalisation -------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Asia/Shanghai"

# --- Static files and media -----------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
STATICFILES_DIRS = [FRONTEND_DIST]
STORAGES = {
    "default": {"BACKEND": "server.lib.storage.AtomicFileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Vite names its output assets/<name>-<8-character hash>.<ext>: such a file never changes, so
# browsers keep it without asking again (the viewer's scripts are a megabyte on a clinic's link).
WHITENOISE_IMMUTABLE_FILE_TEST = r"^/static/assets/.+-[0-9A-Za-z_-]{8}\.[0-9a-z]+$"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "server.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "server.lib.api_bounds.ApiPagination",
    "DEFAULT_PARSER_CLASSES": [
        "server.lib.api_bounds.ApiJsonParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "server.lib.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Yunzhen API",
    "DESCRIPTION": "Remote consultation, imaging and monitoring for medical consortia.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its docs page describe every door: for the signed-in only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Served from our own static files: clinics may not reach public CDNs.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets shared by several fields get one schema name each.
    "ENUM_NAME_OVERRIDES": {
        "ConsultKindEnum": "consult.models.Kind",
        "ConsultStatusEnum": "consult.models.Status",
        "AttachmentKindEnum": "consult.models.AttachmentKind",
        # A request asks for fewer than a consult may record (no administration, a title).
        "AskableSpecialtyEnum": "consult.models.ASKABLE_SPECIALTIES",
        "AskableTitleEnum": "consult.models.ASKABLE_TITLES",
        "SpecialtyEnum": "server.directory.models.Specialty",
        "TitleEnum": "server.directory.models.Title",
    },
}

# --- Security -------------------------------------------------------------------------------
# Content-Security-Policy of every answer (server/lib/headers.py). Pages run only the built
# scripts from /static/ (no inline script anywhere; JSON for scripts travels in json_script
# blocks, which are not run). The viewer decodes in Web Workers loaded from /static/ and
# compiles its codecs' WebAssembly ('wasm-unsafe-eval', not 'unsafe-eval'); it talks to the
# server by fetch and WebSockets, which 'self' allows on the same host (ws:, wss:). Cornerstone
# sets style attributes on its measurement labels and draws cursors from blob: images.
CONTENT_SECURITY_POLICY: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'", "'wasm-unsafe-eval'"],
    "worker-src": ["'self'"],
    "style-src": ["'self'"],
    "style-src-attr": ["'unsafe-inline'"],
    "img-src": ["'self'", "data:", "blob:"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    if env_bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Imaging --------------------------------------------------------------------------------
# A STOW-RS request body above this is refused with 413; a single instance above the second
# limit fails with "out of resources" while the rest of its batch lands.
IMAGING_MAX_REQUEST_BYTES = env_int("IMAGING_MAX_REQUEST_BYTES", default=1024 * 1024 * 1024)
IMAGING_MAX_INSTANCE_BYTES = env_int("IMAGING_MAX_INSTANCE_BYTES", default=512 * 1024 * 1024)
# Browser uploads (tus): an unfinished upload is deleted this long after it was created, so a
# clinic can resume the next day; a user may have this many unfinished uploads at once.
IMAGING_UPLOAD_EXPIRY_SECONDS = env_int("IMAGING_UPLOAD_EXPIRY_SECONDS", default=2 * 24 * 3600)
IMAGING_UPLOADS_OPEN_PER_USER = env_int("IMAGING_UPLOADS_OPEN_PER_USER", default=50)
# Compression ratio (N for N:1) of the diagnostic-quality lossy copy made at ingest of each large
# single-frame image (CR, DX, mammography): JPEG 2000 irreversible, full resolution and bit
# depth, sent only to viewers that ask for transfer syntax 1.2.840.10008.1.2.4.91 (slow links).
# Reading lossy images for diagnosis is a clinical decision: the consortium's radiology
# governance must approve this ratio before it is deployed. 0 makes and serves none.
IMAGING_LOSSY_RATIO = env_int("IMAGING_LOSSY_RATIO", default=10)
if IMAGING_LOSSY_RATIO != 0 and not 2 <= IMAGING_LOSSY_RATIO <= 50:
    raise EnvError("IMAGING_LOSSY_RATIO must be 0 (none) or a ratio from 2 to 50.")
# Decoding pixel data (decoded frames, rendered images, previews, transcoding) is capped so that
# one crafted image cannot take a process down. Storing is not: a big image is kept and served
# as stored. A decode needing more working memory than the first limit is refused in words
# (413, or a failed preview); decodes in flight in one process together hold at most the second,
# and a request arriving when it is spent gets 503 with Retry-After.
IMAGING_DECODE_MAX_BYTES = env_int("IMAGING_DECODE_MAX_BYTES", default=640 * 1024 * 1024)
IMAGING_DECODE_BUDGET_BYTES = env_int("IMAGING_DECODE_BUDGET_BYTES", default=1280 * 1024 * 1024)
if not 0 < IMAGING_DECODE_MAX_BYTES <= IMAGING_DECODE_BUDGET_BYTES:
    raise EnvError(
        "IMAGING_DECODE_MAX_BYTES must be positive and at most IMAGING_DECODE_BUDGET_BYTES."
    )
# The DICOM SCP (`manage.py dicom_scp`): modalities and PACS associate with this AE title.
DICOM_SCP_AE_TITLE = env_str("DICOM_SCP_AE_TITLE", default="YUNZHEN")
DICOM_SCP_BIND = env_str("DICOM_SCP_BIND", default="127.0.0.1")
DICOM_SCP_PORT = env_int("DICOM_SCP_PORT", default=11112)
# Associations served at once (a thread each); one more is rejected as a local limit exceeded.
DICOM_SCP_MAX_ASSOCIATIONS = env_int("DICOM_SCP_MAX_ASSOCIATIONS", default=32)
# Seconds a connection may take to send its A-ASSOCIATE-RQ (PS3.8 ARTIM), and an association
# may stay silent, before the SCP aborts it.
DICOM_SCP_ACSE_TIMEOUT = env_int("DICOM_SCP_ACSE_TIMEOUT", default=30)
DICOM_SCP_NETWORK_TIMEOUT = env_int("DICOM_SCP_NETWORK_TIMEOUT", default=60)

# --- Consult messages (SMS/WeChat) ------------------------------------------------------------
# Dotted path of the consult.messaging.MessageChannel used for urgent consult messages. The
# only implementation so far logs instead of sending; a gateway adapter is set here.
CONSULT_MESSAGE_CHANNEL = env_str(
    "CONSULT_MESSAGE_CHANNEL", default="consult.messaging.LoggingMessageChannel"
)

# Days an access grant lasts (the people on an open consult or referral reading its patient):
# every grant ends. A consult renews its grants each time it moves, and ends them when it ends;
# one that has not moved for this long loses its invited side until it moves again.
ACCESS_GRANT_DAYS = env_int("ACCESS_GRANT_DAYS", default=90)
if ACCESS_GRANT_DAYS < 1:
    raise EnvError("ACCESS_GRANT_DAYS must be 1 or more: every grant ends.")

# Days after a consult closes in which its signer may still amend the opinion, and so keeps
# reading the consult, its patient and its studies (a grant to them alone); then nobody on the
# invited side does.
CONSULT_AMENDMENT_DAYS = env_int("CONSULT_AMENDMENT_DAYS", default=30)
if CONSULT_AMENDMENT_DAYS < 0:
    raise EnvError("CONSULT_AMENDMENT_DAYS must be 0 (no amendment after closing) or more.")

# --- Live sessions -----------------------------------------------------------------------------
# A scheduled session may be started from this many minutes before its start until the end of its
# slot (the start plus CONSULT_SESSION_MINUTES); later it has to be moved to a new time.
CONSULT_JOIN_WINDOW_MINUTES = env_int("CONSULT_JOIN_WINDOW_MINUTES", default=15)
CONSULT_SESSION_MINUTES = env_int("CONSULT_SESSION_MINUTES", default=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        # WeasyPrint logs every rendering step at INFO, OpenJPEG every tile it encodes.
        "weasyprint": {"level": "WARNING"},
        "openjpeg": {"level": "WARNING"},
    },
}
