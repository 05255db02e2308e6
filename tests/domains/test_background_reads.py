"""Read entries written in the background (PostgreSQL, while the server runs): each read's
row reaches the access log shortly after the answer, in order, none lost when the database
fails for a while, and all of them when the server stops."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

import pytest
from audit_support import clear_log, create, log_rows, staff_client, staff_principal
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from conftest import observation, patient
from vardnav.domains.access.audit_events import AuditRow, PendingRead, audit_row
from vardnav.domains.access.audit_frames import KnownFrames
from vardnav.domains.access.background_reads import BackgroundReads
from vardnav.domains.access.models import audit_frame, audit_log_patient
from vardnav.domains.access.read_rows import insert_rows
from vardnav.fhir.hooks import AuditRecord, RequestContext
from vardnav.main import create_app

pytest_plugins = ("audit_fixtures",)


def _row(n: int) -> AuditRow:
    return audit_row(RequestContext(principal=None),
                     AuditRecord("read", "Patient", [f"p{n}"], patients=[f"p{n}"]), float(n))


class Recorder:
    """Stands in for the database: records what it is given; fails while `down` is set."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.down = False

    def __call__(self, _conn: Connection, rows: list[AuditRow]) -> None:
        if self.down:
            raise RuntimeError("database away")
        self.written.extend(r.patients[0] for r in rows)


@pytest.fixture
def recorder(engine: Engine) -> Recorder:
    return Recorder()


def test_rows_are_written_in_order_and_a_failure_loses_none(engine: Engine,
                                                             recorder: Recorder) -> None:
    writer = BackgroundReads(engine, recorder, interval=3600, max_batch=3)
    for n in range(5):
        assert writer.submit(_row(n))
    recorder.down = True
    with pytest.raises(RuntimeError):
        writer.flush()
    assert writer.pending() == 5 and recorder.written == []
    recorder.down = False
    writer.submit(_row(5))
    writer.flush()
    assert recorder.written == [f"p{n}" for n in range(6)]  # in order, each once


def test_a_tick_writes_what_was_queued_and_leaves_later_rows_for_the_next(
        engine: Engine, recorder: Recorder) -> None:
    """Rows that arrive while a batch is written wait for the next tick, so each tick is
    one statement per `max_batch` rows, not a chase after every row that trickles in."""
    writer = BackgroundReads(engine, recorder, interval=3600, max_batch=2)
    batches: list[int] = []

    def write_while_reads_go_on(conn: Connection, rows: list[AuditRow]) -> None:
        batches.append(len(rows))
        recorder(conn, rows)
        writer.submit(_row(100 + len(recorder.written)))  # a read answered meanwhile

    writer.write = write_while_reads_go_on
    for n in range(3):
        writer.submit(_row(n))
    writer.flush(writer.pending())  # what the writer thread does each tick
    assert batches == [2, 1] and recorder.written == ["p0", "p1", "p2"]
    assert writer.pending() == 2  # the two rows that came in meanwhile
    writer.write = recorder
    writer.flush()  # at stop: everything
    assert writer.pending() == 0 and recorder.written == ["p0", "p1", "p2", "p102", "p103"]


