"""Access-log rows of reads into PostgreSQL: any number of rows in one statement, committed
asynchronously (see audit_log.py), written by the read itself or by the background writer
(background_reads.py). (Group commit of concurrent reads was tried here and measured no
faster over HTTP than each read writing its own row.)"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, text

from vardnav.db.engine import PREPARED
from vardnav.domains.access.audit_events import AuditRow

ROW_COLUMNS = ("user_id", "kind", "unit", "provider", "purpose", "care_relationship",
               "interaction", "resource_type", "outcome")

# One statement for any number of rows. The rows travel as one JSON array in one text
# parameter (orjson writes it; PostgreSQL parses it): text[] parameters would make psycopg
# escape every quote of every event in Python, which cost more than the insert itself. Each
# row's patients are one space-separated text (FHIR ids have no spaces), matched to the row's
# new seq through its event text (unique: every AuditEvent has its own id). ORDER BY keeps
# the rows' seq order the order they were submitted in.
_COLUMNS = ", ".join(ROW_COLUMNS)
_INSERT_BATCH = text(f"""
WITH local_settings AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
input AS (
    SELECT r.*, e.ord
    FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS e(value, ord)
    CROSS JOIN LATERAL json_to_record(e.value) AS r(
        recorded float8, event text, {" text, ".join(ROW_COLUMNS)} text, patients text)
),
new_rows AS (
    INSERT INTO audit_log (recorded, event, {_COLUMNS})
    SELECT recorded, event, {_COLUMNS}
    FROM input CROSS JOIN local_settings ORDER BY ord
    RETURNING seq, event
)
INSERT INTO audit_log_patient (patient, seq)
SELECT p.patient, new_rows.seq
FROM new_rows JOIN input ON input.event = new_rows.event
CROSS JOIN LATERAL unnest(string_to_array(input.patients, ' ')) AS p(patient)
WHERE input.patients <> ''
""").execution_options(**PREPARED)


def insert_rows(conn: Connection, rows: list[AuditRow]) -> None:
    payload = [{"recorded": r.recorded, "event": r.event, "patients": " ".join(r.patients),
                **{c: r.columns.get(c) for c in ROW_COLUMNS}} for r in rows]
    conn.execute(_INSERT_BATCH, {"rows": orjson.dumps(payload).decode()})
