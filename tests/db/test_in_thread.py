"""Background workers' transactions in threads: a stopped worker leaves nothing writing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import in_thread


def test_cancelling_the_worker_waits_until_its_transaction_has_ended(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    started, release = threading.Event(), threading.Event()

    def slow_write(conn: Connection, n: int) -> int:
        started.set()
        release.wait(5)
        conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        return n

    async def scenario() -> tuple[bool, int]:
        task = asyncio.create_task(in_thread(engine, slow_write, 7))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        # Twice, as a shutdown that insists would; the task still waits for the thread.
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        waiting = not task.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):  # the cancellation still arrives
            await task
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        return waiting, rows

    waiting, rows = asyncio.run(scenario())
    # The cancelled task ended only after the write had committed: nothing runs on behind it.
    assert waiting and rows == 1
    engine.dispose()


def test_the_result_comes_back_when_not_cancelled(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    result = asyncio.run(in_thread(engine, lambda conn, a, b=0: a + b, 2, b=3, write=False))
    assert result == 5
    engine.dispose()
