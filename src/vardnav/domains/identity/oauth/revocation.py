"""Revoked access tokens: their ids (`jti`) are kept in `oauth_revoked_token` until the token
would have expired anyway.

`RevocationList.is_revoked` answers from an in-process copy of the revoked ids, reloaded at
most every `refresh_seconds` (2 s): checking a token costs no query per request, and a
revocation made by another server process takes effect here within that time. Revocations
noted on this process's own list (`added`) take effect at once.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Connection, Engine, delete, insert, select

from vardnav.domains.identity.models import revoked_token


def revoke_jti(conn: Connection, jti: str, expires: float) -> None:
    """Record a revoked access-token id (idempotent); rows past expiry are cleared."""
    now = time.time()
    conn.execute(delete(revoked_token).where(revoked_token.c.expires < now))
    if expires < now:
        return  # expired tokens are refused by validation anyway
    if conn.execute(select(revoked_token.c.jti).where(revoked_token.c.jti == jti)).first():
        return
    conn.execute(insert(revoked_token).values(jti=jti, expires=expires))


def jti_revoked(conn: Connection, jti: str) -> bool:
    """The authoritative (uncached) answer, for introspection."""
    return conn.execute(select(revoked_token.c.jti)
                        .where(revoked_token.c.jti == jti)).first() is not None


class RevocationList:
    def __init__(self, engine: Engine, *, refresh_seconds: float = 2.0) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._revoked: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def is_revoked(self, jti: str) -> bool:
        if time.monotonic() - self._loaded_at >= self.refresh_seconds:
            self._reload()
        return jti in self._revoked

    def added(self, jti: str) -> None:
        """Note a revocation this process just committed, so it applies without waiting."""
        with self._lock:
            self._revoked = self._revoked | {jti}

    def _reload(self) -> None:
        with self._lock:
            if time.monotonic() - self._loaded_at < self.refresh_seconds:
                return  # another thread reloaded while this one waited
            with self.engine.connect() as conn:
                rows = conn.execute(select(revoked_token.c.jti)
                                    .where(revoked_token.c.expires >= time.time()))
                self._revoked = frozenset(r.jti for r in rows)
            self._loaded_at = time.monotonic()
