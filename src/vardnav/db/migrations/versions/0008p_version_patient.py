"""patient_id on resource_version: which patient's record each version was filed under

Revision ID: 0008p
Revises: 0007a
Create Date: 2026-11-26 02:00:00

Existing versions get the current row's patient (the best this database knows; versions
written before now were not told apart).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008p"
down_revision = "0007a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resource_version") as batch:
        batch.add_column(sa.Column("patient_id", sa.String(length=64), nullable=True))
    op.execute("UPDATE resource_version SET patient_id = (SELECT r.patient_id FROM resource r "
               "WHERE r.rid = resource_version.rid)")


def downgrade() -> None:
    with op.batch_alter_table("resource_version") as batch:
        batch.drop_column("patient_id")
