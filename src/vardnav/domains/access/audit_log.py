"""The database audit sink: every audited interaction becomes one `audit_log` row.

The row is written on the interaction's own connection, so a write and its log entry commit
or roll back together (a failed write raises before it is recorded, and its transaction
takes back whatever it had logged). Reads on PostgreSQL run in autocommit, so their row
commits at once — by default as an asynchronous commit (`synchronous_commit = off`): the
row is committed and visible before the answer leaves, but the server flushes it to disk
within a fraction of a second instead of making every read wait for a disk flush. While the
server runs, PostgreSQL reads hand their rows to a background writer instead
(background_reads.py, VARDNAV_AUDIT_BACKGROUND_READS). Only a
crash of the database server itself in that window loses read entries (never a write's:
those commit with the write). `VARDNAV_AUDIT_SYNCHRONOUS_READS=true` makes reads wait.
Rows are stored unsealed; the sealer chains them (audit_chain.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, insert
from sqlalchemy.exc import OperationalError

from vardnav.db.direct import Direct
from vardnav.db.engine import PREPARED
from vardnav.db.unit_of_work import after_commit, run_in_transaction
from vardnav.domains.access.audit_events import AuditRow, PendingRead, audit_row
from vardnav.domains.access.audit_frames import KnownFrames, store_frame
from vardnav.domains.access.background_reads import BackgroundReads
from vardnav.domains.access.models import audit_log, audit_log_patient
from vardnav.domains.access.read_rows import insert_rows
from vardnav.fhir.hooks import AuditRecord, RequestContext


class DatabaseAuditSink:
    """The production AuditSink (see fhir/hooks.py): persistent and append-only."""

    def __init__(self, clock: Callable[[], float] = time.time, *,
                 synchronous_reads: bool = False) -> None:
        self.clock = clock
        self.synchronous_reads = synchronous_reads
        # Set while the server runs with background reads (background_reads.py).
        self.background: BackgroundReads | None = None
        # The frames (audit_frames.py) this sink has seen committed to its database.
        self.known = KnownFrames()

    def record(self, conn: Connection, ctx: RequestContext, event: AuditRecord) -> None:
        recorded = self.clock()
        reading = not conn.info.get("write")
        if (conn.dialect.name == "postgresql" and reading and not self.synchronous_reads
                and conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"):
            background = self.background
            # The writer builds the entry (audit_events.PendingRead); the time is now.
            if background is None or not background.submit(
                    PendingRead.taken(ctx, event, recorded)):
                insert_rows(conn, [audit_row(ctx, event, recorded)], self.known)
            return
        row = audit_row(ctx, event, recorded)
        if conn.dialect.name == "sqlite" and reading:
            _store_beside_sqlite_read(conn, row, self.known)
        else:
            store(conn, row, self.known)


# Built once: statements with bound parameters hit SQLAlchemy's compiled cache.
# Plain inserts: their plans can be reused (PREPARED).
# On SQLite they run on the driver directly (db/direct.py).
_INSERT_ROW = Direct(insert(audit_log).execution_options(**PREPARED))
_INSERT_PATIENTS = Direct(insert(audit_log_patient).execution_options(**PREPARED))


def store(conn: Connection, row: AuditRow, known: KnownFrames | None = None) -> int:
    """Insert one row (its frame, unless `known` has seen it stored, and its patient index
    rows) in `conn`'s transaction; returns its seq."""
    frame = row.frame
    if frame is not None and (known is None or frame.digest not in known):
        store_frame(conn, frame)
        if known is not None:
            after_commit(conn, lambda: known.add((frame.digest,)))
    result = _INSERT_ROW(conn, {"recorded": row.recorded, "event": row.event, **row.columns})
    seq = int(result.inserted_primary_key[0])
    if row.patients:
        _INSERT_PATIENTS.many(conn, [{"patient": pid, "seq": seq} for pid in row.patients])
    return seq


def _store_beside_sqlite_read(conn: Connection, row: AuditRow, known: KnownFrames) -> None:
    # SQLite never waits when a read transaction turns into a write: if another writer holds
    # the lock, or committed since this read began, the insert fails at once (SQLITE_BUSY).
    # Then the row goes in a short write transaction of its own, which does wait for the
    # lock; like a PostgreSQL read (autocommit), the entry is committed before the answer.
    try:
        with conn.begin_nested():
            store(conn, row, known)
        return
    except OperationalError as exc:
        if "locked" not in str(exc.orig).lower() and "busy" not in str(exc.orig).lower():
            raise
    run_in_transaction(conn.engine, lambda own: store(own, row, known))
