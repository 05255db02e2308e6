"""the access log's chain in a table of its own: seals over batches of log rows

Sealing used to update every log row with its chain position and hashes: as much database
work as writing the row again (measured on PostgreSQL: 56 µs of database CPU per row to
seal, 63 µs to insert), a dead row version each, and two more indexes on every insert.
Now a seal row covers a range of seq numbers and lists each row's digest (audit_chain.py),
and log rows are never updated.

The old per-row links are kept, as they were, in `audit_chain_0011` (seq, chain_pos,
prev_hash, hash), so nothing the old chain proved is thrown away; the new chain seals the
whole log again from seq 1 (the server's sealer, or `vardnav audit seal`, does that after
the upgrade). Downgrading puts the old links back and drops the seals.

Revision ID: 0012
Revises: 0011a
Create Date: 2026-11-26 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011a"
branch_labels = None
depends_on = None

_UNSEALED = sa.text("chain_pos IS NULL")


def upgrade() -> None:
    op.create_table(
        "audit_seal",
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("entries", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.Float(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("number"))
    op.create_table(
        "audit_chain_0011",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain_pos", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"))
    op.execute("INSERT INTO audit_chain_0011 (seq, chain_pos, prev_hash, hash) "
               "SELECT seq, chain_pos, prev_hash, hash FROM audit_log "
               "WHERE chain_pos IS NOT NULL")
    op.drop_index("ix_audit_unsealed", table_name="audit_log")
    op.drop_index("ux_audit_chain_pos", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("chain_pos")


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("chain_pos", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.execute("UPDATE audit_log SET (chain_pos, prev_hash, hash) = "
               "(SELECT c.chain_pos, c.prev_hash, c.hash FROM audit_chain_0011 c "
               "WHERE c.seq = audit_log.seq) "
               "WHERE seq IN (SELECT seq FROM audit_chain_0011)")
    op.create_index("ux_audit_chain_pos", "audit_log", ["chain_pos"], unique=True)
    op.create_index("ix_audit_unsealed", "audit_log", ["seq"], postgresql_where=_UNSEALED,
                    sqlite_where=_UNSEALED)
    op.drop_table("audit_chain_0011")
    op.drop_table("audit_seal")
