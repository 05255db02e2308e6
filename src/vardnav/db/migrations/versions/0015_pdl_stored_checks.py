"""the patient data law's rarely reached checks as stored functions (PostgreSQL)

A read by id carries the whole PDL condition (domains/access/pdl_policy.py), and PostgreSQL
sets up every sub-plan of a statement's plan on each execution, whether or not it is ever
reached. Most reads reach only two of them: the care relationship and the block check. The
others — consent, emergency access, providers that do not share, temporary lifts of a block
— are reached only for another provider's data, without a relationship, or under a block.
As function calls they cost nothing until reached (a plpgsql function plans its query once
per connection and runs it only when called). Searches keep them as sub-plans: there the
set-up is paid once per statement, not once per row.

Each function is the sub-query pdl_policy.py writes inline for the same check (SQLite and
searches use that one); tests/domains/test_pdl_stored_checks.py checks the two agree. They
are STABLE: they see the calling statement's snapshot, as its sub-queries do.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-27 16:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FUNCTIONS = {
    # The patient has consented to `provider` reading other providers' data, now.
    "pdl_has_consent(patient text, provider text, now float8)": """
        SELECT EXISTS (SELECT 1 FROM pdl_consent c
                       WHERE c.patient_id = patient AND c.provider = provider
                         AND c.start <= now AND (c."end" IS NULL OR c."end" > now))""",
    # `subject` holds emergency access to the patient, now.
    "pdl_has_emergency_access(patient text, subject text, now float8)": """
        SELECT EXISTS (SELECT 1 FROM pdl_emergency_access e
                       WHERE e.patient_id = patient AND e.subject = subject
                         AND e.until > now)""",
    # Neither the provider that recorded the data (if any) nor the reader's opts out.
    "pdl_both_share(owner text, provider text)": """
        SELECT NOT EXISTS (SELECT 1 FROM pdl_not_sharing n
                           WHERE n.provider = provider OR n.provider = owner)""",
    # The block is lifted for this user or unit, now.
    "pdl_block_is_lifted(block_row integer, subject text, unit text, now float8)": """
        SELECT EXISTS (SELECT 1 FROM pdl_block_lift l
                       WHERE l.block_id = block_row AND l.start <= now AND l.until > now
                         AND (l.subject = subject OR l.unit = unit))""",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature, body in FUNCTIONS.items():
        # plpgsql, not SQL: a SQL function would be inlined as the very sub-plan it replaces.
        # #variable_conflict: a parameter named like a column means the parameter here.
        op.execute(f"""
            CREATE FUNCTION {signature} RETURNS boolean LANGUAGE plpgsql STABLE AS $$
            #variable_conflict use_variable
            BEGIN
                RETURN ({body});
            END $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for signature in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
