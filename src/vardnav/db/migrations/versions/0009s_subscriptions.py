"""subscriptions: delivery state, outbox, cache generation, lease, websocket binding tokens

Revision ID: 0009s
Revises: 0007a
Create Date: 2026-11-27 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009s'
down_revision = '0007a'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('subscription_state',
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.Text(), nullable=False),
    sa.Column('events', sa.Integer(), nullable=False),
    sa.Column('delivered_upto', sa.Integer(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt', sa.Float(), nullable=True),
    sa.Column('failing_since', sa.Float(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_sent', sa.Float(), nullable=True),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('subscription_id'),
    )
    op.create_table('subscription_outbox',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('event_number', sa.Integer(), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=8), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.Column('delivered', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription_id', 'event_number',
                        name='uq_subscription_outbox_event'),
    )
    op.create_table('subscription_generation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_table('subscription_lease',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('name'),
    )
    op.create_table('subscription_ws_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('subscription_id', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_subscription_ws_token_expires', 'subscription_ws_token', ['expires'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_subscription_ws_token_expires', table_name='subscription_ws_token')
    op.drop_table('subscription_ws_token')
    op.drop_table('subscription_lease')
    op.drop_table('subscription_generation')
    op.drop_table('subscription_outbox')
    op.drop_table('subscription_state')
