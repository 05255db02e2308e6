"""merge the access log (0006) with the custody columns and PDL tables (0006p, 0007)

Revision ID: 0007a
Revises: 0006, 0007
Create Date: 2026-11-26 09:05:00
"""

from __future__ import annotations

revision = '0007a'
down_revision = ('0006', '0007')
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # both branches made their own tables; nothing to reconcile


def downgrade() -> None:
    pass
