"""initial schema: resources, versions, search indexes

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 18:21:57.061986
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('resource',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('fhir_id', sa.String(length=64), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('last_updated', sa.Float(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.PrimaryKeyConstraint('rid')
    )
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.create_index('ix_resource_type_updated', ['resource_type', 'last_updated'], unique=False)
        batch_op.create_index('ux_resource_type_id', ['resource_type', 'fhir_id'], unique=True)

    op.create_table('idx_date',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('low', sa.Float(), nullable=False),
    sa.Column('high', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_date', schema=None) as batch_op:
        batch_op.create_index('ix_idx_date_param_hash_high', ['param_hash', 'high'], unique=False)
        batch_op.create_index('ix_idx_date_param_hash_low_rid', ['param_hash', 'low', 'rid'], unique=False)
        batch_op.create_index('ix_idx_date_rid', ['rid'], unique=False)

    op.create_table('idx_number',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_number', schema=None) as batch_op:
        batch_op.create_index('ix_idx_number_param_hash_value', ['param_hash', 'value'], unique=False)
        batch_op.create_index('ix_idx_number_rid', ['rid'], unique=False)

    op.create_table('idx_present',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_present', schema=None) as batch_op:
        batch_op.create_index('ix_idx_present_param_hash_rid', ['param_hash', 'rid'], unique=False)
        batch_op.create_index('ix_idx_present_rid', ['rid'], unique=False)

    op.create_table('idx_quantity',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('system', sa.Text(), nullable=True),
    sa.Column('code', sa.Text(), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_quantity', schema=None) as batch_op:
        batch_op.create_index('ix_idx_quantity_param_hash_value', ['param_hash', 'value'], unique=False)
        batch_op.create_index('ix_idx_quantity_rid', ['rid'], unique=False)

    op.create_table('idx_reference',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('target_url', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_reference', schema=None) as batch_op:
        batch_op.create_index('ix_idx_reference_param_hash_target_id_target_type', ['param_hash', 'target_id', 'target_type'], unique=False)
        batch_op.create_index('ix_idx_reference_rid', ['rid'], unique=False)
        batch_op.create_index('ix_idx_reference_target_type_target_id', ['target_type', 'target_id'], unique=False)

    op.create_table('idx_string',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('value_norm', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.Column('value_exact', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_string', schema=None) as batch_op:
        batch_op.create_index('ix_idx_string_param_hash_value_norm_rid', ['param_hash', 'value_norm', 'rid'], unique=False)
        batch_op.create_index('ix_idx_string_rid', ['rid'], unique=False)

    op.create_table('idx_token',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('system', sa.Text(), nullable=True),
    sa.Column('code', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.Column('text_norm', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_token', schema=None) as batch_op:
        batch_op.create_index('ix_idx_token_param_hash_code_rid', ['param_hash', 'code', 'rid'], unique=False)
        batch_op.create_index('ix_idx_token_param_hash_system_code', ['param_hash', 'system', 'code'], unique=False)
        batch_op.create_index('ix_idx_token_rid', ['rid'], unique=False)

    op.create_table('idx_uri',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('param_hash', sa.BigInteger(), nullable=False),
    sa.Column('value', sa.String().with_variant(sa.String(collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], )
    )
    with op.batch_alter_table('idx_uri', schema=None) as batch_op:
        batch_op.create_index('ix_idx_uri_param_hash_value', ['param_hash', 'value'], unique=False)
        batch_op.create_index('ix_idx_uri_rid', ['rid'], unique=False)

    op.create_table('resource_version',
    sa.Column('rid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('resource_type', sa.String(length=64), nullable=False),
    sa.Column('fhir_id', sa.String(length=64), nullable=False),
    sa.Column('last_updated', sa.Float(), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['rid'], ['resource.rid'], ),
    sa.PrimaryKeyConstraint('rid', 'version_id')
    )
    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.create_index('ix_version_type_updated', ['resource_type', 'last_updated'], unique=False)
        batch_op.create_index('ix_version_updated', ['last_updated'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('resource_version', schema=None) as batch_op:
        batch_op.drop_index('ix_version_updated')
        batch_op.drop_index('ix_version_type_updated')

    op.drop_table('resource_version')
    with op.batch_alter_table('idx_uri', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_uri_rid')
        batch_op.drop_index('ix_idx_uri_param_hash_value')

    op.drop_table('idx_uri')
    with op.batch_alter_table('idx_token', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_token_rid')
        batch_op.drop_index('ix_idx_token_param_hash_system_code')
        batch_op.drop_index('ix_idx_token_param_hash_code_rid')

    op.drop_table('idx_token')
    with op.batch_alter_table('idx_string', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_string_rid')
        batch_op.drop_index('ix_idx_string_param_hash_value_norm_rid')

    op.drop_table('idx_string')
    with op.batch_alter_table('idx_reference', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_reference_target_type_target_id')
        batch_op.drop_index('ix_idx_reference_rid')
        batch_op.drop_index('ix_idx_reference_param_hash_target_id_target_type')

    op.drop_table('idx_reference')
    with op.batch_alter_table('idx_quantity', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_quantity_rid')
        batch_op.drop_index('ix_idx_quantity_param_hash_value')

    op.drop_table('idx_quantity')
    with op.batch_alter_table('idx_present', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_present_rid')
        batch_op.drop_index('ix_idx_present_param_hash_rid')

    op.drop_table('idx_present')
    with op.batch_alter_table('idx_number', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_number_rid')
        batch_op.drop_index('ix_idx_number_param_hash_value')

    op.drop_table('idx_number')
    with op.batch_alter_table('idx_date', schema=None) as batch_op:
        batch_op.drop_index('ix_idx_date_rid')
        batch_op.drop_index('ix_idx_date_param_hash_low_rid')
        batch_op.drop_index('ix_idx_date_param_hash_high')

    op.drop_table('idx_date')
    with op.batch_alter_table('resource', schema=None) as batch_op:
        batch_op.drop_index('ux_resource_type_id')
        batch_op.drop_index('ix_resource_type_updated')

    op.drop_table('resource')

