"""Access-log entries stored with frames (audit_frames.py): a caller's repeated parts are
stored once and named by digest; the AuditEvent read back is whole; verification finds an
altered or removed frame; entries stored whole before frames still read and verify; a frame
written in a transaction that rolls back is never taken as stored."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest
from audit_support import HSA, clear_log, log_rows, staff_principal
from sqlalchemy import Engine, delete, select, update

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_chain import seal, verify
from vardnav.domains.access.audit_events import CLIENT_ADDRESS, AuditRow, audit_row
from vardnav.domains.access.audit_frames import FRAME, render
from vardnav.domains.access.audit_log import DatabaseAuditSink, store
from vardnav.domains.access.models import audit_frame
from vardnav.fhir.hooks import AuditRecord, RequestContext


@pytest.fixture
def log(engine: Engine) -> Engine:
    clear_log(engine)
    return engine


def caller() -> RequestContext:
    """A caller of its own (its frames are new): tests that tamper with frames touch only
    theirs, never those other tests' sinks know as stored."""
    user = f"SE2321000131-T1-F{uuid.uuid4().hex[:8]}"
    return RequestContext(principal=staff_principal(subject=user),
                          attributes={CLIENT_ADDRESS: "10.1.2.3"})


def read(engine: Engine, sink: DatabaseAuditSink, ctx: RequestContext, n: int = 1,
         interaction: str = "read") -> None:
    for i in range(n):
        event = AuditRecord(interaction, "Observation", [f"o{i}"], patients=[f"p{i}"])
        run_in_transaction(engine, lambda conn, e=event: sink.record(conn, ctx, e),
                           write=interaction != "read")


def frames(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(audit_frame.c.digest, audit_frame.c.frame)).all())


def test_a_callers_entries_share_one_frame_and_read_back_whole(log: Engine) -> None:
    ctx, sink = caller(), DatabaseAuditSink()
    read(log, sink, ctx, 4)
    read(log, sink, ctx, 1, interaction="create")
    rows = log_rows(log)
    digests = [r["stored"][FRAME] for r in rows]
    assert len(set(digests[:4])) == 1 and digests[4] != digests[0]  # a write: frame of its own
    stored = frames(log)
    for digest in set(digests):  # content-addressed: the digest is the frame's sha256
        assert hashlib.sha256(stored[digest].encode()).hexdigest() == digest
    # What a read stores beside its frame is small; the agents are in the frame only.
    assert all(len(r["event"].encode()) < 600 and "agent" not in r["stored"] for r in rows)
    event = rows[0]["parsed"]
    assert event["resourceType"] == "AuditEvent" and event["action"] == "R"
    assert rows[4]["parsed"]["action"] == "C"
    user = event["agent"][0]
    assert user["who"]["identifier"] == {"system": HSA, "value": ctx.principal.subject}
    assert user["network"] == {"address": "10.1.2.3", "type": "2"}
    assert [a["type"]["coding"][0]["code"] for a in event["agent"][1:]] == [
        "care-unit", "care-provider", "110150"]
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert event["entity"][0]["what"] == {"reference": "Patient/p0"}
    assert event["id"] == rows[0]["stored"]["id"]


def test_an_altered_frame_is_found(log: Engine) -> None:
    ctx, sink = caller(), DatabaseAuditSink()
    read(log, sink, ctx, 3)
    seal(log)
    assert verify(log).ok
    digest = log_rows(log)[0]["stored"][FRAME]
    forged = frames(log)[digest].replace('"code":"TREAT"', '"code":"ETREAT"')
    with log.begin() as conn:
        conn.execute(update(audit_frame).where(audit_frame.c.digest == digest)
                     .values(frame=forged))
    report = verify(log)
    assert [p.kind for p in report.problems] == ["frame"]  # once, though three entries name it
    assert "was altered" in report.problems[0].message


def test_a_removed_frame_is_found(log: Engine) -> None:
    ctx, sink = caller(), DatabaseAuditSink()
    read(log, sink, ctx, 2)
    seal(log)
    first = log_rows(log)[0]
    with log.begin() as conn:
        conn.execute(delete(audit_frame).where(audit_frame.c.digest == first["stored"][FRAME]))
    report = verify(log)
    assert [p.kind for p in report.problems] == ["frame"]
    assert "was removed" in report.problems[0].message
    assert report.problems[0].seq == first["seq"]


def test_entries_stored_whole_before_frames_read_and_verify(log: Engine) -> None:
    ctx = caller()
    framed = audit_row(ctx, AuditRecord("read", "Observation", ["o1"], patients=["p1"]), 1e9)
    assert framed.frame is not None
    whole = render(json.loads(framed.event), {framed.frame.digest: json.loads(framed.frame.text)})
    old = AuditRow(framed.recorded, json.dumps(whole, sort_keys=True, separators=(",", ":")),
                   framed.columns, framed.patients)  # no frame: as stored before 0014
    run_in_transaction(log, lambda conn: store(conn, old))
    seal(log)
    assert verify(log).ok
    [row] = log_rows(log)
    assert row["parsed"] == whole and FRAME not in row["stored"]


def test_a_frame_written_by_a_rolled_back_transaction_is_not_taken_as_stored(
        log: Engine) -> None:
    ctx, sink = caller(), DatabaseAuditSink()
    frame = audit_row(ctx, AuditRecord("update", "Observation", ["o1"]), 1.0).frame
    assert frame is not None
    digest = frame.digest

    def fail(conn: Any) -> None:
        sink.record(conn, ctx, AuditRecord("update", "Observation", ["o1"]))
        raise RuntimeError("the write fails after it was logged")

    with pytest.raises(RuntimeError):
        run_in_transaction(log, fail)
    assert digest not in sink.known and digest not in frames(log)
    read(log, sink, ctx, 1, interaction="update")  # so the next entry stores it after all
    assert digest in sink.known and digest in frames(log)
    seal(log)
    assert verify(log).ok
