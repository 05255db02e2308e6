"""The server's sealer: seals new access-log rows into the hash chain every second or so.

Runs as a task of the application's lifespan (main.create_app), one per server process;
the sealing lock makes concurrent sealers take turns (audit_chain.seal_batch). On
PostgreSQL each tick seals what the tick before saw, once the transactions running then
have ended (audit_chain: a range is sealed when settled), and notes what is there now; so
it never waits for a transaction. Sealing also runs once at shutdown, so what the last
requests logged is chained before the process ends. A failed round is logged and retried on
the next tick: rows wait unsealed, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Engine

from vardnav.db.unit_of_work import thread_to_the_end
from vardnav.domains.access.audit_chain import (
    Frontier,
    observe,
    seal,
    seal_upto,
    sealed_upto,
    still_running,
)

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def sealing(engine: Engine, interval: float) -> AsyncIterator[None]:
    """Seal every `interval` seconds while the context is open (0 or less: never)."""
    if interval <= 0:
        yield
        return
    ticker = Ticker(engine)
    task = asyncio.create_task(_loop(ticker, interval))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _guarded(seal, engine)


class Ticker:
    """One tick of the sealer: on PostgreSQL, seal the range the last tick saw if it has
    settled, and note the present one; on SQLite, seal everything."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: Frontier | None = None

    def tick(self) -> int:
        if self.engine.dialect.name != "postgresql":
            return seal(self.engine)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            now = observe(conn)
            seen = self.seen
            if seen is not None and still_running(conn, seen):
                return 0  # keep the older range: it settles once those transactions end
            self.seen = now
            if seen is None or seen.seq <= sealed_upto(conn):
                return 0
        return seal_upto(self.engine, seen.seq)


async def _loop(ticker: Ticker, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await _guarded(ticker.tick)


async def _guarded(fn: Callable[..., int], *args: Any) -> None:
    try:
        await thread_to_the_end(fn, *args)
    except Exception:  # the database may be briefly away; the next tick tries again
        log.exception("Sealing the access log failed; will retry")


@contextlib.asynccontextmanager
async def reads_in_background(sink: object, engine: Engine, interval: float,
                              enabled: bool) -> AsyncIterator[None]:
    """While open, PostgreSQL read entries of `sink` (a DatabaseAuditSink) are written by a
    background writer (background_reads.py); on close it writes what is left."""
    from vardnav.domains.access.audit_log import DatabaseAuditSink
    from vardnav.domains.access.background_reads import BackgroundReads
    from vardnav.domains.access.read_rows import insert_rows

    if not (enabled and isinstance(sink, DatabaseAuditSink)
            and engine.dialect.name == "postgresql" and not sink.synchronous_reads):
        yield
        return
    writer = BackgroundReads(engine, functools.partial(insert_rows, known=sink.known),
                             interval=interval)
    writer.start()
    sink.background = writer
    try:
        yield
    finally:
        sink.background = None
        await thread_to_the_end(writer.stop)
