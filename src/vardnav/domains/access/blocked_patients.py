"""Which patients have blocks at all: lets a search skip the block-notice statement.

Every staff search that returns a patient's data asks the database whether blocks hide
anything from the caller (block_notices.py). Blocks are rare, and that statement was the
largest single cost the patient data law added to a search (measured in-process on the 1M
store: a patient's sorted Observation search 28 % slower than allow-all with it, 6 %
without it). So each server process keeps the set of patients that have any block row,
and asks the database only about those.

How the set stays right (PostgreSQL): a trigger (migration 0013) sends a NOTIFY with the
patient id whenever a block row is written, at commit; a watcher thread LISTENs first,
then loads every patient with a block row, then adds each patient it is told about. A
block written by this process is added at once, before its commit (the derivation that
writes it calls `add`), so this process's own next search never races the notification;
other processes learn of it when the notification arrives, milliseconds after the commit.
In that window a search elsewhere may answer without the notice — the blocked data itself
stays hidden either way: the block is enforced inside every query (pdl_policy.py), not
here. If the watcher's connection is lost, the set is dropped until it has reconnected and
reloaded, and every search asks the database meanwhile.

The set only grows (a lifted or voided block leaves its patient in it: one statement more
for that patient's searches); it is loaded afresh when the watcher (re)connects. Without
a running watcher (SQLite, the CLI, tests that do not start the server), `might_have` is
always true: the statement runs as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import AsyncIterator, Iterable
from typing import Any

import psycopg
from sqlalchemy import Engine

from vardnav.db.unit_of_work import thread_to_the_end

log = logging.getLogger(__name__)
CHANNEL = "vardnav_pdl_block"
WATCHER = "vardnav-block-watcher"  # the watcher connection's application_name


class BlockedPatients:
    def __init__(self, known: Iterable[str] | None = None) -> None:
        # None: not watched, ask the database. Given `known`, the set counts as watched from
        # the start (for a caller that keeps it up to date itself).
        self._known: set[str] | None = None if known is None else set(known)
        self._lock = threading.Lock()
        # The running watcher: its thread, the event that stops it, and a pipe stop() writes
        # to, to wake it. Each start makes its own, so a watcher being stopped never sees the
        # next one's start.
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = (-1, -1)
        # Several lifespans of one app (test clients) may start and stop it at once.
        self._lifecycle = threading.Lock()

    def might_have(self, patients: Iterable[str]) -> bool:
        """False only if none of `patients` has a block row, as far as the watched set
        knows; True whenever the set is not being watched."""
        known = self._known
        return known is None or any(p in known for p in patients)

    def add(self, patient: str) -> None:
        """A block row for `patient` is being written by this process."""
        with self._lock:
            if self._known is not None:
                self._known.add(patient)

    @property
    def watching(self) -> bool:
        return self._known is not None

    # -- the watcher (PostgreSQL) -----------------------------------------------------------

    def start(self, engine: Engine, *, retry_seconds: float = 2.0) -> None:
        """Watch the block table of `engine`'s database in a thread (PostgreSQL only)."""
        if engine.dialect.name != "postgresql":
            return
        conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        with self._lifecycle:
            if self._thread is not None:
                return
            self._stop, self._wake = threading.Event(), os.pipe()
            with self._lock:  # unknown until this watcher has loaded (not an older one's)
                self._known = None
            self._thread = threading.Thread(
                target=self._watch, args=(conninfo, retry_seconds, self._stop, self._wake[0]),
                name="pdl-block-watcher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lifecycle:
            stopped = self._stop
            stopped.set()
            thread, wake = self._thread, self._wake
            self._thread, self._wake = None, (-1, -1)
        if thread is not None:
            os.write(wake[1], b"x")
            thread.join(10)
            if not thread.is_alive():  # else it may still select on them: leave them open
                for fd in wake:
                    os.close(fd)
        self._watched_by(stopped, None)  # unless a newer watcher runs: the set is its own

    def _watched_by(self, stop: threading.Event, known: set[str] | None) -> None:
        """Set the watched set, if the watcher stopped by `stop` is still the current one:
        a stopped watcher's late load or exit must not overwrite a newer watcher's set."""
        with self._lock:
            if self._stop is stop:
                self._known = known

    def _watch(self, conninfo: str, retry_seconds: float, stop: threading.Event,
               wake: int) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True,
                                     application_name=WATCHER) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")  # before loading: nothing falls between
                    loaded = {row[0] for row in conn.execute(
                        "SELECT DISTINCT patient_id FROM pdl_block")}
                    self._watched_by(stop, loaded)
                    while not stop.is_set():
                        for note in conn.notifies(timeout=0):  # those already received
                            self.add(note.payload)
                        # Sleep, without the GIL, until the database sends something or
                        # stop() writes to the pipe: psycopg's notifies(timeout=...) wakes
                        # every 0.1 s to look, 1.5–3.5 µs of a worker's CPU per read under load.
                        select.select([conn.fileno(), wake], [], [])
            except Exception:  # the database went away: ask it per search until back
                log.warning("Block watcher lost its connection; searches ask the database "
                            "until it is back", exc_info=True)
            self._watched_by(stop, None)
            stop.wait(retry_seconds)


@contextlib.asynccontextmanager
async def watching_blocks(notice_sources: Iterable[Any], engine: Engine) -> AsyncIterator[None]:
    """While open (the server's lifespan), the BlockedPatients of `notice_sources` (the
    engine's notice hooks) are watched on PostgreSQL."""
    watched = [s.blocked for s in notice_sources
               if isinstance(getattr(s, "blocked", None), BlockedPatients)]
    for blocked in watched:
        blocked.start(engine)
    try:
        yield
    finally:
        for blocked in watched:
            await thread_to_the_end(blocked.stop)
