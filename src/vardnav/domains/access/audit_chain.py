"""The access log's hash chain: sealing new rows into it, and verifying it.

Requests insert rows into `audit_log` and never change them. The sealer, one at a time
(PostgreSQL: a transaction-scoped advisory lock; SQLite: the database's write lock),
appends *seals* to `audit_seal`. A seal covers the next range of `seq` numbers: it lists
every row in the range as its seq and `sha256(row)` (the row's columns as canonical JSON, a
newline, then the AuditEvent text exactly as stored), and it is chained to the seal before
it: `hash = sha256(prev_hash + "number:first_seq:last_seq:" + the list)`. So sealing a
batch is one narrow insert. (Until migration 0012 every row was updated with its own chain
position and hashes: as much database work as writing the row again, measured, plus a dead
row version each.)

A range is sealed only once it is settled: no transaction still running can add a row to
it. A seq is handed out before its transaction commits, so on PostgreSQL a row can appear
below rows already visible. The sealer therefore notes the highest visible seq and the
transactions running at that moment (their virtual transaction ids, which every transaction
holds from its start): every seq up to it was handed out before, so once those transactions
have ended, the range is final — each of its rows is there, or was rolled back and never
will be. The server's sealer (audit_sealer.py) checks this on its next tick; `seal()` waits
for it. On SQLite the sealer's write transaction holds the only write lock: everything up to
the highest seq is settled.

Verification walks the seals in order, checks each one's hash and link, and compares the
rows in its range with its list: an altered row no longer matches its digest, a removed one
is missing, one added later was never listed, rows whose seq numbers were swapped match only
under each other's numbers. What it cannot see alone: seals and rows removed from the very
end, or a chain recomputed wholesale by someone with write access; checking an anchor (a
seal number and hash kept elsewhere, `vardnav audit verify --anchor`) covers both.
"""

from __future__ import annotations

import hashlib
import json
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_events import canonical, patients_in
from vardnav.domains.access.audit_frames import FRAME, load_frames
from vardnav.domains.access.models import audit_log, audit_log_patient, audit_seal

GENESIS = "0" * 64
# The row fields a digest covers; the AuditEvent text follows them as stored.
COLUMNS = ("seq", "recorded", "user_id", "kind", "unit", "provider", "purpose",
           "care_relationship", "interaction", "resource_type", "outcome")
CHAINED = (*COLUMNS, "event")
ENTRY = struct.Struct(">q32s")  # a seal's list: seq, sha256 digest of the row
# pg_advisory_xact_lock key: any fixed 64-bit number no other lock in Vårdnav uses.
SEAL_LOCK = int.from_bytes(hashlib.blake2b(b"vardnav.audit.seal", digest_size=8).digest(),
                           "big", signed=True)
STALE_SECONDS = 60.0
MAX_DIAGNOSED = 50  # suspect rows per seal tried under other seq numbers (reordering)


def row_digest(row: Mapping[str, Any]) -> bytes:
    head = canonical({name: row[name] for name in COLUMNS})
    return hashlib.sha256(head.encode() + b"\n" + str(row["event"]).encode()).digest()


def seal_hash(prev_hash: str, number: int, first_seq: int, last_seq: int,
              entries: bytes) -> str:
    header = f"{number}:{first_seq}:{last_seq}:".encode()
    return hashlib.sha256(prev_hash.encode() + header + entries).hexdigest()


def entries_of(blob: bytes) -> Iterator[tuple[int, bytes]]:
    return ENTRY.iter_unpack(blob)


# -- when a range is settled (PostgreSQL) ----------------------------------------------------

@dataclass(frozen=True)
class Frontier:
    """The highest seq visible at one moment, and the transactions running then."""

    seq: int
    running: frozenset[str]


