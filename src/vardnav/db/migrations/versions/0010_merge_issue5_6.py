"""merge the ADT tables (0008), HL7 v2 (0008h), version patients (0008p), subscriptions (0009s)

Revision ID: 0010
Revises: 0008, 0008h, 0008p, 0009s
Create Date: 2026-11-26 02:05:00
"""

from __future__ import annotations

revision = "0010"
down_revision = ("0008", "0008h", "0008p", "0009s")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # each branch made its own tables; nothing to reconcile


def downgrade() -> None:
    pass
