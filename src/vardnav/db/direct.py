"""Prebuilt statements run on the database driver directly.

A hot write path (an inbound HL7 step runs ~35 statements) spends more time in SQLAlchemy's
per-execution machinery — cache key, execution context, parameter processing, result
wrapping: about 18 µs a statement on this machine — than SQLite spends running them (2 µs
for an indexed lookup). `Direct` compiles a Core statement once per dialect and parameter
shape and then, on SQLite inside a transaction, hands the SQL and the processed parameters
to the sqlite3 cursor. A SQLite connection outside a transaction (whose BEGIN SQLAlchemy
issues on the first execute) goes through `Connection.execute` unchanged.

On PostgreSQL only statements that opt in (`postgresql=True`) run on psycopg directly: the
read by id, whose PDL condition carries 15 parameters that SQLAlchemy processed one by one
on every read (measured on the 1M store, Python CPU per read: 113 µs allow-all and 147 µs
with PDL through SQLAlchemy; 77 and 84 µs direct). There the first statement begins
SQLAlchemy's transaction as its autobegin would, so SQLAlchemy's commit or rollback ends
what psycopg began, and a lost connection is invalidated as SQLAlchemy's own path does.

What stays the same: the SQL (SQLAlchemy compiles it), the bind and result type processing
(JSON, booleans — the dialect's own processors), and errors, which are raised as the same
SQLAlchemy exceptions (`IntegrityError`, `OperationalError`, ...) the caller would get from
`Connection.execute`; on PostgreSQL, prepared statements (engine.PREPARED) stay prepared.
Not supported, and run through SQLAlchemy instead: expanding (IN) parameters and
Python-side column defaults.
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
    """A statement compiled for one driver: its SQL, where each parameter comes from, and
    how result rows are built."""

    __slots__ = ("binds", "keys", "prepare", "result_processors", "row", "sql", "typed")

    def __init__(self, sql: str, binds: list[tuple[str, Any, Callable[[], Any] | None,
                                                   _Processor]],
                 row: Any, result_processors: list[_Processor] | None, *,
                 keys: list[str] | None = None, prepare: bool | None = None) -> None:
        self.sql = sql
        # Named placeholders (psycopg's %(name)s): each bind's name in the SQL; None: "?"s.
        self.keys = keys
        self.prepare = prepare  # PostgreSQL: a prepared statement (engine.PREPARED)
        # False until result_processors are known: PostgreSQL's from a first result.
        self.typed = row is None
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

    def driver_parameters(self, params: Mapping[str, Any]) -> Any:
        values = self.parameters(params)
        return values if self.keys is None else dict(zip(self.keys, values, strict=True))


_UNSUPPORTED = object()


class Direct:
    """A Core statement, executed on the driver directly where that is safe (module
    docstring). Call it like `conn.execute(stmt, params)`; `many` is the executemany form.
    With `postgresql=True` it runs on psycopg directly too: for a statement on the path of
    every read (fhir/storage/repository.py), not for every statement, since psycopg's
    own implicit transactions need the care described in `_direct_ok`."""

    __slots__ = ("_plans", "postgresql", "stmt")

    def __init__(self, stmt: Any, *, postgresql: bool = False) -> None:
        self.stmt = stmt
        self.postgresql = postgresql
        # (dialect, parameter names) → _Plan, or _UNSUPPORTED. Inserts and updates compile
        # to the columns given, so the names are part of the key.
        self._plans: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _direct_ok(self, conn: Connection) -> bool:
        name = conn.dialect.name
        if name == "sqlite":  # SQLAlchemy has issued BEGIN (engine.py's begin listener)
            return conn.in_transaction()
        if name != "postgresql" or not self.postgresql:
            return False
        # What the first execute would do (autobegin), so that SQLAlchemy's commit or
        # rollback ends the transaction psycopg opens implicitly with this statement.
        if not conn.in_transaction():
            conn.begin()
        return True

    def __call__(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Any:
        params = params or {}
        if not self._direct_ok(conn):
            return conn.execute(self.stmt, dict(params))
        plan = self._plan(conn.dialect, tuple(params))
        if plan is _UNSUPPORTED:
            return conn.execute(self.stmt, dict(params))
        driver = conn.connection.driver_connection
        assert driver is not None
        values = plan.driver_parameters(params)
        try:
            if plan.prepare is None:
                cursor = driver.execute(plan.sql, values)
            else:
                cursor = driver.execute(plan.sql, values, prepare=plan.prepare)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan.sql, values, exc) from exc
        if not plan.typed:
            # The result types as PostgreSQL reports them (numeric types need the OID).
            columns = list(self.stmt.exported_columns)
            plan.result_processors = _processors(
                conn.dialect, columns, [d.type_code for d in cursor.description])
            plan.typed = True
        return DirectResult(cursor, plan)

    def many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """executemany: every row with the same keys."""
        if not rows:
            return
        if not self._direct_ok(conn):
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        plan = self._plan(conn.dialect, tuple(rows[0]))
        if plan is _UNSUPPORTED:
            conn.execute(self.stmt, [dict(r) for r in rows])
            return
        driver = conn.connection.driver_connection
        assert driver is not None
        values = [plan.driver_parameters(r) for r in rows]
        try:
            driver.cursor().executemany(plan.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(conn, plan.sql, values, exc) from exc

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
    if (compiled.literal_execute_params or compiled.post_compile_params
            or getattr(compiled, "insert_prefetch", None)
            or getattr(compiled, "update_prefetch", None)):
        return _UNSUPPORTED  # expanding IN, Python-side defaults: SQLAlchemy's own path
    keys = None
    if compiled.positiontup is None:  # named placeholders (psycopg)
        escaped = compiled.escaped_bind_names or {}
        order = list(compiled.binds)
        keys = [escaped.get(name, name) for name in order]
    else:
        unescaped = {v: k for k, v in (compiled.escaped_bind_names or {}).items()}
        order = [unescaped.get(position, position) for position in compiled.positiontup]
    binds = []
    for name in order:
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((name, bind.value, bind.callable, process))
    prepare = (True if dialect.name == "postgresql"
               and stmt.get_execution_options().get("prepared") else None)
    columns = list(getattr(stmt, "exported_columns", ()) or ())
    if not columns:
        return _Plan(compiled.string, binds, None, None, keys=keys, prepare=prepare)
    row = namedtuple("Row", [str(c.key) for c in columns], rename=True)  # type: ignore[misc]
    plan = _Plan(compiled.string, binds, row, None, keys=keys, prepare=prepare)
    if dialect.name != "postgresql":  # (PostgreSQL's need the column types: _processors)
        plan.result_processors = _processors(dialect, columns, [None] * len(columns))
        plan.typed = True
    return plan


def _processors(dialect: Dialect, columns: list[Any],
                type_codes: list[Any]) -> list[_Processor] | None:
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, code)
                  for c, code in zip(columns, type_codes, strict=True)]
    return processors if any(p is not None for p in processors) else None


def _wrapped(conn: Connection, sql: str, values: Any, exc: Exception) -> BaseException:
    # As SQLAlchemy's own path does: a lost connection is invalidated (the pool replaces
    # it) and the error says so, so that run_in_transaction retries the work.
    dialect = conn.dialect
    lost = dialect.is_disconnect(exc, conn.connection.driver_connection, None)
    if lost:
        conn.invalidate(exc)
    return DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect,
                               connection_invalidated=lost)


__all__ = ["Direct", "DirectResult"]