def test_a_batch_keeps_its_order_and_files_each_row_under_its_own_patients(
        engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch insert is PostgreSQL's")
    clear_log(engine)
    patients = [["a", "b"], [], ["c"], ["a"], ["d", "e", "f"]]
    rows = [audit_row(RequestContext(principal=None),
                      AuditRecord("read", "Patient", [f"r{n}"], patients=who), float(n))
            for n, who in enumerate(patients)]
    writer = BackgroundReads(engine, insert_rows, interval=3600)
    for row in rows:
        writer.submit(row)
    writer.flush()  # as the writer thread does: one statement, in autocommit
    stored = log_rows(engine)
    assert [r["recorded"] for r in stored] == [0.0, 1.0, 2.0, 3.0, 4.0]  # seq order
    assert [r["event"] for r in stored] == [r.event for r in rows]
    assert [r["patients"] for r in stored] == patients


def test_events_are_stored_exactly_whatever_text_the_user_gave(engine: Engine) -> None:
    """The events travel apart from the other columns, split on U+001E: a reason typed with
    that character (or any other) is escaped in the event and stored as the event says."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch insert is PostgreSQL's")
    clear_log(engine)
    reasons = ["akut\x1eläge", "två\nrader \"citat\" \\ å", "", "\x1e"]
    rows = [audit_row(RequestContext(principal=None, attributes={"reason": reason}),
                      AuditRecord("read", "Patient", [f"r{n}"], patients=[f"p{n}"]), float(n))
            for n, reason in enumerate(reasons)]
    insert_rows_autocommit(engine, rows)
    stored = log_rows(engine)
    assert [r["event"] for r in stored] == [r.event for r in rows]
    details = [{d["type"]: d["valueString"] for e in json.loads(r["event"]).get("entity", [])
                for d in e.get("detail", [])} for r in stored]
    assert [d.get("reason", "") for d in details] == reasons
    assert [r["patients"] for r in stored] == [["p0"], ["p1"], ["p2"], ["p3"]]


def test_an_event_holding_the_separator_itself_is_refused_not_split(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch insert is PostgreSQL's")
    clear_log(engine)
    forged = dataclasses.replace(_row(1), event='{"a":"x\x1ey"}')
    with pytest.raises(ValueError, match="record separator"):
        insert_rows_autocommit(engine, [_row(0), forged])
    assert log_rows(engine) == []


def insert_rows_autocommit(engine: Engine, rows: list[AuditRow],
                           known: KnownFrames | None = None) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        insert_rows(conn, rows, known)


def test_a_batch_stores_the_frames_its_rows_name_once_and_only_when_it_commits(
        engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch insert is PostgreSQL's")
    clear_log(engine)
    user = f"SE2321000131-T1-B{uuid.uuid4().hex[:8]}"  # frames of its own
    ctx = RequestContext(principal=staff_principal(subject=user))
    rows = [audit_row(ctx, AuditRecord("read", "Patient", [f"r{n}"], patients=[f"p{n}"]),
                      float(n)) for n in range(3)]
    frame = rows[0].frame
    assert frame is not None and {r.frame for r in rows} == {frame}
    known = KnownFrames()
    bad = dataclasses.replace(rows[2], columns={**rows[2].columns, "outcome": None})
    with pytest.raises(IntegrityError):
        insert_rows_autocommit(engine, [*rows[:2], bad], known)
    assert frame.digest not in known and _frame_text(engine, frame.digest) is None
    insert_rows_autocommit(engine, rows[:2], known)
    assert frame.digest in known and _frame_text(engine, frame.digest) == frame.text
    assert [r["parsed"]["agent"][0]["who"]["identifier"]["value"]
            for r in log_rows(engine)] == [user, user]
    # Once known, a batch no longer sends it: taken away, it is not written back.
    with engine.begin() as conn:
        conn.execute(delete(audit_frame).where(audit_frame.c.digest == frame.digest))
    insert_rows_autocommit(engine, rows[2:], known)
    assert _frame_text(engine, frame.digest) is None
    insert_rows_autocommit(engine, rows[2:])  # without `known`: every frame is sent
    assert _frame_text(engine, frame.digest) == frame.text


def _frame_text(engine: Engine, digest: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(audit_frame.c.frame)
                            .where(audit_frame.c.digest == digest)).scalar()


def test_a_batch_that_fails_writes_none_of_its_rows_and_keeps_them_queued(
        engine: Engine) -> None:
    """The writer's statement runs without BEGIN/COMMIT: it must still be all or nothing."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the one-statement batch insert is PostgreSQL's")
    clear_log(engine)
    good = [_row(1), _row(2)]
    bad = dataclasses.replace(_row(3), columns={**_row(3).columns, "outcome": None})
    writer = BackgroundReads(engine, insert_rows, interval=3600)
    for row in [*good, bad]:
        writer.submit(row)
    with pytest.raises(IntegrityError):  # outcome may not be empty
        writer.flush()
    assert log_rows(engine) == [] and writer.pending() == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit_log_patient)).scalar() == 0


def test_a_full_queue_makes_readers_write_their_own_rows(engine: Engine,
                                                         recorder: Recorder) -> None:
    writer = BackgroundReads(engine, recorder, interval=3600, max_queue=2)
    assert writer.submit(_row(1)) and writer.submit(_row(2))
    assert not writer.submit(_row(3))  # the sink then writes this one itself


