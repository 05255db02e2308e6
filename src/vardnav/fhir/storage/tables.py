"""Tables: current resources, every version, and one narrow index table per search-param type.

Index rows point at `resource.rid` (a surrogate integer key) and carry `param_hash`, a 64-bit
hash of (resource type, parameter name), so each lookup is one narrow B-tree range, as in the
HAPI FHIR design. Dates are stored as [low, high) ranges in epoch seconds (UTC).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()

# JSONB on PostgreSQL, JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
# Byte-order collation on PostgreSQL so prefix ranges (>= 'abc' AND < 'abc\uffff') are exact.
SortableText = String().with_variant(String(collation="C"), "postgresql")
RidType = BigInteger().with_variant(Integer(), "sqlite")

resource = Table(
    "resource", metadata,
    Column("rid", RidType, primary_key=True, autoincrement=True),
    Column("resource_type", String(64), nullable=False),
    Column("fhir_id", String(64), nullable=False),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", Float, nullable=False),  # epoch seconds, UTC
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", Json, nullable=True),
    # Set by the engine on every write: the patient whose compartment holds the resource, the
    # custodian (care provider) and unit that hold it (from the custody hook), and when it was
    # first recorded. Access policies filter on them inside every query.
    Column("patient_id", String(64), nullable=True),
    Column("owner", String(64), nullable=True),
    Column("owner_unit", String(64), nullable=True),
    Column("recorded", Float, nullable=True),
    Index("ux_resource_type_id", "resource_type", "fhir_id", unique=True),
    Index("ix_resource_type_updated", "resource_type", "last_updated"),
    Index("ix_resource_patient", "patient_id"),
)

resource_version = Table(
    "resource_version", metadata,
    Column("rid", RidType, ForeignKey("resource.rid"), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("resource_type", String(64), nullable=False),
    Column("fhir_id", String(64), nullable=False),
    Column("last_updated", Float, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("method", String(8), nullable=False),  # POST / PUT / PATCH / DELETE
    Column("content", Json, nullable=True),
    # The patient whose compartment held this version: a version filed under another patient
    # than the current one is judged by the access policy as that patient's data (history).
    Column("patient_id", String(64), nullable=True),
    Index("ix_version_updated", "last_updated"),
    Index("ix_version_type_updated", "resource_type", "last_updated"),
)


def _index_table(name: str, *columns: Column, indexes: list[tuple[str, ...]]) -> Table:
    cols = [
        Column("rid", RidType, ForeignKey("resource.rid"), nullable=False),
        Column("param_hash", BigInteger, nullable=False),
        *columns,
    ]
    idx = [Index(f"ix_{name}_{'_'.join(c)}", *c) for c in indexes]
    return Table(name, metadata, *cols, Index(f"ix_{name}_rid", "rid"), *idx)


idx_string = _index_table(
    "idx_string",
    Column("value_norm", SortableText, nullable=False),  # lower-case, accents removed
    Column("value_exact", Text, nullable=False),
    indexes=[("param_hash", "value_norm", "rid")],
)

idx_token = _index_table(
    "idx_token",
    Column("system", Text, nullable=True),
    Column("code", SortableText, nullable=True),
    Column("text_norm", SortableText, nullable=True),  # display / text for :text
    indexes=[("param_hash", "code", "rid"), ("param_hash", "system", "code")],
)

idx_date = _index_table(
    "idx_date",
    Column("low", Float, nullable=False),
    Column("high", Float, nullable=False),
    indexes=[("param_hash", "low", "rid"), ("param_hash", "high")],
)

idx_number = _index_table(
    "idx_number",
    Column("value", Float, nullable=False),
    indexes=[("param_hash", "value")],
)

idx_quantity = _index_table(
    "idx_quantity",
    Column("system", Text, nullable=True),
    Column("code", Text, nullable=True),
    Column("value", Float, nullable=False),
    indexes=[("param_hash", "value")],
)

idx_uri = _index_table(
    "idx_uri",
    Column("value", SortableText, nullable=False),
    indexes=[("param_hash", "value")],
)

idx_reference = _index_table(
    "idx_reference",
    Column("target_type", String(64), nullable=True),
    Column("target_id", String(64), nullable=True),
    Column("target_url", Text, nullable=True),  # absolute or canonical references
    indexes=[("param_hash", "target_id", "target_type"), ("target_type", "target_id")],
)

# Composite parameters (e.g. Observation code-value-quantity): one row per element holding
# the first component (a token or reference) and the second component of any type.
idx_composite = _index_table(
    "idx_composite",
    Column("c1_system", Text, nullable=True),
    Column("c1_code", SortableText, nullable=True),
    Column("c2_system", Text, nullable=True),
    Column("c2_code", Text, nullable=True),
    Column("c2_value", Float, nullable=True),
    Column("c2_low", Float, nullable=True),
    Column("c2_high", Float, nullable=True),
    Column("c2_text", SortableText, nullable=True),
    indexes=[("param_hash", "c1_code", "rid")],
)

# Which parameters are present on a resource at all: makes `:missing` an index lookup.
idx_present = _index_table("idx_present", indexes=[("param_hash", "rid")])

INDEX_TABLES: dict[str, Table] = {
    "string": idx_string,
    "token": idx_token,
    "date": idx_date,
    "number": idx_number,
    "quantity": idx_quantity,
    "uri": idx_uri,
    "reference": idx_reference,
    "composite": idx_composite,
    "present": idx_present,
}
