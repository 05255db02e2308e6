"""hl7v2: outbox, receiver leases, processed inbound messages, senders' visit numbers

Revision ID: 0008h
Revises: 0007a
Create Date: 2026-11-26 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008h'
down_revision = '0007a'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('hl7_outbox',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('receiver', sa.String(length=64), nullable=False),
    sa.Column('trigger', sa.String(length=3), nullable=False),
    sa.Column('patient_id', sa.String(length=64), nullable=True),
    sa.Column('encounter_id', sa.String(length=64), nullable=True),
    sa.Column('control_id', sa.String(length=20), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt', sa.Float(), nullable=True),
    sa.Column('last_attempt', sa.Float(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('control_id'),
    )
    op.create_index('ix_hl7_outbox_receiver_status', 'hl7_outbox',
                    ['receiver', 'status', 'id'], unique=False)
    op.create_table('hl7_receiver_lease',
    sa.Column('receiver', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('expires', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('receiver'),
    )
    op.create_table('hl7_inbound',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('control_id', sa.String(length=200), nullable=False),
    sa.Column('trigger', sa.String(length=3), nullable=False),
    sa.Column('ack_code', sa.String(length=2), nullable=False),
    sa.Column('ack', sa.Text(), nullable=False),
    sa.Column('received', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sender', 'control_id', name='uq_hl7_inbound_sender_control'),
    )
    op.create_table('hl7_visit',
    sa.Column('sender', sa.String(length=200), nullable=False),
    sa.Column('visit_number', sa.String(length=200), nullable=False),
    sa.Column('encounter_id', sa.String(length=64), nullable=False),
    sa.Column('created', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('sender', 'visit_number'),
    )


def downgrade() -> None:
    op.drop_table('hl7_visit')
    op.drop_table('hl7_inbound')
    op.drop_table('hl7_receiver_lease')
    op.drop_index('ix_hl7_outbox_receiver_status', table_name='hl7_outbox')
    op.drop_table('hl7_outbox')
