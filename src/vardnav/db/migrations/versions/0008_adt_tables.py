"""adt tables: encounter state, one active stay per patient, one patient per bed, step journal

Revision ID: 0008
Revises: 0007a
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0008'
down_revision = '0007a'
branch_labels = None
depends_on = None

_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        'adt_encounter',
        sa.Column('encounter_id', sa.String(length=64), nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('ward_id', sa.String(length=64), nullable=True),
        sa.Column('bed_id', sa.String(length=64), nullable=True),
        sa.Column('planned_start', sa.Float(), nullable=True),
        sa.Column('planned_end', sa.Float(), nullable=True),
        sa.Column('started', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('encounter_id'))
    op.create_index('ix_adt_encounter_ward_state', 'adt_encounter', ['ward_id', 'state'])
    op.create_index('ix_adt_encounter_patient', 'adt_encounter', ['patient_id'])
    op.create_table(
        'adt_stay',
        sa.Column('patient_id', sa.String(length=64), nullable=False),
        sa.Column('encounter_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('patient_id'),
        sa.UniqueConstraint('encounter_id'))
    op.create_table(
        'adt_bed',
        sa.Column('bed_id', sa.String(length=64), nullable=False),
        sa.Column('encounter_id', sa.String(length=64), nullable=False),
        sa.Column('patient_id', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('bed_id'))
    op.create_index('ix_adt_bed_encounter', 'adt_bed', ['encounter_id'])
    op.create_table(
        'adt_step',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('encounter_id', sa.String(length=64), nullable=False),
        sa.Column('trigger', sa.String(length=8), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('encounter_before', _Json, nullable=True),
        sa.Column('beds_before', _Json, nullable=False),
        sa.Column('created', _Json, nullable=True),
        sa.Column('cancelled', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_adt_step_encounter', 'adt_step', ['encounter_id'])


def downgrade() -> None:
    op.drop_index('ix_adt_step_encounter', table_name='adt_step')
    op.drop_table('adt_step')
    op.drop_index('ix_adt_bed_encounter', table_name='adt_bed')
    op.drop_table('adt_bed')
    op.drop_table('adt_stay')
    op.drop_index('ix_adt_encounter_patient', table_name='adt_encounter')
    op.drop_index('ix_adt_encounter_ward_state', table_name='adt_encounter')
    op.drop_table('adt_encounter')