# The transactions other client sessions of this database are running.
_RUNNING_SQL = """
SELECT l.virtualtransaction FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'virtualxid' AND l.pid <> pg_backend_pid()
  AND a.datname = current_database() AND a.backend_type = 'client backend'
"""
_OBSERVE = text(f"""
SELECT (SELECT coalesce(max(seq), 0) FROM audit_log) AS seq, ARRAY({_RUNNING_SQL}) AS running
""")
_RUNNING = text(_RUNNING_SQL)


def observe(conn: Connection) -> Frontier:
    """The highest visible seq, then the transactions running (in that order: any that
    holds a lower seq and is not visible yet is still running when the locks are read).
    Only client sessions of this database count: autovacuum and the like write no log
    rows, and a long vacuum must not hold the sealer back."""
    row = conn.execute(_OBSERVE).one()
    return Frontier(int(row.seq), frozenset(row.running or ()))


def still_running(conn: Connection, frontier: Frontier) -> bool:
    if not frontier.running:
        return False
    return bool(frontier.running & {r[0] for r in conn.execute(_RUNNING)})


# -- sealing ---------------------------------------------------------------------------------

def seal(engine: Engine, *, batch: int = 2000, wait: float = 10.0) -> int:
    """Seal every row committed before the call; returns how many. On PostgreSQL it first
    waits (up to `wait` seconds) for the transactions running at the call to end. Safe to
    run from several processes."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:  # most calls find nothing: take no lock for that
            if _highest(conn) <= sealed_upto(conn):
                return 0
        return seal_upto(engine, None, batch=batch)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        frontier = observe(conn)
        if frontier.seq <= sealed_upto(conn):  # most calls find nothing: take no lock
            return 0
        deadline = time.monotonic() + wait
        while still_running(conn, frontier) and time.monotonic() < deadline:
            time.sleep(0.005)
        if still_running(conn, frontier):
            return 0  # a long transaction: a later call seals the range
    return seal_upto(engine, frontier.seq, batch=batch)


def sealed_upto(conn: Connection) -> int:
    last = conn.execute(select(audit_seal.c.last_seq).order_by(audit_seal.c.number.desc())
                        .limit(1)).scalar()
    return int(last or 0)


def _highest(conn: Connection) -> int:
    return int(conn.execute(select(func.coalesce(func.max(audit_log.c.seq), 0))).scalar_one())


def seal_upto(engine: Engine, upto: int | None, *, batch: int = 2000) -> int:
    """Seal the settled rows up to seq `upto` (None: SQLite, the highest there is)."""
    total = 0
    while True:
        done, more = run_in_transaction(engine, lambda conn: seal_batch(conn, upto, batch))
        total += done
        if not more:
            return total


def seal_batch(conn: Connection, upto: int | None, limit: int) -> tuple[int, bool]:
    """Seal up to `limit` rows of the settled range in `conn`'s (write) transaction, holding
    the sealing lock: (rows sealed, whether more of the range is left)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEAL_LOCK})
    s = audit_seal
    head = conn.execute(select(s.c.number, s.c.last_seq, s.c.hash)
                        .order_by(s.c.number.desc()).limit(1)).first()
    number, after, prev = ((int(head.number), int(head.last_seq), str(head.hash))
                           if head is not None else (0, 0, GENESIS))
    if upto is None:  # SQLite: this transaction holds the write lock, so all is settled
        upto = _highest(conn)
    if upto <= after:
        return 0, False
    digests = digests_in_range(conn, after, upto, limit)
    if not digests:  # only rolled-back numbers: the next seal's range starts below them
        return 0, False
    more = len(digests) == limit
    last = digests[-1][0] if more else upto
    entries = b"".join(ENTRY.pack(seq, digest) for seq, digest in digests)
    number += 1
    conn.execute(insert(s).values(
        number=number, first_seq=after + 1, last_seq=last, records=len(digests),
        entries=entries, sealed=time.time(), prev_hash=prev,
        hash=seal_hash(prev, number, after + 1, last, entries)))
    return len(digests), more


