"""The boundaries between modules and apps, read from the source tree (tests excluded).

Each check parses every Python file once and names the file and line that breaks a rule, so a
failure says what to change. The rules are STYLE.md's: §1 (which app may import which), §5
(tasks are enqueued one way) and the module seams of issue 14 (a module's underscore names are
its own; selectors import no services but the audit trail's read records).
"""

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = {".venv", "node_modules", "frontend", "tests", ".git"}
APPS = ("consult", "imaging", "devices")


@dataclass(frozen=True)
class Source:
    path: str  # relative to the repository, with "/"
    tree: ast.Module


@cache
def _sources() -> tuple[Source, ...]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        if SKIPPED & set(relative.parts) or relative.parts[0].startswith("."):
            continue
        found.append(Source(relative.as_posix(), ast.parse(path.read_text(), str(relative))))
    return tuple(found)


def _imports(source: Source) -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every import, nested ones included; the module of a
    relative import is resolved against the file's package."""
    package = source.path.removesuffix(".py").split("/")[:-1]
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            yield node.lineno, module, [alias.name for alias in node.names]


def _top(module: str) -> str:
    return module.split(".")[0]


def test_the_scan_sees_the_apps_and_server() -> None:
    tops = {source.path.split("/")[0] for source in _sources()}
    assert {*APPS, "server"} <= tops


# A package's models may re-export a private name its old migrations refer to by that path.
PRIVATE_IMPORTS_ALLOWED = {
    ("consult/models/__init__.py", "_attachment_path"),  # consult/migrations/0001_initial.py
    ("consult/models/__init__.py", "_key_image_path"),  # consult/migrations/0005_...py
}


def test_no_module_imports_another_modules_underscore_names() -> None:
    """A name used by another module is part of its owner's public surface, so it has a public
    name; a private one stays in its module."""
    found = [
        f"{source.path}:{line}: from {module} import {name}"
        for source in _sources()
        for line, module, names in _imports(source)
        for name in names
        if name.startswith("_")
        and not name.startswith("__")
        and (source.path, name) not in PRIVATE_IMPORTS_ALLOWED
    ]
    assert found == []


# The trail's read records: the only services a selector may import (server/audit/services.py).
READ_RECORD_MODULES = {"server.audit.services", "imaging.services.viewings"}


def test_selectors_import_no_services_but_the_read_records() -> None:
    found = [
        f"{source.path}:{line}: {module}"
        for source in _sources()
        if "selectors" in source.path.removesuffix(".py").split("/")
        for line, module, _ in _imports(source)
        if "services" in module.split(".") and module not in READ_RECORD_MODULES
    ]
    assert found == []


ENQUEUE_OTHERWISE = {"delay", "apply_async", "send_task", "apply_async_on_commit"}
# The outbox behind `delay_on_commit` is the one place that hands tasks to the broker.
BROKER_HANDOFF = "server/outbox/services.py"


def test_tasks_are_enqueued_only_with_delay_on_commit() -> None:
    """STYLE.md §5: `task.delay_on_commit(...)`, never `.delay()` or `.apply_async()`, which run
    inside the open transaction (or need a hand-written `transaction.on_commit` around them)."""
    found = [
        f"{source.path}:{node.lineno}: .{node.attr}"
        for source in _sources()
        if source.path != BROKER_HANDOFF
        for node in ast.walk(source.tree)
        if isinstance(node, ast.Attribute) and node.attr in ENQUEUE_OTHERWISE
    ]
    assert found == []


# The project's wiring names every app: the root URL configuration and WebSocket routing.
WIRING = {"server/urls.py", "server/routing.py"}
# Which top-level packages each may not import (STYLE.md §1).
FORBIDDEN = {
    "server": set(APPS),
    "imaging": {"consult", "devices"},
    "devices": {"consult", "imaging"},
}


def test_imports_point_one_way_between_server_and_the_apps() -> None:
    """`server/` never imports an app; `imaging/` and `devices/` never import `consult/` or
    each other. Only the project's wiring in `server/` names the apps."""
    found = [
        f"{source.path}:{line}: {module}"
        for source in _sources()
        if source.path not in WIRING
        for line, module, _ in _imports(source)
        if _top(module) in FORBIDDEN.get(source.path.split("/")[0], set())
    ]
    assert found == []


URL_MODULES = {"page_urls.py", "api_urls.py", "dicomweb_urls.py"}  # pages, JSON API, DICOMweb


def test_url_modules_are_named_for_what_they_serve() -> None:
    # server/urls.py is the root that mounts the others; every other URL module says by its name
    # whether it serves pages, the JSON API or DICOMweb, the same way in every app.
    misnamed = [
        source.path
        for source in _sources()
        if "urls" in source.path.rsplit("/", 1)[-1]
        and source.path != "server/urls.py"
        and source.path.rsplit("/", 1)[-1] not in URL_MODULES
    ]
    assert misnamed == []
