"""Subscription state that is not FHIR: delivery state per Subscription, the outbox of
notifications, the cache generation, the delivery lease and websocket binding tokens.
Times are epoch seconds."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from vardnav.fhir.storage.tables import RidType as _ID
from vardnav.fhir.storage.tables import metadata

# One row per Subscription resource, kept in step with it by the write listener. `events`
# counts the events matched since the subscription started (the backport's
# events-since-subscription-start); events 1..delivered_upto have been delivered. The row
# also holds who the notifications are for (`owner`, see owners.py) and the retry state of
# the head notification.
state = Table(
    "subscription_state", metadata,
    Column("subscription_id", String(64), primary_key=True),
    Column("status", String(10), nullable=False),  # requested, active, error, off
    Column("channel", String(16), nullable=False),  # rest-hook, websocket
    Column("owner", Text, nullable=False),  # JSON, owners.OwnerCodec
    Column("events", Integer, nullable=False),
    Column("delivered_upto", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),  # failed attempts of the current head
    Column("next_attempt", Float, nullable=True),
    Column("failing_since", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_sent", Float, nullable=True),  # last notification of any kind (heartbeats)
    Column("created", Float, nullable=False),
)

# One row per (subscription, event), written in the transaction of the change. The payload
# is rendered at delivery from the stored version (resource_version), so no resource JSON is
# duplicated here; whether the owner may see it was decided in that transaction.
outbox = Table(
    "subscription_outbox", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("subscription_id", String(64), nullable=False),
    Column("event_number", Integer, nullable=False),
    Column("resource_type", String(64), nullable=False),
    Column("resource_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("action", String(8), nullable=False),  # create, update, delete
    Column("created", Float, nullable=False),
    Column("delivered", Float, nullable=True),
    UniqueConstraint("subscription_id", "event_number", name="uq_subscription_outbox_event"),
)

# A random token replaced whenever a Subscription is written: every process's cache of
# active subscriptions compares it (one primary-key read per write) and reloads on change.
generation = Table(
    "subscription_generation", metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(32), nullable=False),
)

# The one process at a time that delivers rest-hook notifications (serve --workers N plus
# `vardnav subscriptions deliver`): order per subscription needs a single sender.
lease = Table(
    "subscription_lease", metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires", Float, nullable=False),
)

# Short-lived websocket binding tokens ($get-ws-binding-token), stored as SHA-256 hashes.
ws_token = Table(
    "subscription_ws_token", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("subscription_id", String(64), nullable=False),
    Column("expires", Float, nullable=False),
    Index("ix_subscription_ws_token_expires", "expires"),
)
