"""SQLAlchemy engines for the embedded SQLite default and for PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from vardnav.db import json_codec

STATEMENT_TIMEOUT_MS = 30_000


def make_engine(url: str, *, echo: bool = False) -> Engine:
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": json_codec.dumps,
                              "json_deserializer": json_codec.loads}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's implicit transactions break SERIALIZABLE-style writes; begin explicitly.
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # No pre-ping (a round trip per request); a dropped connection is retried instead.
    kwargs.update(pool_size=10, max_overflow=20, pool_recycle=3600)
    # No statement may run away with the database: searches are bounded in size, and this
    # bounds their time (the error is answered as 400 too-costly).
    # Custom plans by default: psycopg prepares nothing on its own (a prepared search's
    # generic plan ignores how selective each index lookup is; seen: 0.1 ms became 50 ms).
    # Statements whose plan never depends on the values (a read by id, an access-log row, a
    # search anchored to named patients) opt in with execution_options(prepared=True):
    # parsed once per connection, planned once PostgreSQL finds a reused plan as good.
    kwargs["connect_args"] = {"options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
                                         "-c plan_cache_mode=auto",
                              # (None would refuse even the statements that opt in)
                              "prepare_threshold": 2**31 - 1}
    engine = create_engine(url, **kwargs)
    event.listen(engine, "do_execute", _prepared_when_asked)
    return engine


PREPARED = {"prepared": True}  # execution options of a statement whose plan may be reused


def _prepared_when_asked(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    if not context.execution_options.get("prepared"):
        return False  # SQLAlchemy executes it as usual: unprepared, so a custom plan
    cursor.execute(statement, parameters, prepare=True)
    return True


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the single writer; NORMAL sync is safe with WAL.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Writers take the write lock at BEGIN, so two writers serialise instead of deadlocking
    # on lock upgrade. Readers in WAL mode are never blocked by it.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
