"""Group commit of read entries (PostgreSQL): concurrent reads write their access-log rows
together, yet each request returns only once its own row is committed, and a failed write
fails every request whose row it carried."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from audit_support import log_rows, staff_principal
from sqlalchemy import Engine

from vardnav.db.unit_of_work import transaction
from vardnav.domains.access.audit_events import AuditRow, audit_row
from vardnav.domains.access.audit_log import DatabaseAuditSink
from vardnav.domains.access.read_log_batches import ReadLogBatches
from vardnav.fhir.hooks import AuditRecord, RequestContext

pytest_plugins = ("audit_fixtures",)


def _row(n: int) -> AuditRow:
    ctx = RequestContext(principal=staff_principal())
    return audit_row(ctx, AuditRecord("read", "Patient", [f"p{n}"], patients=[f"p{n}"]), 0.0)


class SlowWriter:
    """Records the batches; the first write lingers so that the others queue up behind it."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[str]] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def __call__(self, _conn: Any, rows: list[AuditRow]) -> None:
        with self.lock:
            self.batches.append([r.patients[0] for r in rows])
            first = len(self.batches) == 1
        if first:
            time.sleep(0.2)
        if self.fail_on is not None and f"p{self.fail_on}" in [r.patients[0] for r in rows]:
            raise RuntimeError("the database went away")


def _store_all(batches: ReadLogBatches, n: int) -> list[BaseException | None]:
    start = threading.Barrier(n)

    def one(i: int) -> BaseException | None:
        start.wait()
        time.sleep(0.01 * (i > 0))  # request 0 leads; the rest arrive while it writes
        try:
            batches.store(None, _row(i))  # type: ignore[arg-type]
        except RuntimeError as exc:
            return exc
        return None

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def test_rows_that_arrive_during_a_write_go_together_and_each_exactly_once() -> None:
    writer = SlowWriter()
    errors = _store_all(ReadLogBatches(write=writer), 8)
    assert errors == [None] * 8
    written = [p for batch in writer.batches for p in batch]
    assert sorted(written) == sorted(f"p{i}" for i in range(8))  # each once
    assert writer.batches[0] == ["p0"]
    assert len(writer.batches) == 2  # the seven that waited went in one statement


def test_a_failed_write_fails_exactly_the_requests_whose_rows_it_carried() -> None:
    writer = SlowWriter(fail_on=3)
    errors = _store_all(ReadLogBatches(write=writer), 6)
    assert errors[0] is None  # its row was written alone, before the failure
    assert all(isinstance(e, RuntimeError) for e in errors[1:])
    # A later request writes again, and succeeds.
    batches = ReadLogBatches(write=writer)
    batches.store(None, _row(9))  # type: ignore[arg-type]
    assert writer.batches[-1] == ["p9"]


def test_a_batch_larger_than_the_limit_is_written_in_pieces() -> None:
    writer = SlowWriter()
    _store_all(ReadLogBatches(max_batch=3, write=writer), 8)
    assert [len(b) for b in writer.batches] == [1, 3, 3, 1]


def test_concurrent_postgresql_reads_are_logged_with_their_patients(
        engine: Engine, audit_app: Any) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite writes one read row at a time")
    sink = DatabaseAuditSink()
    ctx = RequestContext(principal=staff_principal())
    start = threading.Barrier(12)

    def read(i: int) -> bool:
        start.wait()
        with transaction(engine, write=False) as conn:
            sink.record(conn, ctx, AuditRecord("read", "Observation", [f"o{i}"],
                                               patients=[f"p{i}", f"q{i}"]))
        # Returned: the row is committed, so another connection sees it at once.
        return any(r["patients"] == [f"p{i}", f"q{i}"] for r in log_rows(engine))

    with ThreadPoolExecutor(12) as pool:
        assert all(pool.map(read, range(12)))
    rows = log_rows(engine)
    assert sorted(tuple(r["patients"]) for r in rows) == sorted(
        (f"p{i}", f"q{i}") for i in range(12))
    assert all(r["interaction"] == "read" and r["kind"] == "staff" for r in rows)
