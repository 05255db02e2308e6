"""The app registry: OAuth clients that may ask Vårdnav for tokens."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from vardnav.domains.identity.models import oauth_client
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


def register_app(conn: Connection, *, client_id: str, name: str, kind: str,
                 scopes: list[str], redirect_uris: list[str] | None = None,
                 jwks: dict[str, Any] | None = None) -> App:
    """Register a client; backend services must bring the public keys of their assertions."""
    if not _CLIENT_ID.match(client_id):
        raise BadRequest("A client id is 3-128 characters of A-Z a-z 0-9 . _ -")
    if kind not in KINDS:
        raise BadRequest(f"Kind must be one of {', '.join(KINDS)}")
    if kind == "backend" and not (jwks and jwks.get("keys")):
        raise BadRequest("A backend-services client needs a JWKS with its public keys")
    if kind != "backend" and not redirect_uris:
        raise BadRequest("An interactive app needs at least one redirect URI")
    if get_app(conn, client_id) is not None:
        raise Conflict(f"Client {client_id} is already registered")
    conn.execute(insert(oauth_client).values(
        client_id=client_id, name=name, kind=kind, scopes=" ".join(scopes),
        redirect_uris=redirect_uris or [], jwks=jwks, created=time.time()))
    return App(client_id, name, kind, scopes, redirect_uris or [], jwks)


def get_app(conn: Connection, client_id: str) -> App | None:
    row = conn.execute(select(oauth_client).where(oauth_client.c.client_id == client_id)).first()
    if row is None:
        return None
    return App(row.client_id, row.name, row.kind, row.scopes.split(), row.redirect_uris,
               row.jwks)
