"""custody columns on resource: patient_id, owner, owner_unit, recorded

Revision ID: 0006p
Revises: 0005
Create Date: 2026-11-25 23:20:00

Existing rows get NULLs; `vardnav reindex` fills patient_id (owner/unit stay unknown: data
loaded before custody was recorded).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006p"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource") as batch:
        batch.add_column(sa.Column("patient_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("owner_unit", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("recorded", sa.Float(), nullable=True))
    op.create_index("ix_resource_patient", "resource", ["patient_id"])


def downgrade() -> None:
    op.drop_index("ix_resource_patient", table_name="resource")
    with op.batch_alter_table("resource") as batch:
        batch.drop_column("recorded")
        batch.drop_column("owner_unit")
        batch.drop_column("owner")
        batch.drop_column("patient_id")
