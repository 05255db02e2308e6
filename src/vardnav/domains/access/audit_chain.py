"""The access log's hash chain: sealing new rows into it, and verifying it.

Requests insert rows unsealed, in parallel. The sealer, one at a time (PostgreSQL: a
transaction-scoped advisory lock; SQLite: the write transaction's database lock), takes the
unsealed rows in `seq` order and gives each the next `chain_pos`, the previous row's hash as
`prev_hash`, and `hash = sha256(prev_hash + canonical JSON of the row)`, where the row is its
seq, chain position, time, AuditEvent text and indexed columns. So no request waits for the
chain, and chain order is sealing order: on PostgreSQL a row whose transaction commits late
is sealed late, with a later position, never skipped.

Verification walks the chain in order and recomputes every hash: an altered row no longer
matches its hash, a removed row leaves a gap in the positions (and a broken link), a moved
row matches its hash only at its old position. What it cannot see alone: rows removed from
the very end, or a chain recomputed wholesale by someone with write access; checking an
anchor (a position and hash kept elsewhere, `vardnav audit verify --anchor`) covers both.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, func, select, text, update

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_events import canonical, patients_in
from vardnav.domains.access.models import audit_log, audit_log_patient

GENESIS = "0" * 64
# The row fields the hash covers (with chain_pos); `hash`/`prev_hash` are the chain itself.
CHAINED = ("seq", "recorded", "event", "user_id", "kind", "unit", "provider", "purpose",
           "care_relationship", "interaction", "resource_type", "outcome")
# pg_advisory_xact_lock key: any fixed 64-bit number no other lock in Vårdnav uses.
SEAL_LOCK = int.from_bytes(hashlib.blake2b(b"vardnav.audit.seal", digest_size=8).digest(),
                           "big", signed=True)
STALE_SECONDS = 60.0
MAX_DIAGNOSED = 50  # problems explained in detail (each may scan the table once)


def row_hash(prev_hash: str, chain_pos: int, row: Mapping[str, Any]) -> str:
    payload = {name: row[name] for name in CHAINED}
    payload["chain_pos"] = chain_pos
    return hashlib.sha256((prev_hash + canonical(payload)).encode()).hexdigest()


# -- sealing ---------------------------------------------------------------------------------

def seal(engine: Engine, *, batch: int = 2000) -> int:
    """Seal every unsealed row; returns how many. Safe to run from several processes."""
    with engine.connect() as conn:  # most calls find nothing: take no lock for that
        if conn.execute(select(audit_log.c.seq).where(audit_log.c.chain_pos.is_(None))
                        .limit(1)).first() is None:
            return 0
    total = 0
    while True:
        done = run_in_transaction(engine, lambda conn: seal_batch(conn, batch))
        total += done
        if done < batch:
            return total


def seal_batch(conn: Connection, limit: int) -> int:
    """Seal up to `limit` rows in `conn`'s (write) transaction, holding the sealing lock."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK})
    a = audit_log
    head = conn.execute(select(a.c.chain_pos, a.c.hash).where(a.c.chain_pos.is_not(None))
                        .order_by(a.c.chain_pos.desc()).limit(1)).first()
    pos, prev = (int(head.chain_pos), str(head.hash)) if head is not None else (0, GENESIS)
    rows = conn.execute(select(*(a.c[name] for name in CHAINED))
                        .where(a.c.chain_pos.is_(None)).order_by(a.c.seq)
                        .limit(limit)).mappings().all()
    updates = []
    for row in rows:
        pos += 1
        digest = row_hash(prev, pos, row)
        updates.append({"b_seq": row["seq"], "b_pos": pos, "b_prev": prev, "b_hash": digest})
        prev = digest
    if updates and conn.dialect.name == "postgresql":
        conn.execute(_SEAL_ROWS, {"rows": orjson.dumps(updates).decode()})
    elif updates:
        conn.execute(_SEAL_ROW, updates)
    return len(updates)


_SEAL_ROW = (update(audit_log).where(audit_log.c.seq == bindparam("b_seq"))
             .values(chain_pos=bindparam("b_pos"), prev_hash=bindparam("b_prev"),
                     hash=bindparam("b_hash")))
# PostgreSQL: a batch is one statement (its rows as one JSON text), not one UPDATE per row.
_SEAL_ROWS = text("""
UPDATE audit_log AS a SET chain_pos = s.b_pos, prev_hash = s.b_prev, hash = s.b_hash
FROM json_to_recordset(CAST(:rows AS json)) AS s(b_seq bigint, b_pos bigint, b_prev text,
                                                  b_hash text)
WHERE a.seq = s.b_seq
""")


# -- verification ----------------------------------------------------------------------------

@dataclass
class Problem:
    kind: str  # altered, removed, reordered, unsealed, index, anchor
    message: str
    seq: int | None = None
    chain_pos: int | None = None


@dataclass
class ChainReport:
    sealed: int = 0
    unsealed: int = 0
    head_pos: int = 0
    head_hash: str = GENESIS
    first_recorded: float | None = None
    last_recorded: float | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine, *, now: float | None = None, stale_after: float = STALE_SECONDS,
           anchor: tuple[int, str] | None = None, batch: int = 5000) -> ChainReport:
    """Recompute the whole chain; every deviation is a Problem in the report."""
    now = time.time() if now is None else now
    report = ChainReport()
    with engine.connect() as conn:
        _walk(conn, report, now - stale_after, batch)
        _check_unsealed(conn, report, now - stale_after, stale_after)
        if anchor is not None:
            _check_anchor(conn, report, *anchor)
    return report


