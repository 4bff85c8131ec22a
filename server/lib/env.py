"""Typed readers for settings that come from the environment; each fails loudly on bad input."""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit


class EnvError(RuntimeError):
    """A required environment variable is missing or malformed."""


def env_str(name: str, *, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise EnvError(f"Environment variable {name} is required.")
        return default
    return value


def env_optional(name: str) -> str | None:
    return os.environ.get(name) or None


def env_bool(name: str, *, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise EnvError(
        f"Environment variable {name} must be a boolean (1/0, true/false), got {value!r}."
    )


def env_int(name: str, *, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise EnvError(f"Environment variable {name} must be an integer, got {value!r}.") from None


def env_list(name: str, *, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        if default is None:
            raise EnvError(f"Environment variable {name} is required (comma-separated).")
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, *, debug_fallback: str | None = None) -> str:
    """Read a secret from NAME or from the file named by NAME_FILE.

    A throwaway fallback is allowed only when the caller passes one (in DEBUG).
    """
    value = os.environ.get(name)
    file_path = os.environ.get(f"{name}_FILE")
    if value:
        return value
    if file_path:
        try:
            secret = Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise EnvError(
                f"{name}_FILE points to {file_path!r}, which cannot be read: {exc}"
            ) from exc
        if not secret:
            raise EnvError(f"{name}_FILE points to an empty file.")
        return secret
    if debug_fallback is not None:
        return debug_fallback
    raise EnvError(f"Environment variable {name} (or {name}_FILE) is required outside DEBUG.")


@dataclass(frozen=True)
class DatabaseUrl:
    engine: str
    name: str
    user: str
    password: str
    host: str
    port: str
    options: dict[str, str]


def parse_database_url(url: str) -> DatabaseUrl:
    """Parse postgres://user:pass@host:port/name?sslmode=require into its parts."""
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql"}:
        raise EnvError(f"DATABASE_URL must use postgres://, got scheme {parts.scheme!r}.")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise EnvError("DATABASE_URL must name a database, e.g. postgres://host/yunzhen.")
    return DatabaseUrl(
        engine="django.db.backends.postgresql",
        name=name,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        host=parts.hostname or "",
        port=str(parts.port or ""),
        options=dict(parse_qsl(parts.query)),
    )
