"""Hand-written SQL stays in `server/lib/rows.py` and one module per app (`<app>/sql.py` or an
`<app>/sql/` package), with names from the models' `_meta` (STYLE.md §11).

Migrations (`schema_editor.execute`) are exempt; so are tests, which run statements of their
own (disabling a trigger, ANALYZE), and benches, which time the SQL forms against the ORM's.
"""

import ast
import re
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = {".venv", "bench", "frontend", "locale", "node_modules", "tests"}
RAW_SQL_CALLS = {"execute", "executemany", "raw", "extra", "cursor"}
RAW_SQL_NAMES = {"RawSQL"}


def _source_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not NOT_SOURCE.intersection(path.relative_to(ROOT).parts[:1])
        and "migrations" not in path.parts
    ]


def _is_sql_module(path: Path) -> bool:
    relative = path.relative_to(ROOT)
    return (
        relative == Path("server/lib/rows.py")
        or relative.name == "sql.py"
        or "sql" in relative.parts[:-1]
    )


def _raw_sql_uses(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in RAW_SQL_CALLS
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.func.attr}(")
        if isinstance(node, ast.Name) and node.id in RAW_SQL_NAMES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.id}")
        if isinstance(node, ast.alias) and node.name.rsplit(".", 1)[-1] in RAW_SQL_NAMES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} import {node.name}")
    return found


def test_statements_are_sent_only_from_the_sql_modules() -> None:
    files = _source_files()
    assert any(_is_sql_module(path) for path in files)
    outside = [use for path in files if not _is_sql_module(path) for use in _raw_sql_uses(path)]
    assert outside == []


def test_the_check_finds_what_it_looks_for() -> None:
    # The SQL modules themselves use what the check forbids elsewhere.
    for module in ("server/lib/rows.py", "imaging/sql.py"):
        assert _raw_sql_uses(ROOT / module)


def test_an_s608_waiver_is_only_in_a_sql_module_and_says_why() -> None:
    waiver = re.compile(r"#\s*noqa:[^#\n]*\bS608\b(.*)$")
    for path in _source_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = waiver.search(line)
            if match is None:
                continue
            where = f"{path.relative_to(ROOT)}:{number}"
            assert _is_sql_module(path), where
            assert match.group(1).strip().startswith("#"), f"{where}: no reason given"


def test_the_sql_modules_take_table_names_from_the_models() -> None:
    tables = {model._meta.db_table for model in apps.get_models()}
    for path in _source_files():
        if not _is_sql_module(path):
            continue
        tree = ast.parse(path.read_text(), str(path))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
            ):
                named = {t for t in tables if re.search(rf"\b{re.escape(t)}\b", node.value)}
                assert not named, f"{path.relative_to(ROOT)}:{node.lineno} names {named}"
