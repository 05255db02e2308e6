"""oauth clients

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:13:31.856407
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('oauth_client',
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('redirect_uris', sa.JSON(), nullable=False),
    sa.Column('jwks', sa.JSON(), nullable=True),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('client_id')
    )
    op.create_table('oauth_used_assertion',
    sa.Column('jti', sa.String(length=256), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('jti')
    )



def downgrade() -> None:

    op.drop_table('oauth_used_assertion')
    op.drop_table('oauth_client')