def test_the_writer_thread_writes_within_its_interval_and_empties_at_stop(
        engine: Engine, recorder: Recorder) -> None:
    writer = BackgroundReads(engine, recorder, interval=0.01)
    writer.start()
    writer.submit(_row(1))
    deadline = time.monotonic() + 5
    while recorder.written != ["p1"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.written == ["p1"]
    recorder.down = True
    writer.submit(_row(2))  # fails in the thread, stays queued
    time.sleep(0.05)
    recorder.down = False
    writer.submit(_row(3))
    writer.stop()
    assert recorder.written == ["p1", "p2", "p3"] and writer.pending() == 0


def test_a_running_server_logs_every_read_shortly_after_and_all_at_shutdown(
        engine: Engine, audit_app: Any) -> None:
    settings = audit_app.state.settings.model_copy(update={"audit_background_reads": True})
    app = create_app(settings, services=audit_app.state.services, engine=engine)
    with TestClient(app, headers=audit_app_headers(audit_app)) as system:
        pid = create(system, patient())["id"]
        oid = create(system, observation(f"Patient/{pid}"))["id"]
        nurse = staff_client(app)
        with nurse:
            for _ in range(20):
                assert nurse.get(f"/fhir/Observation/{oid}").status_code == 200
            deadline = time.monotonic() + 5
            while (len([r for r in log_rows(engine) if r["interaction"] == "read"]) < 20
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            reads = [r for r in log_rows(engine) if r["interaction"] == "read"]
            assert len(reads) == 20 and all(r["patients"] == [pid] for r in reads)
            background = app.state.services.audit.background
            if engine.dialect.name == "postgresql":
                assert background is not None  # the reads above went through it
            else:
                assert background is None  # SQLite: each read writes its own row
            for _ in range(30):
                nurse.get(f"/fhir/Observation/{oid}")
    # The server stopped: whatever was still queued has been written.
    assert len([r for r in log_rows(engine) if r["interaction"] == "read"]) == 50
    assert app.state.services.audit.background is None


def audit_app_headers(app: Any) -> dict[str, str]:
    from conftest import bearer, mint_token

    return bearer(mint_token(app.state.settings))


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text for this")


def _without_id(event: str) -> dict[str, Any]:
    parsed = json.loads(event)
    parsed.pop("id")
    return parsed


def test_a_read_taken_on_the_requests_path_is_built_by_the_writer_as_it_was(
        engine: Engine) -> None:
    rows: list[AuditRow] = []
    ctx = RequestContext(principal=None, attributes={"client_address": "10.1.2.3",
                                                     "reason": "ward round"})
    record = AuditRecord("read", "Observation", ["o1"], patients=["p1"])
    expected = audit_row(RequestContext(principal=None, attributes=dict(ctx.attributes)),
                         AuditRecord("read", "Observation", ["o1"], patients=["p1"]), 5.0)
    writer = BackgroundReads(engine, lambda _conn, batch: rows.extend(batch), interval=3600)
    assert writer.submit(PendingRead.taken(ctx, record, 5.0))
    # What the request does after its answer is not what the log says it did.
    ctx.attributes["client_address"] = "10.9.9.9"
    record.patients.append("p2")
    record.resource_ids.append("o2")
    writer.flush()
    assert len(rows) == 1
    assert rows[0].patients == ("p1",) and rows[0].recorded == 5.0
    assert rows[0].columns == expected.columns
    assert _without_id(rows[0].event) == _without_id(expected.event)


def test_an_entry_the_writer_cannot_build_in_full_is_kept_with_what_it_can(
        engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    rows: list[AuditRow] = []
    ctx = RequestContext(principal=None, attributes={"reason": Unprintable()})
    writer = BackgroundReads(engine, lambda _conn, batch: rows.extend(batch), interval=3600)
    writer.submit(PendingRead.taken(ctx, AuditRecord("read", "Observation", ["o1"],
                                                     patients=["p1"]), 7.0))
    writer.submit(_row(8))
    writer.flush()
    assert [r.recorded for r in rows] == [7.0, 8.0] and writer.pending() == 0
    kept = json.loads(rows[0].event)
    assert rows[0].patients == ("p1",) and rows[0].columns["interaction"] == "read"
    refs = [e["what"]["reference"] for e in kept["entity"] if "what" in e]
    assert refs == ["Patient/p1", "Observation/o1"]
    details = [d["valueString"] for e in kept["entity"] for d in e.get("detail", [])]
    assert any("no text for this" in d for d in details)
    assert "could not be built in full" in caplog.text
