"""The ADT rules, checked and kept in the rule tables (models.py) inside each step's
transaction: who may take a step, the locks that order concurrent steps, the state a step
needs, free beds, one stay per patient, one patient per bed."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, text, update

from vardnav.db.direct import Direct
from vardnav.domains.adt import stays
from vardnav.domains.adt.codes import (
    CLASS_CODES,
    PLANNED_END,
    PLANNED_START,
    V3_ACT_CODE,
    bed_status,
)
from vardnav.domains.adt.models import adt_bed, adt_encounter, adt_stay
from vardnav.domains.adt.places import Place, fetch
from vardnav.domains.identity.access.principal import Principal
from vardnav.errors import BusinessRuleViolation, Conflict, Forbidden, NotFound
from vardnav.fhir.storage.repository import Repository

ACTIVE = ("in-progress", "onleave")


def authorize_step(repo: Repository) -> None:
    """Staff (with write access to Encounter and Location) and system integrations only."""
    p = repo.ctx.principal
    if not (isinstance(p, Principal) and p.kind in ("staff", "system")):
        raise Forbidden("ADT steps are taken by staff or by system integrations")
    repo.authorize("update", "Encounter")
    repo.authorize("update", "Location")


def lock(repo: Repository, *keys: str) -> None:
    """Serialise steps on the same patient, bed or encounter until the transaction ends.

    On PostgreSQL (READ COMMITTED) a step waits here for a concurrent step on the same key,
    and then reads what that one committed: the second of two clerks admitting into one bed
    sees the bed taken. SQLite writers already hold the database's write lock. Keys are
    taken in sorted order, so two steps never wait for each other crosswise.
    """
    if repo.conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        digest = hashlib.blake2b(f"adt:{key}".encode(), digest_size=8).digest()
        repo.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                          {"key": int.from_bytes(digest, "big", signed=True)})


def managed(repo: Repository, encounter_id: str) -> tuple[dict[str, Any], Any]:
    enc = fetch(repo, "Encounter", encounter_id)
    if enc is None:
        raise NotFound(f"Encounter/{encounter_id} is not known")
    row = _ENCOUNTER_ROW(repo.conn, {"e_id": encounter_id}).first()
    if row is None:
        raise BusinessRuleViolation(f"Encounter/{encounter_id} was not registered through "
                                    "the ADT workflow")
    return enc, row


def require_inpatient(row: Any, what: str) -> None:
    if row.kind != "inpatient":
        raise BusinessRuleViolation(f"Only an inpatient stay is {what}; Encounter/"
                                    f"{row.encounter_id} is a {row.kind} visit")


def require_state(row: Any, states: tuple[str, ...], what: str) -> None:
    if row.state not in states:
        raise BusinessRuleViolation(f"Encounter/{row.encounter_id} is {row.state}; only an "
                                    f"encounter that is {' or '.join(states)} is {what}")


def check_not_admitted(repo: Repository, patient_id: str, encounter_id: str | None = None,
                        ) -> None:
    _refuse_second_stay(_STAY_OF(repo.conn, {"p_id": patient_id}).scalar(),
                        patient_id, encounter_id)


def _refuse_second_stay(holder: str | None, patient_id: str, encounter_id: str | None) -> None:
    if holder is not None and holder != encounter_id:
        raise Conflict(f"Patient/{patient_id} already has an active inpatient stay "
                       f"(Encounter/{holder}); discharge it first")


def bed_holder(repo: Repository, bed_id: str) -> str | None:
    return _BED_HOLDER(repo.conn, {"b_id": bed_id}).scalar()


def check_bed_free(repo: Repository, place: Place, encounter_id: str | None) -> None:
    """A patient may go into an unoccupied, open, clean bed. The message does not say who
    lies there: that would tell the caller about another patient's care. (`place` was read
    after the bed's lock.)"""
    if place.bed is None or place.bed_id is None:
        return
    bed = place.bed
    name = bed.get("name") or f"Location/{place.bed_id}"
    holder = bed_holder(repo, place.bed_id)
    if holder is not None and holder != encounter_id:
        raise Conflict(f"Bed {name} is occupied by another patient")
    code = bed_status(bed)
    if code == "C":
        raise BusinessRuleViolation(f"Bed {name} is closed")
    if code == "H":
        raise BusinessRuleViolation(f"Bed {name} is being cleaned (housekeeping); set it "
                                    "unoccupied with $set-bed-status when it is ready")
    if code == "O" and holder is None:
        raise Conflict(f"Bed {name} is marked occupied")


