"""Access-log entries stored compactly: the parts of an AuditEvent that a caller repeats in
every entry are stored once, as a *frame*, and each entry names its frame by digest.

A frame is what one caller's entries of one interaction and purpose have in common: the
type, subtype and action, the agents (user, care unit, care provider, app), the purpose of
use and the source. That is about 1.4 kB of a read's 1.8 kB AuditEvent. An entry stores the
rest: its id, time, outcome, entities (patients and resources), the caller's network address
and the frame's sha256 (≈ 0.45 kB for a read). Every entry's bytes are parsed, written,
WAL-logged and hashed again by the sealer: with the frame apart, a read's entry took
PostgreSQL 39–43 → 33–39 µs to insert and 27–37 → 15–26 µs to hash, the writer 34.5–37.5 →
29.5–33 µs to build and send, and 2,408 → 1,107 bytes of WAL (three alternated pairs of
30,000 entries, bench/README.md).

The chain still covers everything: an entry's digest covers the frame's digest, and
`vardnav audit verify` checks every frame against the digest that names it, so an altered
or removed frame is found like an altered record. Frames are content-addressed and only
ever added (`audit_frame`), never changed. Entries stored before frames (whole AuditEvents,
no "frame" key) are read as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from vardnav.domains.access.models import audit_frame

FRAME = "frame"  # the stored entry's key naming its frame
ADDRESS = "address"  # the stored entry's key for the caller's network address


@dataclass(frozen=True)
class Frame:
    digest: str  # sha256 of `text`, hex
    text: str  # canonical JSON (sorted keys, no spaces), hashed as stored


def make_frame(parts: dict[str, Any]) -> Frame:
    text = orjson.dumps(parts, option=orjson.OPT_SORT_KEYS).decode()
    return Frame(hashlib.sha256(text.encode()).hexdigest(), text)


def render(stored: dict[str, Any], frames: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The AuditEvent of a stored entry, its frame filled in (KeyError: no such frame)."""
    digest = stored.get(FRAME)
    if digest is None:
        return stored  # stored whole, before frames
    frame = frames[digest]
    event = {**frame, **{k: v for k, v in stored.items() if k not in (FRAME, ADDRESS)}}
    address = stored.get(ADDRESS)
    if address:
        agents = list(frame["agent"])
        agents[0] = {**agents[0], "network": {"address": address, "type": "2"}}  # 2: IP
        event["agent"] = agents
    return event


def frame_digests(events: Iterable[dict[str, Any]]) -> set[str]:
    return {str(e[FRAME]) for e in events if e.get(FRAME) is not None}


def load_frames(conn: Connection, digests: Iterable[str]) -> dict[str, str]:
    """digest → frame text, for the digests that have a stored frame."""
    wanted = sorted(set(digests))
    found: dict[str, str] = {}
    for i in range(0, len(wanted), 500):
        found.update(conn.execute(select(audit_frame.c.digest, audit_frame.c.frame)
                                  .where(audit_frame.c.digest.in_(wanted[i:i + 500]))).all())
    return found


def parsed_frames(conn: Connection, events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """digest → parsed frame, for rendering the given stored entries."""
    return {d: orjson.loads(t) for d, t in load_frames(conn, frame_digests(events)).items()}


class KnownFrames:
    """The frames this process has seen committed: entries naming them need not send them.
    Bounded; forgetting one only means sending it once more (the insert skips it)."""

    def __init__(self, limit: int = 20_000) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def __contains__(self, digest: object) -> bool:
        return digest in self._known

    def add(self, digests: Iterable[str]) -> None:
        if len(self._known) > self.limit:
            self._known.clear()
        self._known.update(digests)


def store_frame(conn: Connection, frame: Frame) -> None:
    """Insert `frame` unless it is there, on `conn` (in its transaction, if any)."""
    values = {"digest": frame.digest, "frame": frame.text}
    if conn.dialect.name == "postgresql":
        stmt: Any = pg_insert(audit_frame).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(audit_frame).values(values).on_conflict_do_nothing()
    conn.execute(stmt)
