"""Model instances from rows of hand-written SQL, converted the way the ORM converts them.

For the few reads on the hottest path (the inbound pipeline runs two per patient message), where
building and compiling the ORM query each time costs more CPU than the database spends answering
it (about 1 ms for a select_related + EXISTS query). The SQL is written once per process from the
models' metadata; `instance` applies each field's backend and field converters (SQLite stores
datetimes as text, booleans as integers, JSON as text) and builds the instance with `from_db`, as
a queryset does."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models.fields import AutoFieldMixin

M = TypeVar("M", bound=models.Model)

Converter = Callable[[Any, Any, Any], Any]


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[models.Model], field: str) -> str:
    return connection.ops.quote_name(str(getattr(model._meta.get_field(field), "column", field)))


def columns(model: type[models.Model], alias: str) -> str:
    """`alias.col, ...` for every concrete field, in the order `instance` reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(str(field.column))}" for field in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


@cache
def _converters(model: type[models.Model], vendor: str) -> tuple[tuple[str, Any, tuple[Converter, ...]], ...]:
    plan = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        found = tuple(connection.ops.get_db_converters(column)) + tuple(field.get_db_converters(connection))
        plan.append((field.attname, column, found))
    return tuple(plan)


def instance(model: type[M], values: Sequence[Any]) -> M:
    """The model instance for `values`, a row's slice in `columns(model, ...)` order."""
    names, converted = [], []
    for (attname, column, converters), value in zip(_converters(model, connection.vendor), values, strict=True):
        for convert in converters:
            value = convert(value, column, connection)
        names.append(attname)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)


def _pk_column(model: type[models.Model]) -> str:
    return connection.ops.quote_name(str(getattr(model._meta.pk, "column", "id")))


@cache
def _insert_plan(model: type[models.Model], vendor: str) -> tuple[str, str, tuple[models.Field[Any, Any], ...]]:
    fields = tuple(f for f in model._meta.concrete_fields if not isinstance(f, AutoFieldMixin))
    names = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    head = f"INSERT INTO {table(model)} ({names}) VALUES "  # noqa: S608 -- identifiers from model metadata
    return head, "(" + ", ".join(["%s"] * len(fields)) + ")", fields


def insert(instance: M) -> M:
    """INSERT the new instance, as `save(force_insert=True)` does (field defaults and auto_now
    values, the database's id back), without the ORM's per-save machinery. No signals are sent:
    models written this way have no receivers (converge.core.localcache watches settings only)."""
    return insert_many([instance])[0]


def insert_many(instances: Sequence[M]) -> list[M]:
    """INSERT new instances of one model in one statement (as `insert`), ids back in order."""
    if not instances:
        return []
    model = type(instances[0])
    head, row, fields = _insert_plan(model, connection.vendor)
    params = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for instance in instances for field in fields
    ]
    sql = head + ", ".join([row] * len(instances)) + f" RETURNING {_pk_column(model)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = sorted(pk for (pk,) in cursor.fetchall())  # assigned ascending within one statement
    for instance, pk in zip(instances, ids, strict=True):
        instance.pk = pk
        instance._state.adding = False
        instance._state.db = connection.alias
    return list(instances)


def update(instance: models.Model, fields: Sequence[str]) -> None:
    """UPDATE these fields of a stored instance, as `save(update_fields=...)` does."""
    chosen = [field for field in type(instance)._meta.concrete_fields if field.name in fields]
    if len(chosen) != len(set(fields)):
        raise ValueError(f"not fields of {type(instance).__name__}: {sorted(set(fields) - {f.name for f in chosen})}")
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in chosen)
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in chosen]
    sql = f"UPDATE {table(type(instance))} SET {assignments} WHERE {_pk_column(type(instance))} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, instance.pk])


def update_many(instances: Sequence[models.Model], fields: Sequence[str]) -> None:
    """UPDATE these fields of stored instances of one model, each row to its own values. On
    PostgreSQL one `UPDATE … FROM (VALUES …)` statement: the ORM's bulk_update builds a CASE
    expression per field and row, which cost more CPU than the database spends on the UPDATE."""
    if not instances:
        return
    model = type(instances[0])
    chosen = [field for field in model._meta.concrete_fields if field.name in fields]
    if len(chosen) != len(set(fields)):
        raise ValueError(f"not fields of {model.__name__}: {sorted(set(fields) - {f.name for f in chosen})}")
    if connection.vendor != "postgresql":
        model._default_manager.bulk_update(instances, list(fields), batch_size=500)
        return
    quote = connection.ops.quote_name
    names = ["id", *(str(f.column) for f in chosen)]
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in chosen)
    for start in range(0, len(instances), 1000):
        part = instances[start : start + 1000]
        params = [
            value
            for instance in part
            for value in (instance.pk, *(f.get_db_prep_save(f.pre_save(instance, False), connection) for f in chosen))
        ]
        sql = (
            f"UPDATE {table(model)} AS t SET {assignments} FROM (VALUES {', '.join([row] * len(part))})"  # noqa: S608
            f" AS v({', '.join(quote(n) for n in names)}) WHERE t.{_pk_column(model)} = v.{quote('id')}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def delete(model: type[models.Model], pk: Any) -> None:
    """DELETE one row by id: for a model nothing references (no cascade to collect)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table(model)} WHERE {_pk_column(model)} = %s", [pk])  # noqa: S608


@contextmanager
def commits_without_waiting_for_disk() -> Iterator[None]:
    """Inside: each COMMIT on this connection returns before its WAL record is on disk
    (PostgreSQL's `synchronous_commit = off`; nothing elsewhere). Two statements for the whole
    block, however many transactions it runs.

    Only for transactions whose input is already durable and which are safe to run again: a crash
    can lose the last fraction of a second of such commits, never a part of one (the database
    stays consistent), and the durable input is then simply processed again. The fsync skipped is
    most of what a small transaction waits for (4 ms of 4.3 here)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
