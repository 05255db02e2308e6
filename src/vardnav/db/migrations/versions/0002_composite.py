"""composite search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 18:39:36.469173
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('idx_composite',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('c1_system', sa.Text(), nullable=True),
    sa.Column('c1_code', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('c2_system', sa.Text(), nullable=True),
    sa.Column('c2_code', sa.Text(), nullable=True),
    sa.Column('c2_value', sa.Float(), nullable=True),
    sa.Column('c2_low', sa.Float(), nullable=True),
    sa.Column('c2_high', sa.Float(), nullable=True),
    sa.Column('c2_text', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_composite', schema=None) as batch_op:
        batch_op.create_index('ix_idx_composite_param_hash_c1_code_rid', ['param_hash', 'c1_code', 'rid'], unique=False)
        batch_op.create_index('ix_idx_composite_rid', ['rid'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('idx_composite', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_composite_rid')
        batch_op.drop_index('ix_idx_composite_param_hash_c1_code_rid')

    op.drop_table('idx_composite')

