"""Rewriting only the index rows an update changes (SQLite).

An update used to delete all of a resource's index rows (nine tables) and insert them all
again, although most of them do not change: an ADT step changes an Encounter's status or
location and leaves its identifiers, subject, class and period as they were. On an inbound
HL7 feed that B-tree work was about 15 % of a message.

`IndexMemo` remembers, for resources this process wrote recently, the content written and
the index rows made from it. When the content being replaced is exactly that content (its
`meta.versionId` and `meta.lastUpdated` included, so no other writer's version and no
rolled-back write can pass for it), the rows in the database are the remembered ones: index
rows are a pure function of the content (extract, `EngineServices.searchable`). The update
then deletes the rows that are no longer produced and inserts the new ones; equal rows stay.
Anything else — a resource not remembered, or changed by someone else — is rewritten whole,
as before.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from sqlalchemy import Connection

from vardnav.fhir.storage.tables import INDEX_TABLES

RowKey = tuple[tuple[str, Any], ...]
Keys = dict[str, Counter[RowKey]]  # index kind → row → how many times
_SIZE = 4096  # resources remembered (oldest forgotten first)


def row_keys(rows: dict[str, list[dict[str, Any]]]) -> Keys:
    """Index rows (without rid) as comparable keys, per kind."""
    return {kind: Counter(tuple(sorted(row.items())) for row in found)
            for kind, found in rows.items() if found}


class IndexMemo:
    def __init__(self, size: int = _SIZE) -> None:
        self.size = size
        self._rows: dict[int, tuple[dict[str, Any], Keys]] = {}
        self._lock = threading.Lock()  # API requests write from several threads

    def remember(self, rid: int, content: dict[str, Any], keys: Keys) -> None:
        with self._lock:
            self._rows.pop(rid, None)
            if len(self._rows) >= self.size:
                self._rows.pop(next(iter(self._rows)))
            self._rows[rid] = (content, keys)

    def forget(self, rid: int) -> None:
        with self._lock:
            self._rows.pop(rid, None)

    def rows_of(self, rid: int, content: dict[str, Any] | None) -> Keys | None:
        """The index rows stored for `content`, the current content of `rid`, if known."""
        found = self._rows.get(rid)
        if found is None or content is None or found[0] != content:
            return None
        return found[1]


def apply_changes(conn: Connection, rid: int, before: Keys,
                  after: Keys) -> dict[str, list[dict[str, Any]]]:
    """Delete the rows of `before` that `after` no longer has (as many times as it has them
    less); return the rows to insert. SQLite only (`IS` matches NULLs as equal)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    inserts: dict[str, list[dict[str, Any]]] = {}
    try:
        for kind in before.keys() | after.keys():
            old, new = before.get(kind, Counter()), after.get(kind, Counter())
            if old == new:
                continue
            for key, count in old.items():
                if new.get(key, 0) != count:  # all copies go; `new`'s count comes back
                    cursor.execute(_delete_sql(kind, tuple(k for k, _ in key)),
                                   (rid, *(v for _, v in key)))
            for key, count in new.items():
                if old.get(key, 0) != count:
                    inserts.setdefault(kind, []).extend(dict(key) for _ in range(count))
    finally:
        cursor.close()
    return inserts


_DELETES: dict[tuple[str, tuple[str, ...]], str] = {}


def _delete_sql(kind: str, columns: tuple[str, ...]) -> str:
    sql = _DELETES.get((kind, columns))
    if sql is None:
        match = " AND ".join(f'"{c}" IS ?' for c in columns)
        sql = _DELETES[(kind, columns)] = (
            f'DELETE FROM "{INDEX_TABLES[kind].name}" WHERE rid = ? AND {match}')
    return sql


__all__ = ["IndexMemo", "apply_changes", "row_keys"]
