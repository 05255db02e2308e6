"""Read entries of the access log written in the background (PostgreSQL, `serve`).

A read's access-log row costs the read more than the patient data law's check does: an
insert with seven index entries, on the request's path. While the server runs, read entries
are instead handed to one writer thread per process, which builds the entries (the request
hands over what they are built from: audit_events.PendingRead) and inserts everything
handed to it every `interval` seconds (default 50 ms) in one statement. Nothing is dropped: a failed
write keeps the rows and tries again; if the queue grows past `max_queue` (the database has
been away for a while) readers write their own rows again, and fail if that fails; at
shutdown the writer empties the queue. What the mode gives up: a server process killed
outright (or a machine crash) loses the read entries of its last `interval` — the same kind
of window as PostgreSQL's asynchronous commit (audit_log.py), which the foreground mode
has. Writes are never logged here: their rows commit with them. Set
VARDNAV_AUDIT_BACKGROUND_READS=false to log every read before its answer leaves.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from sqlalchemy import Connection, Engine

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_events import AuditRow, PendingRead

log = logging.getLogger(__name__)

Writer = Callable[[Connection, list[AuditRow]], None]
Entry = AuditRow | PendingRead  # a row, or what the writer builds one from


class BackgroundReads:
    def __init__(self, engine: Engine, write: Writer, *, interval: float = 0.05,
                 max_batch: int = 500, max_queue: int = 50_000) -> None:
        self.engine = engine
        self.write = write
        self.interval = interval
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: deque[Entry] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time keeps rows in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="access-log-reads",
                                        daemon=True)
        self._thread.start()

    def submit(self, row: Entry) -> bool:
        """Queue `row`; False if the queue is full (the caller writes the row itself)."""
        with self._lock:
            if len(self._queue) >= self.max_queue:
                return False
            self._queue.append(row)
        return True

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def flush(self, limit: int | None = None) -> None:
        """Write what is queued, in batches of at most `max_batch`: the first `limit` rows,
        or (None) until the queue is empty. On failure the rows stay queued, in order."""
        with self._flushing:
            left = limit
            while left is None or left > 0:
                with self._lock:
                    size = min(self.max_batch, len(self._queue))
                    batch = [self._queue.popleft()
                             for _ in range(size if left is None else min(size, left))]
                if not batch:
                    return
                if left is not None:
                    left -= len(batch)
                try:
                    self._write(batch)
                except Exception:
                    with self._lock:
                        self._queue.extendleft(reversed(batch))
                    raise

    def _write(self, entries: list[Entry]) -> None:
        # Built here, not queued built; a failed write builds them afresh (new event ids
        # for entries that were never stored).
        batch = [e.row() if isinstance(e, PendingRead) else e for e in entries]
        if self.engine.dialect.name != "postgresql":
            run_in_transaction(self.engine, lambda conn: self.write(conn, batch))
            return
        # On PostgreSQL `write` is one statement (read_rows.insert_rows), atomic on its own:
        # run without BEGIN and COMMIT, it is one round trip instead of three (measured, 14
        # rows a batch: 26 → 18 µs of Python and 41 → 34 µs of database CPU per row).
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            self.write(conn, batch)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # Only what was queued at the tick: emptying the queue instead chased the rows
                # that came in while a batch was written, in batches of two or three, and a
                # statement per few rows cost the server and the database twice the CPU per
                # row of one per interval (measured: bench/README.md, issue 4).
                self.flush(self.pending())
            except Exception:  # the database may be briefly away: the rows wait in order
                log.exception("Writing queued access-log read entries failed; will retry")
