"""The unit of work: the only place a transaction is begun and committed.

Services and the repository take a Connection and never commit. An HTTP request, CLI command
or message handler runs its work inside `run_in_transaction`, which commits once, or rolls
everything back (resource, index rows, history) on any error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

T = TypeVar("T")

# PostgreSQL: serialization_failure, deadlock_detected, unique_violation (two creates racing).
_RETRY_SQLSTATES = {"40001", "40P01", "23505"}


@contextmanager
def transaction(engine: Engine, *, write: bool) -> Iterator[Connection]:
    if not write and engine.dialect.name == "postgresql":
        # Under READ COMMITTED every statement has its own snapshot even inside BEGIN, so a
        # read loses nothing without one and saves two round trips.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
        return
    with engine.connect() as conn:
        # Read by the SQLite "begin" hook: writers take the write lock up front.
        conn.info["write"] = write
        conn.info.pop(_AFTER_COMMIT, None)  # a transaction begun elsewhere may have left some
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info["write"] = False
            committed = conn.info.pop(_AFTER_COMMIT, ())
        for callback in committed:  # reached only once the transaction has committed
            callback()


_AFTER_COMMIT = "vardnav_after_commit"


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Run `callback` once what `conn` has done so far is committed: at once in autocommit,
    else when `transaction` commits (never, if it rolls back or was begun elsewhere)."""
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        callback()
    else:
        conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


def run_in_transaction(engine: Engine, work: Callable[[Connection], T], *,
                       write: bool = True, attempts: int = 5) -> T:
    """Run `work` in one transaction, retrying on transient concurrency conflicts."""
    for attempt in range(attempts):
        try:
            with transaction(engine, write=write) as conn:
                return work(conn)
        except (OperationalError, IntegrityError, DBAPIError) as exc:
            if attempt == attempts - 1 or not _is_transient(exc):
                raise
            time.sleep(0.01 * (2 ** attempt))
    raise AssertionError("unreachable")


async def in_thread(engine: Engine, fn: Callable[..., T], *args: Any, write: bool = True,
                    **kwargs: Any) -> T:
    """`fn(conn, *args, **kwargs)` in its own transaction (run_in_transaction) in a worker
    thread, for background workers on the event loop; see thread_to_the_end."""
    return await thread_to_the_end(
        run_in_transaction, engine, lambda conn: fn(conn, *args, **kwargs), write=write)


async def thread_to_the_end(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn` in a worker thread. Cancelling the awaiting task waits for `fn` to return before
    the cancellation goes on: asyncio.to_thread alone returns at once and leaves the thread
    writing after its worker has stopped (in tests, a stopped worker's last write
    deadlocked with the next test's wipe)."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            try:
                await asyncio.wait({work})
            except asyncio.CancelledError:
                continue
        raise


def _is_transient(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:  # e.g. the database restarted: a new connection will do
        return True
    code = getattr(exc.orig, "sqlstate", None)
    if code in _RETRY_SQLSTATES:
        return True
    text = str(exc.orig).lower()
    return "database is locked" in text or "unique constraint failed: resource" in text