def digests_in_range(conn: Connection, after: int, upto: int,
                     limit: int) -> list[tuple[int, bytes]]:
    """(seq, row_digest) of the first `limit` rows after seq `after` up to `upto`, in order."""
    if conn.dialect.name != "postgresql":
        return _hashed_here(conn, audit_log.c.seq > after, audit_log.c.seq <= upto,
                            limit=limit)
    conn.execute(text("SET LOCAL extra_float_digits = 1"))  # floats as Python writes them
    found = [(int(seq), digest) for seq, digest in conn.execute(
        PG_DIGESTS, {"after": after, "upto": upto, "limit": limit})]
    unsure = [seq for seq, digest in found if digest is None]
    # Rows PostgreSQL cannot spell as Python does are read and hashed here.
    mine = dict(_hashed_here(conn, audit_log.c.seq.in_(unsure))) if unsure else {}
    return [(seq, mine[seq] if digest is None else bytes(digest)) for seq, digest in found]


def _hashed_here(conn: Connection, *where: Any,
                 limit: int | None = None) -> list[tuple[int, bytes]]:
    """(seq, row_digest) of the rows matching `where`, in seq order, hashed in Python."""
    stmt = (select(*(audit_log.c[name] for name in CHAINED)).where(*where)
            .order_by(audit_log.c.seq).limit(limit))
    return [(int(r["seq"]), row_digest(r)) for r in conn.execute(stmt).mappings()]


def _pg_head() -> str:
    """`canonical` of a row's COLUMNS, spelled in SQL. Strings and numbers come out as
    json.dumps writes them (to_json escapes exactly the characters Python escapes); `recorded`
    only where PostgreSQL's shortest float text equals Python's repr (0.001 ≤ recorded < 1e15;
    integral values get Python's ".0"); elsewhere the head is NULL and Python hashes the row.
    Checked against row_digest for arbitrary rows by a property test."""
    recorded = ("CASE WHEN recorded >= 0.001 AND recorded < 1e15 THEN CASE WHEN recorded = "
                "trunc(recorded) THEN trunc(recorded)::numeric::text || '.0' ELSE "
                "recorded::text END END")
    parts = [f"'{'{' if i == 0 else ','}\"{name}\":' || "
             + (recorded if name == "recorded" else f"coalesce(to_json({name})::text, 'null')")
             for i, name in enumerate(sorted(COLUMNS))]
    return " || ".join(parts) + " || '}'"


# The sealer's digests computed by PostgreSQL: reading every row's AuditEvent text into
# Python to hash it cost about 15 µs per row, this about 7 (measured, 20,000 rows; the
# digests were identical). Only in a UTF-8 database, where convert_to changes nothing.
PG_DIGESTS = text(f"""
SELECT seq, CASE WHEN current_setting('server_encoding') = 'UTF8' THEN
    sha256(convert_to({_pg_head()} || E'\\n' || event, 'UTF8')) END AS digest
FROM audit_log WHERE seq > :after AND seq <= :upto ORDER BY seq LIMIT :limit
""")


# -- verification ----------------------------------------------------------------------------

@dataclass
class Problem:
    kind: str  # altered, removed, inserted, reordered, unsealed, index, frame, anchor
    message: str
    seq: int | None = None
    seal: int | None = None


@dataclass
class ChainReport:
    sealed: int = 0  # records found as sealed
    unsealed: int = 0
    seals: int = 0
    head_seal: int = 0
    head_hash: str = GENESIS
    first_recorded: float | None = None
    last_recorded: float | None = None
    problems: list[Problem] = field(default_factory=list)
    frames_checked: set[str] = field(default_factory=set)  # frames found as named (digests)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(engine: Engine, *, now: float | None = None, stale_after: float = STALE_SECONDS,
           anchor: tuple[int, str] | None = None, batch: int = 50) -> ChainReport:
    """Recompute the whole chain; every deviation is a Problem in the report."""
    now = time.time() if now is None else now
    report = ChainReport()
    with engine.connect() as conn:
        last_seq = _walk(conn, report, now - stale_after, batch)
        _check_unsealed(conn, report, last_seq, now - stale_after, stale_after)
        if anchor is not None:
            _check_anchor(conn, report, *anchor)
    return report


