"""access log: audit_log (hash-chained AuditEvents) and audit_log_patient

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', _SEQ, autoincrement=True, nullable=False),
    sa.Column('recorded', sa.Float(), nullable=False),
    sa.Column('event', sa.Text(), nullable=False),
    sa.Column('user_id', sa.String(length=140), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=True),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('provider', sa.String(length=64), nullable=True),
    sa.Column('purpose', sa.String(length=16), nullable=True),
    sa.Column('care_relationship', sa.String(length=16), nullable=True),
    sa.Column('interaction', sa.String(length=64), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=True),
    sa.Column('outcome', sa.String(length=8), nullable=False),
    sa.Column('chain_pos', sa.BigInteger(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_index('ux_audit_chain_pos', 'audit_log', ['chain_pos'], unique=True)
    op.create_index('ix_audit_user_recorded', 'audit_log', ['user_id', 'recorded'])
    op.create_index('ix_audit_recorded', 'audit_log', ['recorded'])
    op.create_index('ix_audit_unsealed', 'audit_log', ['seq'],
                    postgresql_where=sa.text('chain_pos IS NULL'),
                    sqlite_where=sa.text('chain_pos IS NULL'))
    op.create_table('audit_log_patient',
    sa.Column('patient', sa.String(length=64), nullable=False),
    sa.Column('seq', _SEQ, nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['audit_log.seq']),
    sa.PrimaryKeyConstraint('patient', 'seq')
    )
    op.create_index('ix_audit_patient_seq', 'audit_log_patient', ['seq'])


def downgrade() -> None:
    op.drop_index('ix_audit_patient_seq', table_name='audit_log_patient')
    op.drop_table('audit_log_patient')
    op.drop_index('ix_audit_unsealed', table_name='audit_log')
    op.drop_index('ix_audit_recorded', table_name='audit_log')
    op.drop_index('ix_audit_user_recorded', table_name='audit_log')
    op.drop_index('ux_audit_chain_pos', table_name='audit_log')
    op.drop_table('audit_log')
