"""What the patient-data-law policy reads inside every query, kept in step with the FHIR
resources it is derived from (Encounter, CareTeam, Task, ServiceRequest, EpisodeOfCare,
Consent) by a write listener, plus the rows that only operations create (asserted care
relationships, emergency access, temporary block lifts).

Units and providers are HSA-ids, patients are Patient ids, times are epoch seconds.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from vardnav.fhir.storage.tables import metadata

care_relationship = Table(
    "pdl_care_relationship", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("source", String(16), nullable=False),  # encounter, careteam, task, asserted...
    Column("source_ref", String(140), nullable=True),  # "Encounter/123"; NULL if asserted
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=True),  # NULL: open
    Column("asserted_by", String(64), nullable=True),
    Column("reason", Text, nullable=True),
    Index("ix_pdl_rel_patient_unit", "patient_id", "unit"),
    Index("ix_pdl_rel_source", "source_ref"),
)

consent = Table(
    "pdl_consent", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(64), nullable=False),
    Column("provider", String(64), nullable=False),  # may read other providers' data
    Column("start", Float, nullable=False),
    Column("end", Float, nullable=True),
    Column("source_ref", String(140), nullable=False),
    Index("ix_pdl_consent_patient_provider", "patient_id", "provider"),
    Index("ix_pdl_consent_source", "source_ref"),
)

block = Table(
    "pdl_block", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient_id", String(64), nullable=False),
    Column("kind", String(8), nullable=False),  # inner (a unit's data) / outer (a provider's)
    Column("provider", String(64), nullable=True),  # outer: the provider whose data is blocked
    Column("unit", String(64), nullable=True),  # inner: the unit whose data is blocked
    Column("data_from", Float, nullable=True),  # blocks data recorded in [from, to)
    Column("data_to", Float, nullable=True),
    Column("exempt_attention", Boolean, nullable=False, default=False),
    Column("active", Boolean, nullable=False, default=True),  # false: lifted or voided
    Column("source_ref", String(140), nullable=False),  # the Consent recording the block
    Index("ix_pdl_block_patient", "patient_id"),
    Index("ix_pdl_block_source", "source_ref"),
)

block_lift = Table(
    "pdl_block_lift", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("block_id", Integer, nullable=False),
    Column("subject", String(64), nullable=True),  # one named user...
    Column("unit", String(64), nullable=True),  # ...or one unit
    Column("start", Float, nullable=False),
    Column("until", Float, nullable=False),  # at most 7 days after start
    Column("basis", String(16), nullable=False),  # consent or emergency
    Column("reason", Text, nullable=False),
    Column("lifted_by", String(64), nullable=False),
    Index("ix_pdl_lift_block", "block_id"),
)

emergency = Table(
    "pdl_emergency_access", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),  # the user
    Column("unit", String(64), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("patient_id", String(64), nullable=False),
    Column("start", Float, nullable=False),
    Column("until", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_pdl_emergency_subject_patient", "subject", "patient_id"),
)

# Care providers whose data is not shared with other providers: municipalities that have not
# chosen option 1 (information exchange) and school health services (a separate record).
not_sharing = Table(
    "pdl_not_sharing", metadata,
    Column("provider", String(64), primary_key=True),
)
