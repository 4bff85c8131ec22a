"""Hot-path database helpers: rows inserted by a statement built once per process, models read
back from hand-written SELECTs, and statements sent to PostgreSQL together.

Hand-written SQL lives here (the generic helpers) and in one module per app, `<app>/sql.py`;
`tests/server/test_sql_contained.py` keeps it so. Names in it come from the models' `_meta`,
through `table` and `column`, never written out.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, cached_property
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def table(model: type[Model]) -> str:
    """The model's table name, quoted for SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], name: str) -> str:
    """The column of the model's field `name` (a field name, e.g. "patient" for patient_id),
    quoted for SQL."""
    field = model._meta.get_field(name)
    assert isinstance(field, Field)
    assert field.column is not None
    return connection.ops.quote_name(field.column)


class Aliased:
    """A model's table under an alias in a hand-written statement: `str(p)` is the FROM item
    (`"directory_patient" AS p`), `p["home_institution"]` a column (`p."home_institution_id"`)."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.alias = alias

    def __str__(self) -> str:
        return f"{table(self.model)} AS {self.alias}"

    def __getitem__(self, name: str) -> str:
        return f"{self.alias}.{column(self.model, name)}"

    def column(self, name: str) -> str:
        """The column unqualified, as an UPDATE's SET names it."""
        return column(self.model, name)


def execute(sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement that gives no rows (in `pipelined()`, without waiting for it)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def fetch(sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement and return its rows."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


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
        f"INSERT INTO {table(model)} "  # noqa: S608  # names are the model's
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
    execute(sql, params)


class Selected(Generic[M]):
    """A model's columns in a hand-written SELECT, and the model built back from a row.

    For reads on every request whose queryset costs more to build and compile than the
    database takes to answer it (a token, an instance and its study: joins of wide tables).
    Values pass through the conversions the ORM applies; omitted fields are deferred.
    """

    def __init__(self, model: type[M], alias: str, *, omit: tuple[str, ...] = ()) -> None:
        self.model = model
        self.alias = alias
        self.fields = tuple(f for f in model._meta.concrete_fields if f.name not in omit)
        self.names = [field.attname for field in self.fields]
        self.width = len(self.fields)

    @cached_property
    def sql(self) -> str:
        """The select list: `alias."column", ...`."""
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    @cached_property
    def _converters(self) -> list[tuple[int, Any, list[Callable[..., Any]]]]:
        found = []
        for index, field in enumerate(self.fields):
            column = field.get_col(self.alias)
            converters = connection.ops.get_db_converters(column) + column.get_db_converters(
                connection
            )
            if converters:
                found.append((index, column, converters))
        return found

    def load(self, row: Sequence[Any], start: int = 0) -> M:
        """The model whose columns begin at `start` in the row."""
        values = list(row[start : start + self.width])
        for index, column, converters in self._converters:
            for convert in converters:
                values[index] = convert(values[index], column, connection)
        return self.model.from_db(DEFAULT_DB_ALIAS, self.names, values)

    def load_joined(self, row: Sequence[Any], start: int) -> M | None:
        """The model of an outer join's columns, or None where the join found no row."""
        primary_key = self.names.index(self.model._meta.pk.attname)
        return None if row[start + primary_key] is None else self.load(row, start)


@contextmanager
def pipelined() -> Iterator[None]:
    """Send the statements made inside together (psycopg's pipeline mode): the first that
    reads a result waits for all of them, so they cost one round trip. Errors surface as
    Django's."""
    connection.ensure_connection()
    assert connection.connection is not None
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
