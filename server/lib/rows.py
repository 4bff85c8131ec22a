"""Hot-path database helpers: rows inserted by a statement built once per process, and
statements sent to PostgreSQL together."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from django.db import connection
from django.db.models import Field, Model


def placeholders(count: int) -> str:
    """A parenthesised list of `count` parameter placeholders: "(%s, %s, %s)"."""
    return "(" + ", ".join(["%s"] * count) + ")"


def placeholder_rows(width: int, count: int) -> str:
    """`count` rows of `width` placeholders, for a VALUES list: "(%s, %s), (%s, %s)"."""
    return ", ".join([placeholders(width)] * count)


@cache
def _insert_sql(model: type[Model], count: int) -> tuple[str, tuple[Field[object, object], ...]]:
    fields = tuple(field for field in model._meta.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    return (
        f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608  # names are the model's
        f"({', '.join(quote(field.column) for field in fields)}) VALUES "
        + placeholder_rows(len(fields), count),
        fields,
    )


def rows_insert(model: type[Model], rows: list[Model]) -> None:
    """INSERT the unsaved `rows` in one statement; their ids are not read back.

    What `bulk_create` stores (defaults, auto_now_add, each field's database value), without
    building and compiling the statement on every call: for a wide model that costs more than
    the database takes to insert a row, and every stored DICOM instance is one such insert.
    """
    if not rows:
        return
    sql, fields = _insert_sql(type(rows[0]), len(rows))
    params = [
        field.get_db_prep_save(field.pre_save(row, add=True), connection)
        for row in rows
        for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@contextmanager
def pipelined() -> Iterator[None]:
    """Send the statements made inside together (psycopg's pipeline mode on PostgreSQL): the
    first that reads a result waits for all of them, so they cost one round trip. Elsewhere
    (SQLite in development) they run one by one. Errors surface as Django's."""
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    assert connection.connection is not None
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
