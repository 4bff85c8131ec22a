"""Settings for the test suite: the real PostgreSQL and Redis on this machine by default.

The database is the development default (`server/settings.py`); pytest creates and drops its
own test database there. Redis gets a database of its own, apart from a running `make run`.
"""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CHANNEL_LAYER_PREFIX", "yunzhen-test")
os.environ.setdefault("DEBUG", "1")

from server.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