def check_bed_restorable(repo: Repository, bed: dict[str, Any], encounter_id: str) -> None:
    """A cancellation takes the patient back to their bed unless someone else has it or it
    was closed meanwhile (being cleaned is no obstacle: the patient never left it in fact)."""
    name = bed.get("name") or f"Location/{bed['id']}"
    holder = bed_holder(repo, bed["id"])
    if holder is not None and holder != encounter_id:
        raise Conflict(f"Bed {name} is now occupied by another patient; the step cannot be "
                       "cancelled")
    if bed_status(bed) == "C":
        raise BusinessRuleViolation(f"Bed {name} has been closed; the step cannot be "
                                    "cancelled")


def project(repo: Repository, enc: dict[str, Any]) -> None:
    """Bring the rule tables in line with the Encounter about to be written."""
    conn = repo.conn
    encounter_id = enc["id"]
    patient_id = enc["subject"]["reference"].rpartition("/")[2]
    code = (enc.get("class") or {}).get("code")
    kind = next((k for k, (c, _d) in CLASS_CODES.items() if c == code), "inpatient") \
        if (enc.get("class") or {}).get("system") == V3_ACT_CODE else "inpatient"
    state = enc["status"]
    ward_id = bed_id = None
    for e in enc.get("location", []):
        if e.get("status") in stays.CURRENT:
            kind_of_place = next((c.get("code") for c in
                                  (e.get("physicalType") or {}).get("coding", [])), None)
            ref = e["location"]["reference"].rpartition("/")[2]
            if kind_of_place == "wa":
                ward_id = ref
            elif kind_of_place == "bd":
                bed_id = ref
    active = state in ACTIVE and kind == "inpatient"
    if active:
        holder = _STAY_OF(conn, {"p_id": patient_id}).scalar()
        _refuse_second_stay(holder, patient_id, encounter_id)
        if holder is None:
            _INSERT_STAY(conn, {"patient_id": patient_id, "encounter_id": encounter_id})
    else:
        _DELETE_STAY(conn, {"e_id": encounter_id})
    held = bed_id if active else None
    _DELETE_OTHER_BEDS(conn, {"e_id": encounter_id, "held": held or ""})
    if active and bed_id:
        holder = bed_holder(repo, bed_id)
        if holder is not None and holder != encounter_id:
            raise Conflict(f"Bed Location/{bed_id} is occupied by another patient")
        if holder is None:
            _INSERT_BED(conn, {"bed_id": bed_id, "encounter_id": encounter_id,
                                       "patient_id": patient_id})
    row = {"patient_id": patient_id, "kind": kind, "state": state, "ward_id": ward_id,
           "bed_id": bed_id if active else None,
           "planned_start": stays.extension_time(enc, PLANNED_START),
           "planned_end": stays.extension_time(enc, PLANNED_END),
           "started": stays.period_start(enc)}
    # Every column is set, so an update of the existing row equals the row written anew.
    if _UPDATE_ENCOUNTER(conn, {**row, "e_id": encounter_id}).rowcount == 0:
        _INSERT_ENCOUNTER(conn, {**row, "encounter_id": encounter_id})


# The rule tables' statements, built once: SQLAlchemy then reuses their compiled form and cache
# key instead of building both again on every step (a step runs about a dozen of them); on
# SQLite they run on the driver directly (db/direct.py).
_ENCOUNTER_ROW = Direct(select(adt_encounter).where(
    adt_encounter.c.encounter_id == bindparam("e_id")))
_STAY_OF = Direct(select(adt_stay.c.encounter_id).where(
    adt_stay.c.patient_id == bindparam("p_id")))
_BED_HOLDER = Direct(select(adt_bed.c.encounter_id).where(adt_bed.c.bed_id == bindparam("b_id")))
_INSERT_STAY = Direct(insert(adt_stay))
_DELETE_STAY = Direct(delete(adt_stay).where(adt_stay.c.encounter_id == bindparam("e_id")))
_DELETE_OTHER_BEDS = Direct(delete(adt_bed).where(adt_bed.c.encounter_id == bindparam("e_id"),
                                                  adt_bed.c.bed_id != bindparam("held")))
_INSERT_BED = Direct(insert(adt_bed))
_ENCOUNTER_COLUMNS = ("patient_id", "kind", "state", "ward_id", "bed_id", "planned_start",
                      "planned_end", "started")
_UPDATE_ENCOUNTER = Direct(update(adt_encounter).where(
    adt_encounter.c.encounter_id == bindparam("e_id")).values(
    {c: bindparam(c) for c in _ENCOUNTER_COLUMNS}))
_INSERT_ENCOUNTER = Direct(insert(adt_encounter))
