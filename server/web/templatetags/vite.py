"""`{% vite_entry "src/main.ts" %}`: the script and stylesheet tags of a built Vite entry."""

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from django import template
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

MANIFEST_PATH = Path(".vite") / "manifest.json"
BUILD_HINT = "Run `make build`, or `npm ci && npm run build` in frontend/."


class FrontendNotBuilt(ImproperlyConfigured):
    """The frontend build output is missing, or lacks the entry a template asks for."""


@dataclass(frozen=True)
class Chunk:
    file: str
    css: tuple[str, ...]
    imports: tuple[str, ...]


def _chunk(raw: object, key: str, path: Path) -> Chunk:
    if not isinstance(raw, dict) or not isinstance(raw.get("file"), str):
        raise FrontendNotBuilt(f"{path} has no output file for {key!r}. {BUILD_HINT}")
    return Chunk(
        file=raw["file"],
        css=tuple(str(name) for name in raw.get("css", [])),
        imports=tuple(str(name) for name in raw.get("imports", [])),
    )


@lru_cache(maxsize=4)
def _read_manifest(path: Path, mtime_ns: int) -> dict[str, Chunk]:
    # Keyed by modification time too, so a rebuild is picked up without a restart.
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise FrontendNotBuilt(f"{path} is not a Vite manifest. {BUILD_HINT}")
    return {key: _chunk(value, key, path) for key, value in raw.items()}


def _manifest() -> dict[str, Chunk]:
    path = Path(settings.FRONTEND_DIST) / MANIFEST_PATH
    try:
        mtime_ns = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise FrontendNotBuilt(
            f"The frontend build is missing: {path} does not exist. {BUILD_HINT}"
        ) from None
    return _read_manifest(path, mtime_ns)


def _imported_chunks(manifest: dict[str, Chunk], entry: str) -> list[Chunk]:
    """The entry's statically imported chunks, depth first, each once."""
    seen: set[str] = set()
    ordered: list[Chunk] = []

    def visit(key: str) -> None:
        for name in manifest[key].imports:
            if name not in seen and name in manifest:
                seen.add(name)
                visit(name)
                ordered.append(manifest[name])

    visit(entry)
    return ordered


@register.simple_tag
def vite_entry(entry: str) -> SafeString:
    """Stylesheets, module preloads and the module script of one entry of the build."""
    manifest = _manifest()
    if entry not in manifest:
        raise FrontendNotBuilt(f"{entry!r} is not an entry of the frontend build. {BUILD_HINT}")
    imported = _imported_chunks(manifest, entry)
    stylesheets = list(
        dict.fromkeys(name for chunk in [*imported, manifest[entry]] for name in chunk.css)
    )
    return format_html(
        "{}{}{}",
        format_html_join(
            "", '<link rel="stylesheet" href="{}">', ((static(n),) for n in stylesheets)
        ),
        format_html_join(
            "", '<link rel="modulepreload" href="{}">', ((static(c.file),) for c in imported)
        ),
        format_html('<script type="module" src="{}"></script>', static(manifest[entry].file)),
    )
