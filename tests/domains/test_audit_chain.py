"""The access log's hash chain: sealing links every row, verification finds altered, removed
and reordered rows (tampering straight in the table), a broken patient index and rows left
unsealed; concurrent writers and sealers still make one consistent chain."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from audit_support import clear_log, log_rows, staff_principal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, select, update
from typer.testing import CliRunner

from conftest import patient
from vardnav.cli import app as cli
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_chain import (
    CHAINED,
    GENESIS,
    PG_DIGESTS,
    digests_in_range,
    entries_of,
    row_digest,
    seal,
    verify,
)
from vardnav.domains.access.audit_log import DatabaseAuditSink
from vardnav.domains.access.audit_sealer import Ticker, sealing
from vardnav.domains.access.models import audit_log, audit_log_patient, audit_seal
from vardnav.fhir.hooks import AuditRecord, RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

pytest_plugins = ("audit_fixtures",)  # its fixtures
SINK = DatabaseAuditSink()
CTX = RequestContext(principal=staff_principal())


@pytest.fixture
def log(engine: Engine) -> Engine:
    clear_log(engine)
    return engine


def record(engine: Engine, n: int, *, write: bool = True, patients: int = 2) -> None:
    for i in range(n):
        event = AuditRecord("read", "Observation", [f"o{i}"],
                            patients=[f"p{i}-{k}" for k in range(patients)])
        run_in_transaction(engine, lambda conn, e=event: SINK.record(conn, CTX, e),
                           write=write)


def kinds(report: Any) -> list[str]:
    return [p.kind for p in report.problems]


def seals(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_seal).order_by(audit_seal.c.number)))


def test_sealing_links_every_row_and_an_untouched_log_verifies(log: Engine) -> None:
    record(log, 5)
    assert verify(log).unsealed == 5
    assert seal(log) == 5
    record(log, 3, write=False)
    assert seal(log) == 3 and seal(log) == 0
    rows, chain = log_rows(log), seals(log)
    assert [(s.number, s.records) for s in chain] == [(1, 5), (2, 3)]
    assert chain[0].prev_hash == GENESIS and chain[1].prev_hash == chain[0].hash
    # Each seal lists its rows' seq numbers and digests, in order, covering its whole range.
    listed = [seq for s in chain for seq, _ in entries_of(s.entries)]
    assert listed == [r["seq"] for r in rows]
    assert chain[0].first_seq == 1 and chain[1].first_seq == chain[0].last_seq + 1
    assert [d for s in chain for _, d in entries_of(s.entries)] == [row_digest(r) for r in rows]
    report = verify(log)
    assert report.ok and report.sealed == 8 and report.unsealed == 0
    assert (report.head_seal, report.head_hash) == (2, chain[-1].hash)
    assert verify(log, anchor=(2, chain[-1].hash)).ok


def test_a_seal_holds_at_most_a_batch_and_sealing_never_touches_log_rows(log: Engine) -> None:
    record(log, 7)
    before = log_rows(log)
    assert seal(log, batch=3) == 7
    assert [s.records for s in seals(log)] == [3, 3, 1]
    assert log_rows(log) == before
    assert verify(log).ok


def _seq_at(engine: Engine, n: int) -> int:
    """The seq of the n-th log row (1-based)."""
    return int(log_rows(engine)[n - 1]["seq"])


def _tamper(engine: Engine, *statements: Any) -> None:
    with engine.begin() as conn:
        for stmt in statements:
            conn.execute(stmt)


def test_an_altered_record_is_found(log: Engine) -> None:
    record(log, 6)
    seal(log)
    seq = _seq_at(log, 3)
    forged = log_rows(log)[2]["event"].replace('"outcome":"0"', '"outcome":"4"')
    assert forged != log_rows(log)[2]["event"]
    _tamper(log, update(audit_log).where(audit_log.c.seq == seq).values(event=forged))
    report = verify(log)
    assert kinds(report) == ["altered"]
    assert f"the record seq {seq} (seal 1) was altered" in report.problems[0].message


def test_an_altered_column_is_found(log: Engine) -> None:
    record(log, 4)
    seal(log)
    seq = _seq_at(log, 2)
    _tamper(log, update(audit_log).where(audit_log.c.seq == seq).values(user_id="someone"))
    assert kinds(verify(log)) == ["altered"]


def test_a_removed_record_is_found(log: Engine) -> None:
    record(log, 6)
    seal(log)
    seq = _seq_at(log, 4)
    _tamper(log, delete(audit_log_patient).where(audit_log_patient.c.seq == seq),
            delete(audit_log).where(audit_log.c.seq == seq))
    report = verify(log)
    assert kinds(report) == ["removed"]
    assert f"1 sealed record(s) of seal 1 were removed: seq {seq}" in report.problems[0].message


def test_removing_the_first_or_last_records_is_found(log: Engine) -> None:
    record(log, 4)
    seal(log)
    first, last = _seq_at(log, 1), _seq_at(log, 4)
    _tamper(log, delete(audit_log_patient).where(audit_log_patient.c.seq.in_([first, last])),
            delete(audit_log).where(audit_log.c.seq.in_([first, last])))
    report = verify(log)
    assert kinds(report) == ["removed"]
    assert f"2 sealed record(s) of seal 1 were removed: seq {first}, {last}" in \
        report.problems[0].message


def test_removing_whole_seals_is_found_and_at_the_end_against_an_anchor(log: Engine) -> None:
    for _ in range(3):
        record(log, 2)
        seal(log)
    head = verify(log)
    assert head.head_seal == 3
    _tamper(log, delete(audit_seal).where(audit_seal.c.number == 2))
    assert kinds(verify(log)) == ["removed"]
    _tamper(log, delete(audit_seal).where(audit_seal.c.number == 3))
    # Rows and seals cut from the very end: the rest verifies, except against the anchor;
    # the cut rows, if left behind, wait as unsealed.
    report = verify(log, anchor=(head.head_seal, head.head_hash))
    assert kinds(report) == ["anchor"]
    assert "seals and records were removed from its end" in report.problems[0].message
    assert report.unsealed == 4


def test_a_rewritten_seal_is_found(log: Engine) -> None:
    record(log, 3)
    seal(log)
    record(log, 2)
    seal(log)
    _tamper(log, update(audit_seal).where(audit_seal.c.number == 1).values(last_seq=1))
    report = verify(log)
    assert "altered" in kinds(report)
    assert "seal 1 was altered: it no longer matches its hash" in \
        [p.message for p in report.problems]


def test_reordered_records_are_found(log: Engine) -> None:
    record(log, 6)
    seal(log)
    a, b = _seq_at(log, 2), _seq_at(log, 3)
    # Swap the two rows' places in the log (their seq numbers).
    _tamper(log, update(audit_log).where(audit_log.c.seq == a).values(seq=-1),
            update(audit_log).where(audit_log.c.seq == b).values(seq=a),
            update(audit_log).where(audit_log.c.seq == -1).values(seq=b))
    report = verify(log)
    assert kinds(report) == ["reordered", "reordered"]
    assert f"the record sealed as seq {b} (seal 1) now sits at seq {a}" in \
        report.problems[0].message


def test_a_record_slipped_into_a_sealed_range_is_found(log: Engine) -> None:
    record(log, 3)
    rows = log_rows(log)
    hole = rows[1]["seq"]
    # A transaction that rolled back leaves its seq unused; the seal's range still covers it.
    _tamper(log, delete(audit_log_patient).where(audit_log_patient.c.seq == hole),
            delete(audit_log).where(audit_log.c.seq == hole))
    assert seal(log) == 2
    assert verify(log).ok
    forged = {k: rows[0][k] for k in CHAINED}
    _tamper(log, audit_log.insert().values({**forged, "seq": hole}))
    report = verify(log)
    assert kinds(report) == ["inserted"]
    assert f"the record seq {hole} lies in the range of seal 1 but was not sealed" in \
        report.problems[0].message


def test_a_removed_patient_link_is_found(log: Engine) -> None:
    # The log extract reads the patient index: hiding an access there must not go unseen.
    record(log, 3)
    seal(log)
    seq = _seq_at(log, 2)
    _tamper(log, delete(audit_log_patient).where(audit_log_patient.c.seq == seq,
                                                 audit_log_patient.c.patient == "p1-0"))
    report = verify(log, now=time.time() + 120)
    assert kinds(report) == ["index"]
    assert "missing: p1-0" in report.problems[0].message


def test_rows_left_unsealed_are_reported(log: Engine) -> None:
    record(log, 2)
    assert verify(log).ok  # just written: the sealer has a minute
    report = verify(log, now=time.time() + 61)
    assert kinds(report) == ["unsealed"]
    assert "2 record(s) have waited more than 60 s" in report.problems[0].message


def test_cli_seal_and_verify(log: Engine, db_url: str,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARDNAV_DATABASE_URL", db_url)
    runner = CliRunner()
    record(log, 3)
    sealed = runner.invoke(cli, ["audit", "seal"])
    assert sealed.exit_code == 0 and "Sealed 3 record(s)" in sealed.output
    ok = runner.invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "The chain is intact" in ok.output
    head = next(line for line in ok.output.splitlines() if line.startswith("chain head: "))
    anchor = head.removeprefix("chain head: ").strip()
    assert runner.invoke(cli, ["audit", "verify", "--anchor", anchor]).exit_code == 0
    seq = _seq_at(log, 2)
    _tamper(log, update(audit_log).where(audit_log.c.seq == seq).values(outcome="failure"))
    bad = runner.invoke(cli, ["audit", "verify"], terminal_width=200)
    assert bad.exit_code == 1
    assert "altered" in bad.output and "does not verify" in bad.output


def test_concurrent_writers_readers_and_sealers_make_one_chain(
        log: Engine, db_audit_services: EngineServices) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        ctx = RequestContext(principal=staff_principal(subject=f"SE-W{n}"))
        try:
            for _ in range(8):
                pid = run_in_transaction(log, lambda conn: Repository(
                    conn, db_audit_services, ctx).create("Patient", patient()).id)
                run_in_transaction(log, lambda conn, p=pid: Repository(
                    conn, db_audit_services, ctx).read("Patient", p), write=False)
        except BaseException as exc:  # reported below
            errors.append(exc)

    def sealer() -> None:
        try:
            while not stop.is_set():
                seal(log)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    sealers = [threading.Thread(target=sealer) for _ in range(2)]
    for t in workers + sealers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    for t in sealers:
        t.join()
    assert errors == []
    seal(log)
    report = verify(log)
    assert report.ok, report.problems
    with log.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    assert report.sealed == total == 6 * 8 * 2
    assert report.seals >= 1 and report.unsealed == 0


def test_the_server_seals_in_the_background(log: Engine) -> None:
    async def scenario() -> None:
        async with sealing(log, 0.05):
            record(log, 3)
            for _ in range(100):
                if verify(log).unsealed == 0:
                    break
                await asyncio.sleep(0.05)
            assert verify(log).sealed == 3
            record(log, 2)
        # leaving the context seals what is left
        assert verify(log).sealed == 5

    asyncio.run(scenario())


def test_a_row_that_commits_late_below_visible_rows_is_sealed_not_skipped(log: Engine) -> None:
    """PostgreSQL hands out seq numbers before commit: a transaction still open holds a seq
    below rows already visible. Sealing waits for it instead of sealing past it."""
    if log.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: seq order is commit order")
    with log.connect() as slow:
        tx = slow.begin()
        SINK.record(slow, CTX, AuditRecord("read", "Observation", ["late"], patients=["p"]))
        record(log, 2)  # higher seq numbers, committed first
        assert seal(log, wait=0.2) == 0  # the open transaction's range is not settled
        ticker = Ticker(log)
        assert ticker.tick() == 0  # notes what it sees
        assert ticker.tick() == 0  # still running: keeps the older range
        tx.commit()
    assert ticker.tick() == 3  # settled: all three, in seq order
    report = verify(log)
    assert report.ok and report.sealed == 3 and report.unsealed == 0
    assert [r["seq"] for r in log_rows(log)] == sorted(
        seq for s in seals(log) for seq, _ in entries_of(s.entries))


# Any text PostgreSQL stores (no NUL, no lone surrogates), up to each column's length.
def _text(size: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                   max_size=size)


_LENGTHS = {"user_id": 140, "kind": 16, "unit": 64, "provider": 64, "purpose": 16,
            "care_relationship": 16, "interaction": 64, "resource_type": 64, "outcome": 8}
_ROW = st.fixed_dictionaries({
    **{name: (_text(size) if name in ("interaction", "outcome")
              else st.none() | _text(size)) for name, size in _LENGTHS.items()},
    "recorded": st.floats(1e9, 2e9) | st.floats() | st.integers(0, 2**45).map(float),
    "event": _text(300),
})


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=1, max_size=6))
def test_postgresql_hashes_every_row_as_python_does(log: Engine,
                                                     rows: list[dict[str, Any]]) -> None:
    """The sealer lets PostgreSQL hash the rows; verification hashes them in Python. Both
    must give the same digest for any row, or an untouched log would fail verification."""
    if log.dialect.name != "postgresql":
        pytest.skip("PostgreSQL computes the digests itself; SQLite's sealer uses Python's")
    with log.begin() as conn:
        after = int(conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar())
        conn.execute(audit_log.insert(), rows)
    with log.begin() as conn:
        by_sql = conn.execute(PG_DIGESTS, {"after": after, "upto": 2**62, "limit": 100}).all()
        digests = digests_in_range(conn, after, 2**62, 100)
        stored = conn.execute(select(*(audit_log.c[name] for name in CHAINED))
                              .where(audit_log.c.seq > after).order_by(audit_log.c.seq)
                              ).mappings().all()
    assert digests == [(int(r["seq"]), row_digest(r)) for r in stored]
    # Every ordinary row was hashed by PostgreSQL, not handed back to Python.
    for (_seq, digest), row in zip(by_sql, stored, strict=True):
        if 0.001 <= row["recorded"] < 1e15:
            assert digest is not None
