"""oauth grants: client secrets, EHR launches, authorization codes, refresh tokens, revocations

Revision ID: 0004b
Revises: 0003
Create Date: 2026-11-25 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004b'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('oauth_client', sa.Column('client_secret_hash', sa.String(length=128), nullable=True))
    op.create_table('oauth_launch',
    sa.Column('launch_hash', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('encounter', sa.String(length=64), nullable=True),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('launch_hash')
    )
    op.create_table('oauth_pending_authorization',
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=256), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('request_hash')
    )
    op.create_table('oauth_authorization_code',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('sign_in', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('nonce', sa.Text(), nullable=True),
    sa.Column('family', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.Column('used', sa.Float(), nullable=True),
    sa.Column('access_jti', sa.String(length=64), nullable=True),
    sa.Column('access_expires', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('code_hash')
    )
    op.create_table('oauth_refresh_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('family', sa.String(length=64), nullable=False),
    sa.Column('client_id', sa.String(length=128), nullable=False),
    sa.Column('scopes', sa.Text(), nullable=False),
    sa.Column('sign_in', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.Column('rotated', sa.Float(), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('access_jti', sa.String(length=64), nullable=True),
    sa.Column('access_expires', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_index('ix_oauth_refresh_token_family', 'oauth_refresh_token', ['family'])
    op.create_index('ix_oauth_refresh_token_expires', 'oauth_refresh_token', ['expires'])
    op.create_table('oauth_revoked_token',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('jti')
    )


def downgrade() -> None:
    op.drop_table('oauth_revoked_token')
    op.drop_index('ix_oauth_refresh_token_expires', table_name='oauth_refresh_token')
    op.drop_index('ix_oauth_refresh_token_family', table_name='oauth_refresh_token')
    op.drop_table('oauth_refresh_token')
    op.drop_table('oauth_authorization_code')
    op.drop_table('oauth_pending_authorization')
    op.drop_table('oauth_launch')
    with op.batch_alter_table('oauth_client') as batch:
        batch.drop_column('client_secret_hash')
