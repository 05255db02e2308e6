"""CSRF protection for the sign-in forms: a random token kept in the signed session and
echoed by every form in a hidden field (synchronizer token pattern)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

FIELD = "csrf"


def ensure_token(session: dict[str, Any]) -> str:
    token = session.get(FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = session[FIELD] = secrets.token_urlsafe(32)
    return token


def new_token(session: dict[str, Any]) -> str:
    """A fresh token: after signing in, so a token seen before sign-in is worth nothing."""
    session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def check(session: dict[str, Any], form: dict[str, str]) -> int | None:
    """None when the form carries the session's token; else the status to answer with:
    400 when the field (or the session) is missing, 403 when it does not match."""
    sent, expected = form.get(FIELD), session.get(FIELD)
    if not sent or not isinstance(expected, str):
        return 400
    return None if hmac.compare_digest(sent.encode(), expected.encode()) else 403
