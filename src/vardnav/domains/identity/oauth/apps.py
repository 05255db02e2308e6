"""The app registry: OAuth clients that may ask Vårdnav for tokens."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select

from vardnav.domains.identity.models import oauth_client
from vardnav.domains.identity.oauth.client_secrets import MIN_SECRET_LENGTH, hash_secret
from vardnav.errors import BadRequest, Conflict

KINDS = ("backend", "confidential", "public")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._-]{3,128}$")


@dataclass(frozen=True)
class App:
    client_id: str
    name: str
    kind: str
    scopes: list[str]
    redirect_uris: list[str]
    jwks: dict[str, Any] | None
    secret_hash: str | None = None

    def public(self) -> dict[str, Any]:
        """The registration as shown to administrators (never the secret's hash)."""
        return {"client_id": self.client_id, "name": self.name, "kind": self.kind,
                "scopes": self.scopes, "redirect_uris": self.redirect_uris,
                "jwks": self.jwks, "client_secret": bool(self.secret_hash)}


def register_app(conn: Connection, *, client_id: str, name: str, kind: str,
                 scopes: list[str], redirect_uris: list[str] | None = None,
                 jwks: dict[str, Any] | None = None, client_secret: str | None = None) -> App:
    """Register a client; backend services must bring the public keys of their assertions,
    confidential apps a JWKS (private_key_jwt) or a client secret (client_secret_basic)."""
    if not _CLIENT_ID.match(client_id):
        raise BadRequest("A client id is 3-128 characters of A-Z a-z 0-9 . _ -")
    if kind not in KINDS:
        raise BadRequest(f"Kind must be one of {', '.join(KINDS)}")
    if kind == "backend" and not (jwks and jwks.get("keys")):
        raise BadRequest("A backend-services client needs a JWKS with its public keys")
    if kind != "backend" and not redirect_uris:
        raise BadRequest("An interactive app needs at least one redirect URI")
    if kind == "confidential" and not (client_secret or (jwks and jwks.get("keys"))):
        raise BadRequest("A confidential app needs a client secret or a JWKS")
    if client_secret is not None and (kind != "confidential"
                                      or len(client_secret) < MIN_SECRET_LENGTH):
        raise BadRequest("Only confidential apps have a secret, of at least "
                         f"{MIN_SECRET_LENGTH} characters")
    secret_hash = hash_secret(client_secret) if client_secret else None
    for uri in redirect_uris or []:
        parts = urlsplit(uri)
        # Exact-match redirect URIs must be absolute and fragment-free (RFC 6749 §3.1.2).
        if not parts.scheme or not (parts.netloc or parts.path) or parts.fragment or "#" in uri:
            raise BadRequest(f"Redirect URI {uri!r} must be absolute and without a fragment")
    if get_app(conn, client_id) is not None:
        raise Conflict(f"Client {client_id} is already registered")
    conn.execute(insert(oauth_client).values(
        client_id=client_id, name=name, kind=kind, scopes=" ".join(scopes),
        redirect_uris=redirect_uris or [], jwks=jwks, created=time.time(),
        client_secret_hash=secret_hash))
    return App(client_id, name, kind, scopes, redirect_uris or [], jwks, secret_hash)


def get_app(conn: Connection, client_id: str) -> App | None:
    row = conn.execute(select(oauth_client).where(oauth_client.c.client_id == client_id)).first()
    if row is None:
        return None
    return _app(row)


def list_apps(conn: Connection) -> list[App]:
    return [_app(row) for row in conn.execute(select(oauth_client)
                                              .order_by(oauth_client.c.client_id))]


def _app(row: Any) -> App:
    return App(row.client_id, row.name, row.kind, row.scopes.split(), row.redirect_uris,
               row.jwks, row.client_secret_hash)
