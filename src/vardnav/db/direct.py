"""Prebuilt statements run on the SQLite driver directly.

A hot write path (an inbound HL7 step runs ~35 statements) spends more time in SQLAlchemy's
per-execution machinery — cache key, execution context, parameter processing, result
wrapping: about 18 µs a statement on this machine — than SQLite spends running them (2 µs
for an indexed lookup). `Direct` compiles a Core statement once per dialect and parameter
shape and then, on SQLite inside a transaction, hands the SQL and the processed parameters
to the sqlite3 cursor. Everything else (PostgreSQL, or a connection outside a transaction,
whose BEGIN SQLAlchemy issues on the first execute) goes through `Connection.execute`
unchanged.

What stays the same: the SQL (SQLAlchemy compiles it), the bind and result type processing
(JSON, booleans — the dialect's own processors), and errors, which are raised as the same
SQLAlchemy exceptions (`IntegrityError`, `OperationalError`, ...) the caller would get from
`Connection.execute`. Not supported, and run through SQLAlchemy instead: expanding (IN)
parameters and Python-side column defaults.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

_Processor = Callable[[Any], Any] | None


class _Plan:
    """A statement compiled for SQLite: its SQL, where each parameter comes from, and how
    result rows are built."""

    __slots__ = ("binds", "result_processors", "row", "sql")

    def __init__(self, sql: str, binds: list[tuple[str, Any, Callable[[], Any] | None,
                                                   _Processor]],
                 row: Any, result_processors: list[_Processor] | None) -> None:
        self.sql = sql
        # (name, value if not given, callable giving it at execution, processor), in order
        self.binds = binds
        self.row = row  # a namedtuple class for result rows (None: no rows)
        self.result_processors = result_processors

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        out = []
        produced: dict[str, Any] = {}
        for name, default, produce, process in self.binds:
            if name in params:
                value = params[name]
            elif produce is None:
                value = default
            else:  # e.g. "now" (bindparam(callable_=time.time)): once per execution
                value = produced[name] if name in produced else produced.setdefault(
                    name, produce())
            # Processors see None too, as in SQLAlchemy (JSON stores it as 'null').
            out.append(value if process is None else process(value))
        return out


_UNSUPPORTED = object()


class Direct:
    """A Core statement, executed on the SQLite driver where that is safe (module
    docstring). Call it like `conn.execute(stmt, params)`; `many` is the executemany form."""

    __slots__ = ("_plans", "stmt")

    def __init__(self, stmt: Any) -> None:
        self.stmt = stmt
        # (dialect, parameter names) → _Plan, or _UNSUPPORTED. Inserts and updates compile
        # to the columns given, so the names are part of the key.
        self._plans: dict[tuple[int, tuple[str, ...]], Any] = {}

    def __call__(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        params = params or {}
        if conn.dialect.name != "sqlite" or not conn.in_transaction():
            return conn.execute(self.stmt, dict(params))
        plan = self._plan(conn.dialect, tuple(params))
        if plan is _UNSUPPORTED:
            return conn.execute(self.stmt, dict(params))
        driver = conn.connection.driver_connection
        assert driver is not None
        values = plan.parameters(params)
        try:
            cursor = driver.execute(plan.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn.dialect, plan.sql, values, exc) from exc
        return DirectResult(cursor, plan)

    def many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """executemany: every row with the same keys."""
        if not rows:
            return
        if conn.dialect.name != "sqlite" or not conn.in_transaction():
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        plan = self._plan(conn.dialect, tuple(rows[0]))
        if plan is _UNSUPPORTED:
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        values = [plan.parameters(r) for r in rows]
        try:
            driver.executemany(plan.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn.dialect, plan.sql, values, exc) from exc

    def _plan(self, dialect: Dialect, names: tuple[str, ...]) -> Any:
        key = (id(dialect), names)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _compile(self.stmt, dialect, names)
        return plan


class DirectResult:
    """The parts of SQLAlchemy's CursorResult that callers of `Direct` use."""

    __slots__ = ("_cursor", "_plan")

    def __init__(self, cursor: Any, plan: _Plan) -> None:
        self._cursor = cursor
        self._plan = plan

    def _make(self, raw: tuple[Any, ...]) -> Any:
        processors = self._plan.result_processors
        if processors:
            raw = tuple(v if p is None else p(v)
                        for p, v in zip(processors, raw, strict=True))
        return self._plan.row._make(raw)

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def inserted_primary_key(self) -> tuple[int]:
        """After an INSERT into a table with an integer primary key (its rowid)."""
        return (int(self._cursor.lastrowid),)

    def first(self) -> Any:
        raw = self._cursor.fetchone()
        self._cursor.close()
        return None if raw is None else self._make(raw)

    def all(self) -> list[Any]:
        return [self._make(raw) for raw in self._cursor.fetchall()]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def scalar(self) -> Any:
        row = self.first()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        rows = self.all()
        if len(rows) != 1:
            raise ValueError(f"expected one row, got {len(rows)}")
        return rows[0][0]

    def scalar_one_or_none(self) -> Any:
        rows = self.all()
        if len(rows) > 1:
            raise ValueError(f"expected at most one row, got {len(rows)}")
        return rows[0][0] if rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.all()]


def _compile(stmt: Any, dialect: Dialect, names: tuple[str, ...]) -> Any:
    compiled = stmt.compile(dialect=dialect, column_keys=list(names))
    if (compiled.positiontup is None or compiled.literal_execute_params
            or compiled.post_compile_params or getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)):
        return _UNSUPPORTED  # expanding IN, Python-side defaults: SQLAlchemy's own path
    escaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
    binds = []
    for position in compiled.positiontup:
        name = escaped.get(position, position)
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((name, bind.value, bind.callable, process))
    columns = list(getattr(stmt, "exported_columns", ()) or ())
    if not columns:
        return _Plan(compiled.string, binds, None, None)
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                  for c in columns]
    row = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]
    return _Plan(compiled.string, binds, row,
                 processors if any(p is not None for p in processors) else None)


def _wrapped(dialect: Dialect, sql: str, values: Any, exc: Exception) -> BaseException:
    return DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect)


__all__ = ["Direct", "DirectResult"]
