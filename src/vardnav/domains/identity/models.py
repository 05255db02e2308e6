"""Non-FHIR identity state: registered OAuth clients (apps and integrations), the ids of
client assertions already used (replay protection), sign-in accounts and login attempts."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table, Text

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

# Sign-in accounts: staff (username = HSA-id) and residents (username = 12-digit
# personnummer), with an argon2id password hash.
user_account = Table(
    "user_account", metadata,
    Column("username", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # staff, resident
    Column("password_hash", Text, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created", Float, nullable=False),
)

# Sign-in attempts per key ("user:<name>" or "ip:<address>") in the current window; in the
# database so that every server process sees the same counts.
login_failure = Table(
    "login_failure", metadata,
    Column("key", String(200), primary_key=True),
    Column("window_start", Float, nullable=False),
    Column("count", Integer, nullable=False),
)

