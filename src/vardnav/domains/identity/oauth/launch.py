"""EHR launch: the EHR registers the context it opens an app in (patient, encounter) and gets
an opaque `launch` value to pass to the app; the app sends it back to authorize.

A launch value is single use, lives `LAUNCH_SECONDS`, is stored hashed, and only works for
the staff member who created it (the same person must be signed in when the app authorizes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from vardnav.domains.identity.models import oauth_launch
from vardnav.domains.identity.oauth.opaque import digest, new_opaque

LAUNCH_SECONDS = 300


@dataclass(frozen=True)
class LaunchContext:
    patient: str
    encounter: str | None


def create_launch(conn: Connection, *, subject: str, patient: str,
                  encounter: str | None) -> str:
    now = time.time()
    conn.execute(delete(oauth_launch).where(oauth_launch.c.expires < now))
    value = new_opaque()
    conn.execute(insert(oauth_launch).values(
        launch_hash=digest(value), subject=subject, patient=patient, encounter=encounter,
        expires=now + LAUNCH_SECONDS))
    return value


def take_launch(conn: Connection, value: str, subject: str) -> LaunchContext | None:
    """The launch's context, used up; None if unknown, used, expired or someone else's."""
    key = digest(value)
    row = conn.execute(select(oauth_launch).where(oauth_launch.c.launch_hash == key)).first()
    if row is None or row.subject != subject:
        return None
    gone = conn.execute(delete(oauth_launch).where(oauth_launch.c.launch_hash == key))
    if gone.rowcount != 1 or row.expires < time.time():
        return None  # a concurrent request took it first, or it timed out
    return LaunchContext(row.patient, row.encounter)