def _walk(conn: Connection, report: ChainReport, settled: float, batch: int) -> int:
    """Check every seal and the rows of its range; returns the last sealed seq."""
    s = audit_seal
    expected, prev, last_seq = 1, GENESIS, 0
    while True:
        seals = conn.execute(select(s).where(s.c.number >= expected).order_by(s.c.number)
                             .limit(batch)).all()
        if not seals:
            return last_seq
        for seal_row in seals:
            number = int(seal_row.number)
            if number != expected:
                report.problems.append(Problem(
                    "removed", f"seals {expected}–{number - 1} are missing: the records of "
                    f"seq {last_seq + 1}–{int(seal_row.first_seq) - 1} lost their seals",
                    None, number))
            elif seal_row.prev_hash != prev or int(seal_row.first_seq) != last_seq + 1:
                report.problems.append(Problem(
                    "altered", f"seal {number} does not follow seal {number - 1}: the chain "
                    "of seals was altered", None, number))
            entries = bytes(seal_row.entries)
            if seal_hash(str(seal_row.prev_hash), number, int(seal_row.first_seq),
                         int(seal_row.last_seq), entries) != seal_row.hash:
                report.problems.append(Problem(
                    "altered", f"seal {number} was altered: it no longer matches its hash",
                    None, number))
            _check_rows(conn, report, seal_row, dict(entries_of(entries)), settled)
            prev, last_seq, expected = str(seal_row.hash), int(seal_row.last_seq), number + 1
            report.seals += 1
            report.head_seal, report.head_hash = number, prev


def _check_rows(conn: Connection, report: ChainReport, seal_row: Any,
                listed: dict[int, bytes], settled: float) -> None:
    number = int(seal_row.number)
    rows = {int(r["seq"]): r for r in conn.execute(
        select(*(audit_log.c[name] for name in CHAINED))
        .where(audit_log.c.seq >= seal_row.first_seq, audit_log.c.seq <= seal_row.last_seq)
        ).mappings()}
    indexed = _patient_index(conn, list(rows))
    named: dict[str, int] = {}  # frame digest → the first seq naming it
    suspects = []
    for seq, row in rows.items():
        if listed.get(seq) != row_digest(row):
            suspects.append(seq)
            continue
        report.sealed += 1
        event = json.loads(row["event"])
        if event.get(FRAME) is not None:
            named.setdefault(str(event[FRAME]), seq)
        if row["recorded"] < settled:
            _check_index(report, row, event, indexed.get(seq, set()), number)
        recorded = float(row["recorded"])
        report.first_recorded = min(report.first_recorded or recorded, recorded)
        report.last_recorded = max(report.last_recorded or recorded, recorded)
    _check_frames(conn, report, named, number)
    missing = [seq for seq in listed if seq not in rows]
    # Rows moved to other seq numbers match the digest listed for their old number.
    others = [seq for seq in [*suspects, *missing] if seq in listed][:MAX_DIAGNOSED]
    moved: set[int] = set()
    for seq in suspects:
        origin = next((o for o in others if o != seq and o not in moved
                       and row_digest({**rows[seq], "seq": o}) == listed[o]), None)
        if origin is not None:
            moved.add(origin)
            report.problems.append(Problem(
                "reordered", f"the record sealed as seq {origin} (seal {number}) now sits at "
                f"seq {seq}: records were reordered", seq, number))
        elif seq in listed:
            report.problems.append(Problem(
                "altered", f"the record seq {seq} (seal {number}) was altered after sealing: "
                "its content no longer matches its digest", seq, number))
        else:
            report.problems.append(Problem(
                "inserted", f"the record seq {seq} lies in the range of seal {number} but was "
                "not sealed: it was added afterwards", seq, number))
    removed = [seq for seq in missing if seq not in moved]
    if removed:
        report.problems.append(Problem(
            "removed", f"{len(removed)} sealed record(s) of seal {number} were removed: "
            f"seq {_spans(removed)}", removed[0], number))


