"""Bulk row inserts: COPY on PostgreSQL (no per-row statements, no query parsing), an
executemany elsewhere. Runs inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, insert

COPY_FROM = 50  # rows; fewer are inserted with one statement


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        # The driver's own executemany: SQLAlchemy adds nothing for these columns (no type
        # conversions on SQLite) but its per-statement overhead, which for the handful of
        # index rows of one write cost more than the insert.
        columns = tuple(rows[0])
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_sqlite_insert(table.name, columns),
                               [[row[c] for c in columns] for row in rows])
        finally:
            cursor.close()
        return
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        # PostgreSQL: a few rows (one resource's index rows) go as one multi-row INSERT, a
        # single round trip; COPY takes three (start, data, end).
        conn.execute(_insert(table), rows)
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(columns)
    with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


_INSERTS: dict[str, Any] = {}


def _insert(table: Table) -> Any:
    """One INSERT per table, kept: a new one per call is built and cache-keyed again."""
    stmt = _INSERTS.get(table.name)
    if stmt is None or stmt.table is not table:
        stmt = _INSERTS[table.name] = insert(table)
    return stmt


_SQLITE_INSERTS: dict[tuple[str, tuple[str, ...]], str] = {}


def _sqlite_insert(table: str, columns: tuple[str, ...]) -> str:
    key = (table, columns)
    sql = _SQLITE_INSERTS.get(key)
    if sql is None:
        names = ", ".join(f'"{c}"' for c in columns)
        sql = _SQLITE_INSERTS[key] = (f'INSERT INTO "{table}" ({names}) VALUES '
                                      f'({", ".join("?" * len(columns))})')
    return sql
