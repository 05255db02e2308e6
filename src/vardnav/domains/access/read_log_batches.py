"""Group commit for the access log's read entries on PostgreSQL.

Every read writes its access-log row before the answer leaves. With many requests in flight
that is one insert and one commit each; here the rows of requests that arrive while another
request is writing wait for a moment and are then written together, by one of those requests,
in one statement (its own commit, asynchronous as for single rows: see audit_log.py). A
request still returns only after its own row is committed, so no entry is ever dropped
silently, and a single request alone writes its row at once, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import orjson
from sqlalchemy import Connection, text

from vardnav.db.engine import PREPARED
from vardnav.domains.access.audit_events import AuditRow

ROW_COLUMNS = ("user_id", "kind", "unit", "provider", "purpose", "care_relationship",
               "interaction", "resource_type", "outcome")
MAX_BATCH = 64

# One statement for any number of rows. The rows travel as one JSON array in one text
# parameter (orjson writes it; PostgreSQL parses it): text[] parameters would make psycopg
# escape every quote of every event in Python, which cost more than the insert itself. Each
# row's patients are one space-separated text (FHIR ids have no spaces), matched to the row's
# new seq through its event text (unique: every AuditEvent has its own id). ORDER BY keeps
# the rows' seq order the order they were submitted in.
_COLUMNS = ", ".join(ROW_COLUMNS)
_INSERT_BATCH = text(f"""
WITH local_settings AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
input AS (
    SELECT r.*, e.ord
    FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS e(value, ord)
    CROSS JOIN LATERAL json_to_record(e.value) AS r(
        recorded float8, event text, {" text, ".join(ROW_COLUMNS)} text, patients text)
),
new_rows AS (
    INSERT INTO audit_log (recorded, event, {_COLUMNS})
    SELECT recorded, event, {_COLUMNS}
    FROM input CROSS JOIN local_settings ORDER BY ord
    RETURNING seq, event
)
INSERT INTO audit_log_patient (patient, seq)
SELECT p.patient, new_rows.seq
FROM new_rows JOIN input ON input.event = new_rows.event
CROSS JOIN LATERAL unnest(string_to_array(input.patients, ' ')) AS p(patient)
WHERE input.patients <> ''
""").execution_options(**PREPARED)


def insert_rows(conn: Connection, rows: list[AuditRow]) -> None:
    payload = [{"recorded": r.recorded, "event": r.event, "patients": " ".join(r.patients),
                **{c: r.columns.get(c) for c in ROW_COLUMNS}} for r in rows]
    conn.execute(_INSERT_BATCH, {"rows": orjson.dumps(payload).decode()})


class _Waiting:
    __slots__ = ("error", "leads", "row", "wake", "written")

    def __init__(self, row: AuditRow) -> None:
        self.row = row
        self.wake = threading.Event()
        self.written = False
        self.leads = False
        self.error: BaseException | None = None


class ReadLogBatches:
    """One per process: request threads hand their read entries here (see the module doc)."""

    def __init__(self, max_batch: int = MAX_BATCH,
                 write: Callable[[Connection, list[AuditRow]], None] | None = None) -> None:
        self.max_batch = max_batch
        self.write = write or insert_rows
        self._lock = threading.Lock()
        self._queue: list[_Waiting] = []
        self._writing = False

    def store(self, conn: Connection, row: AuditRow) -> None:
        """Return once `row` is committed; write it (and others') on `conn` if it falls to
        this request to write."""
        me = _Waiting(row)
        with self._lock:
            self._queue.append(me)
            if not self._writing:
                self._writing = me.leads = True
        while not me.leads:
            me.wake.wait()
            me.wake.clear()
            if me.written:
                if me.error is not None:
                    raise me.error
                return
        self._write_until_mine_is_done(conn, me)

    def _write_until_mine_is_done(self, conn: Connection, me: _Waiting) -> None:
        try:
            while not me.written:
                with self._lock:
                    batch = self._queue[:self.max_batch]
                    del self._queue[:self.max_batch]
                error: BaseException | None = None
                try:
                    self.write(conn, [w.row for w in batch])
                except BaseException as exc:  # every waiter of the batch learns of it
                    error = exc
                for waiting in batch:
                    waiting.error, waiting.written = error, True
                    if waiting is not me:
                        waiting.wake.set()
        finally:
            with self._lock:  # the next in line writes what has come in meanwhile
                if self._queue:
                    successor = self._queue[0]
                    successor.leads = True
                    successor.wake.set()
                else:
                    self._writing = False
        if me.error is not None:
            raise me.error