def _spans(seqs: list[int]) -> str:
    """1, 2, 3, 7 → "1–3, 7"."""
    out: list[str] = []
    for seq in sorted(seqs):
        if out and out[-1].rsplit("–", 1)[-1] == str(seq - 1):
            out[-1] = f"{out[-1].split('–')[0]}–{seq}"
        else:
            out.append(str(seq))
    return ", ".join(out)


def _patient_index(conn: Connection, seqs: list[int]) -> dict[int, set[str]]:
    p = audit_log_patient
    out: dict[int, set[str]] = {}
    for i in range(0, len(seqs), 500):
        for r in conn.execute(select(p.c.seq, p.c.patient).where(p.c.seq.in_(seqs[i:i + 500]))):
            out.setdefault(int(r.seq), set()).add(r.patient)
    return out


def _check_frames(conn: Connection, report: ChainReport, named: dict[str, int],
                  number: int) -> None:
    """Each frame the sealed records name must be there, unaltered: a record's digest covers
    only its frame's digest (audit_frames.py). Each frame is checked once per verification."""
    unchecked = {d: seq for d, seq in named.items() if d not in report.frames_checked}
    stored = load_frames(conn, unchecked)
    for digest, seq in sorted(unchecked.items(), key=lambda item: item[1]):
        text = stored.get(digest)
        if text is None:
            report.problems.append(Problem(
                "frame", f"the frame {digest[:16]}… named by seq {seq} (seal {number}) and any "
                "later record naming it was removed: their agents, action and purpose are lost",
                seq, number))
        elif hashlib.sha256(text.encode()).hexdigest() != digest:
            report.problems.append(Problem(
                "frame", f"the frame {digest[:16]}… named by seq {seq} (seal {number}) and any "
                "later record naming it was altered: it no longer matches its digest",
                seq, number))
        report.frames_checked.add(digest)


def _check_index(report: ChainReport, row: Mapping[str, Any], event: dict[str, Any],
                 indexed: set[str], number: int) -> None:
    # The patient index serves the log extract: a missing entry would hide an access there.
    named = set(patients_in(event))
    if named != indexed:
        missing, extra = sorted(named - indexed), sorted(indexed - named)
        report.problems.append(Problem(
            "index", f"the patient index of seq {row['seq']} differs from the sealed record "
            f"(missing: {', '.join(missing) or '-'}; not in the record: "
            f"{', '.join(extra) or '-'})", row["seq"], number))


def _check_unsealed(conn: Connection, report: ChainReport, last_seq: int, settled: float,
                    stale_after: float) -> None:
    a = audit_log
    unsealed = a.c.seq > last_seq
    report.unsealed = conn.execute(select(func.count()).where(unsealed)).scalar_one()
    stale = conn.execute(select(func.count(), func.min(a.c.seq))
                         .where(unsealed, a.c.recorded < settled)).one()
    if stale[0]:
        report.problems.append(Problem(
            "unsealed", f"{stale[0]} record(s) have waited more than {stale_after:.0f} s to be "
            f"sealed (oldest seq {stale[1]}): is the sealer running (`vardnav audit seal`)?",
            stale[1], None))


def _check_anchor(conn: Connection, report: ChainReport, number: int, digest: str) -> None:
    found = conn.execute(select(audit_seal.c.hash).where(audit_seal.c.number == number)
                         ).first()
    if found is None:
        report.problems.append(Problem(
            "anchor", f"the chain has no seal {number}, which the anchor names: seals and "
            "records were removed from its end", None, number))
    elif found.hash != digest:
        report.problems.append(Problem(
            "anchor", f"seal {number} does not have the anchored hash: the chain was "
            "rewritten", None, number))
