"""Non-FHIR state of the ADT workflow: the rules that must hold atomically, as unique keys.

The FHIR Encounter and Location resources are the record; these tables are a projection of
them that the workflow keeps in the same transaction, so the database itself refuses a second
active stay for a patient or a second patient in a bed, and the bed board is one indexed query.

- `adt_encounter`: every Encounter the workflow manages, with its state, ward, bed and
  planned times (the bed board reads this).
- `adt_stay`: one row per patient with an active inpatient stay (in progress or on leave).
- `adt_bed`: one row per occupied (or, on leave, held) bed.
- `adt_step`: the journal of undoable steps, holding what the step replaced, so that a
  cancellation (A11/A12/A13) restores the previous state exactly.

Times are epoch seconds (UTC); ids are FHIR logical ids.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table
from sqlalchemy.dialects.postgresql import JSONB

from vardnav.fhir.storage.tables import metadata

_Json = JSON().with_variant(JSONB(), "postgresql")

adt_encounter = Table(
    "adt_encounter", metadata,
    Column("encounter_id", String(64), primary_key=True),
    Column("patient_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # inpatient, outpatient, emergency
    # The Encounter's status: planned, in-progress, onleave, finished, entered-in-error.
    Column("state", String(16), nullable=False),
    Column("ward_id", String(64), nullable=True),  # the ward Location (inpatient)
    Column("bed_id", String(64), nullable=True),
    Column("planned_start", Float, nullable=True),  # pre-admission: expected arrival
    Column("planned_end", Float, nullable=True),  # expected discharge
    Column("started", Float, nullable=True),
    Index("ix_adt_encounter_ward_state", "ward_id", "state"),
    Index("ix_adt_encounter_patient", "patient_id"),
)

adt_stay = Table(
    "adt_stay", metadata,
    Column("patient_id", String(64), primary_key=True),  # one active stay per patient
    Column("encounter_id", String(64), nullable=False, unique=True),
)

adt_bed = Table(
    "adt_bed", metadata,
    Column("bed_id", String(64), primary_key=True),  # one patient per bed
    Column("encounter_id", String(64), nullable=False),
    Column("patient_id", String(64), nullable=False),
    Index("ix_adt_bed_encounter", "encounter_id"),
)

adt_step = Table(
    "adt_step", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("encounter_id", String(64), nullable=False),
    Column("trigger", String(8), nullable=False),  # A01, A02, A03, A21, A22
    Column("at", Float, nullable=False),
    # The Encounter before the step (null: the step created it) and each touched bed's
    # Location.operationalStatus before the step (null: none), to restore on cancel.
    Column("encounter_before", _Json, nullable=True),
    Column("beds_before", _Json, nullable=False),
    # Resources the step created besides the Encounter ("Composition/…"), voided on cancel.
    Column("created", _Json, nullable=True),
    Column("cancelled", Boolean, nullable=False, default=False),
    Index("ix_adt_step_encounter", "encounter_id"),
)

ADT_TABLES = (adt_encounter, adt_stay, adt_bed, adt_step)
