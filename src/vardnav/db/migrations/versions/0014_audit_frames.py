"""access-log frames: what a caller's entries share, stored once

New entries store their AuditEvent compactly and name a frame by its sha256
(domains/access/audit_frames.py). Entries already stored keep their whole AuditEvent and
are read as they are, so nothing is rewritten and the chain over them is unchanged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_frame",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("frame", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    # Entries that name a frame could no longer be read: refuse rather than lose them.
    bind = op.get_bind()
    framed = bind.execute(sa.text(
        "SELECT count(*) FROM audit_log WHERE event LIKE '%\"frame\":%'")).scalar_one()
    if framed:
        raise RuntimeError(f"{framed} access-log entries are stored with frames; "
                           "downgrading below 0014 would make them unreadable")
    op.drop_table("audit_frame")
