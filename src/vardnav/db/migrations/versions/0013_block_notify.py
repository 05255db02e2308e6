"""a notification whenever a block row is written (PostgreSQL)

Each server process keeps the set of patients that have blocks, so that a search asks the
database for block notices only about them (domains/access/blocked_patients.py). A trigger,
rather than the code that writes blocks, sends the notification, so that a block written
any other way (by hand, by a restore) is heard of too. SQLite: nothing (one process owns
the file, and it asks the database on every search).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION vardnav_notify_block() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('vardnav_pdl_block', NEW.patient_id);
            RETURN NULL;
        END $$""")
    op.execute("""
        CREATE TRIGGER pdl_block_notify AFTER INSERT OR UPDATE ON pdl_block
        FOR EACH ROW EXECUTE FUNCTION vardnav_notify_block()""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS pdl_block_notify ON pdl_block")
    op.execute("DROP FUNCTION IF EXISTS vardnav_notify_block()")
