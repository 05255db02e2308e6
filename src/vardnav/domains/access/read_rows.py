"""Access-log rows of reads into PostgreSQL: any number of rows in one statement, committed
asynchronously (see audit_log.py), written by the read itself or by the background writer
(background_reads.py). (Group commit of concurrent reads was tried here and measured no
faster over HTTP than each read writing its own row.)"""

from __future__ import annotations

import orjson
from sqlalchemy import Connection, text

from vardnav.db.engine import PREPARED
from vardnav.db.unit_of_work import after_commit
from vardnav.domains.access.audit_events import AuditRow
from vardnav.domains.access.audit_frames import KnownFrames

ROW_COLUMNS = ("user_id", "kind", "unit", "provider", "purpose", "care_relationship",
               "interaction", "resource_type", "outcome")

# One statement for any number of rows. The rows' short columns travel as one JSON array in
# one text parameter (orjson writes it; PostgreSQL parses it once, json_to_recordset): text[]
# parameters would make psycopg escape every quote of every event in Python, which cost more
# than the insert itself (binary arrays, tried: more still). The events, most of each row's
# bytes, travel apart in a second text parameter, joined by a record separator (U+001E) and
# split by string_to_array: inside the JSON array every event was a string whose quotes
# orjson escaped and PostgreSQL's JSON parser unescaped again (measured, 50 rows a batch:
# 24 → 20.5 µs of database CPU and 7 → 4 µs of Python per row). An event is orjson's output,
# which escapes control characters, so the separator never occurs in one (checked).
# Each row takes its seq from the sequence before it is inserted, in the order the rows were
# submitted, so its patients (one space-separated text; FHIR ids have no spaces) are filed
# under that seq directly. (Taking the seq numbers back by RETURNING and matching them to
# their patients through the event text cost 6–8 µs more database CPU per row, measured.)
# The sequence is looked up once per statement (a sub-select): in the row's expression the
# catalog lookup ran for every row (measured, 35 rows a batch: 32 → 30.5 µs of database CPU
# per row). The frames the rows name (audit_frames.py) go in the same statement, so no row
# is ever stored without its frame; only those this process has not seen stored are sent.
SEPARATOR = "\x1e"
_COLUMNS = ", ".join(ROW_COLUMNS)
_INSERT_BATCH = text(f"""
WITH local_settings AS (SELECT set_config('synchronous_commit', 'off', true) AS v),
frames AS (
    INSERT INTO audit_frame (digest, frame)
    SELECT digest, frame FROM json_to_recordset(CAST(:frames AS json)) AS (digest text, frame text)
    ON CONFLICT DO NOTHING
),
input AS (
    SELECT nextval((SELECT pg_get_serial_sequence('audit_log', 'seq'))) AS seq, submitted.*
    FROM (SELECT r.*, e.event
          FROM ROWS FROM (json_to_recordset(CAST(:rows AS json)) AS (
              recorded float8, {" text, ".join(ROW_COLUMNS)} text, patients text))
               WITH ORDINALITY AS r(recorded, {_COLUMNS}, patients, ord)
          JOIN unnest(string_to_array(CAST(:events AS text), E'\\x1e'))
               WITH ORDINALITY AS e(event, ord) USING (ord)
          ORDER BY ord) AS submitted
),
new_rows AS (
    INSERT INTO audit_log (seq, recorded, event, {_COLUMNS})
    SELECT seq, recorded, event, {_COLUMNS} FROM input CROSS JOIN local_settings ORDER BY seq
)
INSERT INTO audit_log_patient (patient, seq)
SELECT p.patient, input.seq
FROM input CROSS JOIN LATERAL unnest(string_to_array(input.patients, ' ')) AS p(patient)
WHERE input.patients <> ''
""").execution_options(**PREPARED)


def insert_rows(conn: Connection, rows: list[AuditRow],
                known: KnownFrames | None = None) -> None:
    """Insert `rows` and the frames they name that `known` does not hold (all, without
    one); in autocommit (as the read paths run) `known` then holds them."""
    if any(SEPARATOR in r.event for r in rows):  # never from orjson: refuse, do not split
        raise ValueError("an access-log event contains the record separator U+001E")
    payload = [{"recorded": r.recorded, "patients": " ".join(r.patients),
                **{c: r.columns.get(c) for c in ROW_COLUMNS}} for r in rows]
    frames = {r.frame.digest: r.frame.text for r in rows
              if r.frame is not None and (known is None or r.frame.digest not in known)}
    conn.execute(_INSERT_BATCH, {
        "rows": orjson.dumps(payload).decode(),
        "events": SEPARATOR.join(r.event for r in rows),
        "frames": orjson.dumps([{"digest": d, "frame": t} for d, t in frames.items()]).decode()})
    if known is not None and frames:
        after_commit(conn, lambda: known.add(frames))