def _walk(conn: Connection, report: ChainReport, settled: float, batch: int) -> None:
    a = audit_log
    columns = [*(a.c[name] for name in CHAINED), a.c.chain_pos, a.c.prev_hash, a.c.hash]
    expected, prev = 1, GENESIS
    while True:
        rows = conn.execute(select(*columns).where(a.c.chain_pos >= expected)
                            .order_by(a.c.chain_pos).limit(batch)).mappings().all()
        if not rows:
            return
        indexed = _patient_index(conn, [r["seq"] for r in rows])
        for row in rows:
            pos = int(row["chain_pos"])
            if pos != expected:
                missing = pos - expected
                report.problems.append(Problem(
                    "removed", f"chain positions {expected}–{pos - 1} are missing: {missing} "
                    f"sealed record(s) were removed before seq {row['seq']}", row["seq"], pos))
            if row_hash(str(row["prev_hash"]), pos, row) != row["hash"]:
                report.problems.append(_mismatch(conn, row, pos, len(report.problems)))
            elif row["prev_hash"] != prev and pos == expected:
                _broken_link(conn, report, row, pos)
            if row["recorded"] < settled:
                _check_index(report, row, indexed.get(row["seq"], set()))
            prev, expected = str(row["hash"]), pos + 1
            report.sealed += 1
            report.head_pos, report.head_hash = pos, prev
            recorded = float(row["recorded"])
            report.first_recorded = min(report.first_recorded or recorded, recorded)
            report.last_recorded = max(report.last_recorded or recorded, recorded)


def _mismatch(conn: Connection, row: Mapping[str, Any], pos: int, found: int) -> Problem:
    """A row whose hash does not match: moved from another position, or altered."""
    seq = row["seq"]
    if found < MAX_DIAGNOSED:
        for origin in _neighbours(conn, row):
            if origin != pos and row_hash(str(row["prev_hash"]), origin, row) == row["hash"]:
                return Problem("reordered", f"the record seq {seq} was sealed at chain "
                               f"position {origin} but sits at {pos}: records were reordered",
                               seq, pos)
    return Problem("altered", f"the record seq {seq} at chain position {pos} was altered "
                   "after sealing: its content no longer matches its hash", seq, pos)


def _broken_link(conn: Connection, report: ChainReport, row: Mapping[str, Any],
                 pos: int) -> None:
    """An intact row that does not follow the row before it: its predecessor was removed or
    replaced, or (if still in the log elsewhere) moved."""
    a, seq = audit_log, row["seq"]
    before = conn.execute(select(a.c.chain_pos).where(a.c.hash == row["prev_hash"])).first()
    if before is None:
        report.problems.append(Problem(
            "removed", f"the record at chain position {pos} (seq {seq}) does not link to the "
            "record before it: a record was removed or replaced", seq, pos))
    elif not any(p.kind == "reordered" for p in report.problems):
        report.problems.append(Problem(
            "reordered", f"the record at chain position {pos} (seq {seq}) was chained after "
            f"the record now at position {before.chain_pos}: records were reordered", seq, pos))


def _neighbours(conn: Connection, row: Mapping[str, Any]) -> list[int]:
    """Positions the row may have been sealed at: next to the rows it was chained between."""
    a = audit_log
    after = conn.execute(select(a.c.chain_pos).where(a.c.prev_hash == row["hash"])).first()
    before = conn.execute(select(a.c.chain_pos).where(a.c.hash == row["prev_hash"])).first()
    found = [int(after.chain_pos) - 1] if after is not None else []
    if before is not None:
        found.append(int(before.chain_pos) + 1)
    if row["prev_hash"] == GENESIS:
        found.append(1)
    return found


def _patient_index(conn: Connection, seqs: list[int]) -> dict[int, set[str]]:
    p = audit_log_patient
    out: dict[int, set[str]] = {}
    for i in range(0, len(seqs), 500):
        for r in conn.execute(select(p.c.seq, p.c.patient).where(p.c.seq.in_(seqs[i:i + 500]))):
            out.setdefault(int(r.seq), set()).add(r.patient)
    return out


def _check_index(report: ChainReport, row: Mapping[str, Any], indexed: set[str]) -> None:
    # The patient index serves the log extract: a missing entry would hide an access there.
    named = set(patients_in(json.loads(row["event"])))
    if named != indexed:
        missing, extra = sorted(named - indexed), sorted(indexed - named)
        report.problems.append(Problem(
            "index", f"the patient index of seq {row['seq']} differs from the sealed record "
            f"(missing: {', '.join(missing) or '-'}; not in the record: "
            f"{', '.join(extra) or '-'})", row["seq"], int(row["chain_pos"])))


def _check_unsealed(conn: Connection, report: ChainReport, settled: float,
                    stale_after: float) -> None:
    a = audit_log
    unsealed = a.c.chain_pos.is_(None)
    report.unsealed = conn.execute(select(func.count()).where(unsealed)).scalar_one()
    stale = conn.execute(select(func.count(), func.min(a.c.seq))
                         .where(unsealed, a.c.recorded < settled)).one()
    if stale[0]:
        report.problems.append(Problem(
            "unsealed", f"{stale[0]} record(s) have waited more than {stale_after:.0f} s to be "
            f"sealed (oldest seq {stale[1]}): is the sealer running (`vardnav audit seal`)?",
            stale[1], None))


def _check_anchor(conn: Connection, report: ChainReport, pos: int, digest: str) -> None:
    found = conn.execute(select(audit_log.c.hash).where(audit_log.c.chain_pos == pos)).first()
    if found is None:
        report.problems.append(Problem(
            "anchor", f"the chain has no position {pos}, which the anchor names: records "
            "were removed from its end", None, pos))
    elif found.hash != digest:
        report.problems.append(Problem(
            "anchor", f"the record at chain position {pos} does not have the anchored hash: "
            "the chain was rewritten", None, pos))

