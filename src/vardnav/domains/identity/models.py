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
    # sha256 of a generated client secret (client_secret_basic); migration 0004b.
    Column("client_secret_hash", String(128), nullable=True),
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


# --- Authorisation-code grants (migration 0004b). Codes, launch values and refresh tokens are
# random bearer secrets: only their sha256 is stored, so a database dump cannot replay them.

oauth_launch = Table(
    "oauth_launch", metadata,  # EHR launch context, single use, minutes long
    Column("launch_hash", String(64), primary_key=True),
    Column("subject", String(256), nullable=False),  # the staff member who launched the app
    Column("patient", String(64), nullable=False),
    Column("encounter", String(64), nullable=True),
    Column("expires", Float, nullable=False),
)

oauth_pending_authorization = Table(
    "oauth_pending_authorization", metadata,  # an authorize request waiting on a patient choice
    Column("request_hash", String(64), primary_key=True),
    Column("subject", String(256), nullable=False),
    Column("request", JSON, nullable=False),
    Column("expires", Float, nullable=False),
)

oauth_authorization_code = Table(
    "oauth_authorization_code", metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("sign_in", JSON, nullable=False),  # who signed in, in which capacity
    Column("context", JSON, nullable=False),  # patient, encounter, need_patient_banner
    Column("nonce", Text, nullable=True),
    Column("family", String(64), nullable=False),  # the grant: refresh tokens share it
    Column("expires", Float, nullable=False),
    Column("used", Float, nullable=True),  # kept after use to detect a replayed code
    Column("access_jti", String(64), nullable=True),
    Column("access_expires", Float, nullable=True),
)

oauth_refresh_token = Table(
    "oauth_refresh_token", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family", String(64), nullable=False, index=True),
    Column("client_id", String(128), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("sign_in", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    Column("created", Float, nullable=False),
    Column("expires", Float, nullable=False, index=True),  # expired rows are cleared
    Column("rotated", Float, nullable=True),  # replaced by a newer token of the family
    Column("revoked", Boolean, nullable=False, default=False),
    # The access token issued alongside, revoked with the family.
    Column("access_jti", String(64), nullable=True),
    Column("access_expires", Float, nullable=True),
)

revoked_token = Table(
    "oauth_revoked_token", metadata,  # access-token ids refused until they expire anyway
    Column("jti", String(64), primary_key=True),
    Column("expires", Float, nullable=False),
)
