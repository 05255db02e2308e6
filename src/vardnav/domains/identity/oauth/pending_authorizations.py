"""Authorization requests waiting while a staff member picks the patient (standalone
`launch/patient`). The request is kept server-side under a random id that the picker form
carries, which also makes the form unforgeable from another site (it acts as a CSRF token)."""

from __future__ import annotations

import time

from sqlalchemy import Connection, delete, insert, select

from vardnav.domains.identity.models import oauth_pending_authorization as pending
from vardnav.domains.identity.oauth.authorize_request import AuthorizeRequest
from vardnav.domains.identity.oauth.opaque import digest, new_opaque

PENDING_SECONDS = 600


def hold(conn: Connection, request: AuthorizeRequest, subject: str) -> str:
    now = time.time()
    conn.execute(delete(pending).where(pending.c.expires < now))
    value = new_opaque()
    conn.execute(insert(pending).values(request_hash=digest(value), subject=subject,
                                        request=request.as_dict(), expires=now + PENDING_SECONDS))
    return value


def held(conn: Connection, value: str, subject: str) -> AuthorizeRequest | None:
    """The waiting request, if it exists, is current and belongs to this user."""
    row = conn.execute(select(pending).where(pending.c.request_hash == digest(value))).first()
    if row is None or row.subject != subject or row.expires < time.time():
        return None
    return AuthorizeRequest(**row.request)


def release(conn: Connection, value: str) -> None:
    conn.execute(delete(pending).where(pending.c.request_hash == digest(value)))
