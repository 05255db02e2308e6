"""HL7 v2 state that is not FHIR: the outbound outbox, the receivers' delivery leases and the
inbound messages already processed (with the ACK sent). Times are epoch seconds."""

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

# One row per message per receiver, written in the ADT step's transaction. Delivered strictly
# in `id` order per receiver (sender.py); rows are kept as the delivery record.
outbox = Table(
    "hl7_outbox", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("receiver", String(64), nullable=False),
    Column("trigger", String(3), nullable=False),
    Column("patient_id", String(64), nullable=True),
    Column("encounter_id", String(64), nullable=True),
    Column("control_id", String(20), nullable=False, unique=True),
    Column("message", Text, nullable=False),
    Column("created", Float, nullable=False),
    Column("status", String(10), nullable=False),  # pending, delivered, skipped
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", Float, nullable=True),  # NULL: at once
    Column("last_attempt", Float, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("delivered", Float, nullable=True),
    Index("ix_hl7_outbox_receiver_status", "receiver", "status", "id"),
)

# Which delivery worker currently sends to a receiver: one at a time, so several server
# processes never interleave (or duplicate) a receiver's messages. A lease not renewed
# before `expires` may be taken over.
receiver_lease = Table(
    "hl7_receiver_lease", metadata,
    Column("receiver", String(64), primary_key=True),
    Column("holder", String(64), nullable=False),
    Column("expires", Float, nullable=False),
)

# Inbound messages applied (or refused with AE), by sending application and MSH-10: a resent
# message gets the stored ACK again and is never applied twice.
inbound = Table(
    "hl7_inbound", metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("sender", String(200), nullable=False),
    Column("control_id", String(200), nullable=False),
    Column("trigger", String(3), nullable=False),
    Column("ack_code", String(2), nullable=False),
    Column("ack", Text, nullable=False),
    Column("received", Float, nullable=False),
    UniqueConstraint("sender", "control_id", name="uq_hl7_inbound_sender_control"),
)

# Visit numbers (PV1-19) a sending system gave the encounters its A01/A04/A05 created, so its
# later messages about the visit find the Encounter by the sender's own number.
visit = Table(
    "hl7_visit", metadata,
    Column("sender", String(200), primary_key=True),
    Column("visit_number", String(200), primary_key=True),
    Column("encounter_id", String(64), nullable=False),
    Column("created", Float, nullable=False),
)
