"""merge the sign-in (0004a) and OAuth grant (0004b) branches into one head

Revision ID: 0005
Revises: 0004a, 0004b
Create Date: 2026-11-25 23:30:00
"""

from __future__ import annotations

revision = '0005'
down_revision = ('0004a', '0004b')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # both branches made their own tables; nothing to reconcile


def downgrade() -> None:
    pass
