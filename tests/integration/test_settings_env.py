"""The settings module read in fresh processes, each with only the environment a test gives it."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_HOST = "yunzhen.example.org"

SHOW_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
from server.celery import app
print(json.dumps({
    "database_engine": settings.DATABASES["default"]["ENGINE"],
    "database_name": str(settings.DATABASES["default"]["NAME"]),
    "channel_layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "celery_eager": app.conf.task_always_eager,
    "celery_broker": app.conf.broker_url,
}))
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run Python in the repo with `env` as the whole environment, as on a fresh machine."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def show_settings(env: dict[str, str]) -> dict[str, object]:
    result = run(["-c", SHOW_SETTINGS], {"DJANGO_SETTINGS_MODULE": "server.settings", **env})
    assert result.returncode == 0, result.stderr
    shown: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return shown


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": PRODUCTION_HOST,
        "YUNZHEN_VAR_DIR": str(tmp_path),
        "DATABASE_URL": "postgres://yunzhen:secret@db.internal:5432/yunzhen",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "CHANNEL_LAYER_ENCRYPTION_KEY": secrets.token_urlsafe(32),
    }


def test_production_without_secret_key_fails_naming_it(production_env: dict[str, str]) -> None:
    del production_env["SECRET_KEY"]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "Environment variable SECRET_KEY (or SECRET_KEY_FILE) is required" in result.stderr


def test_development_without_debug_or_secret_key_fails_naming_it(tmp_path: Path) -> None:
    # DEBUG off outside production is how a staging server runs: no built-in key there either.
    result = run(["manage.py", "check"], {"YUNZHEN_VAR_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "Environment variable SECRET_KEY (or SECRET_KEY_FILE) is required" in result.stderr


def test_development_with_debug_runs_on_a_throwaway_key(tmp_path: Path) -> None:
    result = run(["manage.py", "check"], {"DEBUG": "1", "YUNZHEN_VAR_DIR": str(tmp_path)})

    assert result.returncode == 0, result.stderr


def test_production_without_allowed_hosts_fails_naming_it(production_env: dict[str, str]) -> None:
    del production_env["ALLOWED_HOSTS"]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert "Environment variable ALLOWED_HOSTS is required" in result.stderr


def test_production_passes_deploy_checks(production_env: dict[str, str]) -> None:
    if not settings.FRONTEND_DIST.is_dir():
        pytest.fail(f"{settings.FRONTEND_DIST} is missing: run `make build` first")

    result = run(["manage.py", "check", "--deploy"], production_env)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stderr


def test_development_defaults_to_the_local_postgresql_and_redis(tmp_path: Path) -> None:
    shown = show_settings({"DEBUG": "1", "YUNZHEN_VAR_DIR": str(tmp_path)})

    assert shown == {
        "database_engine": "django.db.backends.postgresql",
        "database_name": "yunzhen",
        "channel_layer": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "celery_eager": False,
        "celery_broker": "redis://127.0.0.1:6379/0",
    }


def test_database_and_redis_urls_choose_other_servers(tmp_path: Path) -> None:
    shown = show_settings(
        {
            "DEBUG": "1",
            "YUNZHEN_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://someone@db.example:5433/elsewhere",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
        }
    )

    assert shown == {
        "database_engine": "django.db.backends.postgresql",
        "database_name": "elsewhere",
        "channel_layer": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "celery_eager": False,
        "celery_broker": "redis://127.0.0.1:6379/3",
    }


@pytest.mark.parametrize("name", ["DATABASE_URL", "REDIS_URL"])
def test_production_without_a_store_url_fails_naming_it(
    production_env: dict[str, str], name: str
) -> None:
    del production_env[name]

    result = run(["manage.py", "check"], production_env)

    assert result.returncode != 0
    assert f"Environment variable {name} is required" in result.stderr


def test_task_time_limit_at_or_above_visibility_timeout_is_refused(tmp_path: Path) -> None:
    result = run(
        ["manage.py", "check"],
        {
            "DEBUG": "1",
            "YUNZHEN_VAR_DIR": str(tmp_path),
            "CELERY_VISIBILITY_TIMEOUT": "30",
            "CELERY_TASK_TIME_LIMIT": "30",
        },
    )
    assert result.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT" in result.stderr


def test_production_requires_the_channel_layer_key(production_env: dict[str, str]) -> None:
    del production_env["CHANNEL_LAYER_ENCRYPTION_KEY"]

    result = run(["manage.py", "check"], production_env)
    assert result.returncode != 0
    assert "CHANNEL_LAYER_ENCRYPTION_KEY" in result.stderr
