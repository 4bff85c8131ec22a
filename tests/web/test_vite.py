"""The {% vite_entry %} tag: tags from the build manifest, and a clear error without a build."""

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.template import Context, Template
from django.test import override_settings
from whitenoise.middleware import WhiteNoiseMiddleware  # type: ignore[import-untyped]

from server.web.templatetags.vite import FrontendNotBuilt


def _render(entry: str) -> str:
    return Template('{% load vite %}{% vite_entry "' + entry + '" %}').render(Context())


def _write_manifest(dist: Path, manifest: dict[str, object]) -> None:
    (dist / ".vite").mkdir(parents=True)
    (dist / ".vite" / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")


def test_entry_gets_its_stylesheets_preloads_and_module_script(tmp_path: Path) -> None:
    _write_manifest(
        tmp_path,
        {
            "src/room.ts": {
                "file": "assets/room-1.js",
                "isEntry": True,
                "css": ["assets/room-1.css"],
                "imports": ["_shared-2.js"],
            },
            "_shared-2.js": {"file": "assets/shared-2.js", "css": ["assets/shared-2.css"]},
        },
    )
    with override_settings(FRONTEND_DIST=tmp_path):
        html = _render("src/room.ts")

    assert html == (
        '<link rel="stylesheet" href="/static/assets/shared-2.css">'
        '<link rel="stylesheet" href="/static/assets/room-1.css">'
        '<link rel="modulepreload" href="/static/assets/shared-2.js">'
        '<script type="module" src="/static/assets/room-1.js"></script>'
    )


def test_missing_build_says_how_to_build(tmp_path: Path) -> None:
    with (
        override_settings(FRONTEND_DIST=tmp_path / "dist"),
        pytest.raises(FrontendNotBuilt, match="npm run build"),
    ):
        _render("src/main.ts")


def test_unknown_entry_says_how_to_build(tmp_path: Path) -> None:
    _write_manifest(tmp_path, {"src/main.ts": {"file": "assets/main-1.js", "isEntry": True}})
    with (
        override_settings(FRONTEND_DIST=tmp_path),
        pytest.raises(FrontendNotBuilt, match=re.escape("'src/other.ts' is not an entry")),
    ):
        _render("src/other.ts")


def test_hashed_build_assets_are_cached_for_good_and_other_files_are_not(
    built_assets: None,
) -> None:
    manifest = json.loads((Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json").read_text())
    built = ["/static/" + chunk["file"] for chunk in manifest.values()]
    static_files = WhiteNoiseMiddleware(get_response=lambda request: HttpResponse())

    assert all(static_files.immutable_file_test("", url) for url in built), built
    assert not static_files.immutable_file_test("", "/static/.vite/manifest.json")
    assert not static_files.immutable_file_test("", "/static/admin/css/base.css")


def test_viewer_page_preloads_no_cornerstone_tools(built_assets: None) -> None:
    """The viewer's tools are loaded after the first image, so the page must not preload them
    (nor the viewer itself, which is fetched once the preview is shown)."""
    manifest = json.loads((Path(settings.FRONTEND_DIST) / ".vite" / "manifest.json").read_text())
    tools = manifest["src/viewer/tools.ts"]["file"]
    viewer = manifest["src/viewer/viewer.ts"]["file"]

    html = _render("src/viewer/main.ts")

    assert "modulepreload" not in html
    assert tools not in html
    assert viewer not in html
    assert "src/viewer/tools.ts" in manifest["src/viewer/viewer.ts"]["dynamicImports"]


def test_viewer_first_image_needs_only_a_small_entry_and_worker(built_assets: None) -> None:
    """On a first visit over a clinic's link the first image needs the page's viewer entry (it
    draws the image itself: frontend/src/viewer/first.ts), its decoding worker and the
    JPEG 2000 WASM, not Cornerstone: together about 100 kB gzipped, 3 s of 300 kbit/s."""
    dist = Path(settings.FRONTEND_DIST)
    manifest = json.loads((dist / ".vite" / "manifest.json").read_text())
    entry = manifest["src/viewer/main.ts"]
    viewer = manifest["src/viewer/viewer.ts"]["file"]
    workers = sorted((dist / "assets").glob("firstDecode.worker-*.js"))
    wasm = sorted((dist / "assets").glob("openjpegwasm_decode-*.wasm"))

    assert entry.get("imports", []) == []
    assert len(workers) == 1
    assert len(wasm) == 1
    entry_text = (dist / entry["file"]).read_text()
    assert workers[0].name in entry_text
    assert viewer.rsplit("/", 1)[-1] in entry_text  # imported later, not statically
    assert wasm[0].name in workers[0].read_text()
    assert "RenderingEngine" not in workers[0].read_text()
    gzipped = {
        path.name: (path.parent / f"{path.name}.gz").stat().st_size
        for path in (dist / entry["file"], workers[0], wasm[0])
    }
    assert sum(gzipped.values()) < 110_000, gzipped
    assert (dist / entry["file"]).with_suffix(".js.gz").stat().st_size < 10_000, gzipped
