"""The access log (domain.md §2): one append-only row per audited interaction, hash-chained.

`audit_log` holds the FHIR AuditEvent as canonical JSON text (hashed exactly as stored) and
copies of the fields the log extract and the log review query on. Rows are inserted by every
request and never changed; one sealer at a time appends seals over them to `audit_seal`
(audit_chain.py), so writers never wait for each other to extend the chain.

`audit_log_patient` indexes which patients each row touched (one row per patient): "all
accesses to patient X" is one index range. It is derived from the AuditEvent's patient
entities, which the chain covers, and `vardnav audit verify` checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from vardnav.fhir.storage.tables import metadata

SeqType = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only

audit_log = Table(
    "audit_log", metadata,
    Column("seq", SeqType, primary_key=True, autoincrement=True),
    Column("recorded", Float, nullable=False),  # epoch seconds, UTC
    Column("event", Text, nullable=False),  # the AuditEvent, canonical JSON
    Column("user_id", String(140), nullable=True),  # staff HSA-id, or the token's subject
    Column("kind", String(16), nullable=True),  # staff, resident, system
    Column("unit", String(64), nullable=True),  # care unit HSA-id
    Column("provider", String(64), nullable=True),  # care provider HSA-id
    Column("purpose", String(16), nullable=True),  # v3-ActReason: TREAT, ETREAT, ...
    Column("care_relationship", String(16), nullable=True),  # "asserted" when the user said so
    Column("interaction", String(64), nullable=False),
    Column("resource_type", String(64), nullable=True),
    Column("outcome", String(8), nullable=False),  # success, failure
    Index("ix_audit_user_recorded", "user_id", "recorded"),
    # BRIN on PostgreSQL: `recorded` grows with `seq` (migration 0011a).
    Index("ix_audit_recorded", "recorded", postgresql_using="brin"),
)

audit_log_patient = Table(
    "audit_log_patient", metadata,
    Column("patient", String(64), primary_key=True),
    # No foreign key (migration 0011a): written with its log row, checked by `audit verify`.
    Column("seq", SeqType, primary_key=True),
    Index("ix_audit_patient_seq", "seq"),
)

# What a caller's entries share, stored once (migration 0014, audit_frames.py): keyed by the
# sha256 of the text, which the entries' digests cover.
audit_frame = Table(
    "audit_frame", metadata,
    Column("digest", String(64), primary_key=True),
    Column("frame", Text, nullable=False),
)

# The hash chain (migration 0012): one row per sealed batch of log rows.
audit_seal = Table(
    "audit_seal", metadata,
    Column("number", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, 3, ...
    Column("first_seq", BigInteger, nullable=False),  # the range of seq numbers it covers
    Column("last_seq", BigInteger, nullable=False),
    Column("records", Integer, nullable=False),
    Column("entries", LargeBinary, nullable=False),  # per row: seq (8 bytes), sha256 (32)
    Column("sealed", Float, nullable=False),  # epoch seconds, UTC (not hashed)
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
