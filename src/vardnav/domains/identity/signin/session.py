"""The sign-in session: a signed cookie holding who signed in and what they chose.

The cookie is signed (itsdangerous, HMAC) with a secret kept in `Settings.key_dir`, so the
browser can carry it but not alter it; it holds no password and no health data. A session
lives at most `SESSION_SECONDS` from the moment of authentication, however often it is
re-signed. Logging out deletes the cookie; a copied cookie stays valid until it expires
(nothing is kept server-side), which is why the lifetime is short.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from vardnav.config import Settings

LOGIN_PATH = "/login"
COOKIE_NAME = "vardnav_signin"
SESSION_SECONDS = 8 * 3600  # one working day
SECRET_FILE = "signin-session.secret"
_SALT = "vardnav.signin.session"
_secrets: dict[Path, bytes] = {}


@dataclass(frozen=True)
class SignIn:
    """A completed sign-in: who (authenticated how and when) and in which capacity."""

    kind: str  # "staff" or "resident"
    subject: str  # staff: HSA-id; resident: personnummer (12 digits)
    display_name: str
    method: str  # "password" or "oidc"
    auth_time: int  # epoch seconds
    # staff, after choosing an assignment:
    unit: str | None = None  # care unit HSA-id
    provider: str | None = None  # care provider HSA-id
    role: str | None = None  # profession code
    assignment: str | None = None  # PractitionerRole id
    # resident, after choosing whose record:
    patient: str | None = None  # Patient id
    fhir_user: str | None = None  # "Practitioner/<id>", "Patient/<id>", "RelatedPerson/<id>"

    @property
    def complete(self) -> bool:
        if self.kind == "staff":
            return bool(self.unit and self.provider and self.role and self.assignment)
        return self.kind == "resident" and bool(self.patient and self.fhir_user)


def sign_in_from(data: Any) -> SignIn | None:
    """A SignIn from its session form; None if malformed (an old or foreign cookie)."""
    if not isinstance(data, dict):
        return None
    names = {f.name for f in fields(SignIn)}
    try:
        found = SignIn(**{k: v for k, v in data.items() if k in names})
    except TypeError:
        return None
    text_ok = all(isinstance(getattr(found, n), str | None) for n in names - {"auth_time"})
    return found if text_ok and isinstance(found.auth_time, int) else None


def sign_in_data(sign_in: SignIn) -> dict[str, Any]:
    return {k: v for k, v in asdict(sign_in).items() if v is not None}


def _secret(key_dir: Path) -> bytes:
    """The cookie-signing secret, generated on first use (readable by the server only)."""
    if key_dir in _secrets:
        return _secrets[key_dir]
    path = key_dir / SECRET_FILE
    if not path.is_file():
        key_dir.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another server process made it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    value = path.read_text().strip().encode()
    if len(value) < 32:
        raise RuntimeError(f"{path} holds no usable secret; delete it to make a new one")
    _secrets[key_dir] = value
    return value


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(settings.key_dir), salt=_SALT)


def read_session(request: Request, settings: Settings) -> dict[str, Any]:
    """The session's contents; empty when absent, forged, malformed or expired."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return {}
    try:
        data = _serializer(settings).loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:  # includes SignatureExpired
        return {}
    return data if isinstance(data, dict) else {}


def write_session(response: Response, settings: Settings, data: dict[str, Any]) -> None:
    response.set_cookie(COOKIE_NAME, _serializer(settings).dumps(data),
                        max_age=SESSION_SECONDS, path="/", httponly=True, samesite="lax",
                        secure=settings.secure_cookies)


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=settings.secure_cookies)


def fresh(auth_time: int, now: float | None = None) -> bool:
    """Whether an authentication is recent enough to act on (the absolute session limit)."""
    at = now if now is not None else time.time()
    return auth_time <= at + 60 and at - auth_time < SESSION_SECONDS


def current_sign_in(request: Request, settings: Settings) -> SignIn | None:
    """The completed sign-in (assignment or record chosen) of this browser, or None."""
    found = sign_in_from(read_session(request, settings).get("user"))
    if found is None or not found.complete or not fresh(found.auth_time):
        return None
    return found
