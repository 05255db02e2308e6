"""Non-FHIR identity state: registered OAuth clients (apps and integrations) and the ids of
client assertions already used (replay protection)."""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, String, Table, Text

from vardnav.fhir.storage.tables import metadata

oauth_client = Table(
    "oauth_client", metadata,
    Column("client_id", String(128), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # backend, confidential, public
    Column("scopes", Text, nullable=False),  # the most this client may be granted
    Column("redirect_uris", JSON, nullable=False),
    Column("jwks", JSON, nullable=True),  # public keys for private_key_jwt
    Column("created", Float, nullable=False),
)

used_assertion = Table(
    "oauth_used_assertion", metadata,
    Column("jti", String(256), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("expires", Float, nullable=False),
)
