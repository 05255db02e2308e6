"""The server's sealer: seals new access-log rows into the hash chain every few seconds.

Runs as a task of the application's lifespan (main.create_app), one per server process;
the sealing lock makes concurrent sealers take turns (audit_chain.seal_batch). Sealing also
runs once at shutdown, so what the last requests logged is chained before the process ends.
A failed round is logged and retried on the next tick: rows wait unsealed, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import anyio.to_thread
from sqlalchemy import Engine

from vardnav.domains.access.audit_chain import seal

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def sealing(engine: Engine, interval: float) -> AsyncIterator[None]:
    """Seal every `interval` seconds while the context is open (0 or less: never)."""
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(_loop(engine, interval))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _seal_once(engine)


async def _loop(engine: Engine, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await _seal_once(engine)


async def _seal_once(engine: Engine) -> None:
    try:
        await anyio.to_thread.run_sync(seal, engine)
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
    writer = BackgroundReads(engine, insert_rows, interval=interval)
    writer.start()
    sink.background = writer
    try:
        yield
    finally:
        sink.background = None
        await anyio.to_thread.run_sync(writer.stop)
