"""The bed board of a ward, or of every ward of a hospital, as a FHIR Parameters resource.

Counts come from the bed Locations (operationalStatus) and the ADT state tables, so they are
exact whoever asks. Which patient lies where is shown only when the caller may read that
stay's Encounter (PDL: a care relationship, own provider or consent...): otherwise the bed is
counted and shown as occupied, without a patient. Patients shown are written to the access log.

Shape (documented in docs/adt.md):

    parameter: date; per ward a `ward` part with
      location, unit, beds, occupied, free, cleaning, closed, inpatients, onLeave,
      expectedDischarges, incoming (counts);
      one `bed` part per bed (location, status, and when visible: encounter, patient,
      onLeave, expectedDischarge);
      `inpatient` parts for patients on the ward without a bed, `incomingAdmission` parts
      for pre-admissions expected by the end of the day;
    and, for a hospital, a `total` part with the summed counts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from vardnav.domains.adt.codes import bed_status, physical_type
from vardnav.domains.adt.models import adt_bed, adt_encounter
from vardnav.domains.adt.places import fetch
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.swedish_time import SWEDEN as LOCAL  # a ward's "today" is Swedish
from vardnav.errors import BadRequest, Forbidden, NotFound
from vardnav.fhir.datetimes import instant
from vardnav.fhir.storage.repository import Repository

COUNTS = ("beds", "occupied", "free", "cleaning", "closed", "inpatients", "onLeave",
          "expectedDischarges", "incoming")
_MAX = 1000


def bed_board(repo: Repository, rtype: str, fhir_id: str, day: Any = None) -> dict[str, Any]:
    p = repo.ctx.principal
    if not (isinstance(p, Principal) and p.kind in ("staff", "system")):
        raise Forbidden("The bed board is for staff and system integrations")
    end_of_day, day_text = _day_end(day)
    wards = _wards(repo, rtype, fhir_id)
    parts = [_ward(repo, ward, end_of_day) for ward in wards]
    out: list[dict[str, Any]] = [{"name": "date", "valueDate": day_text}]
    out += [{"name": "ward", "part": part} for part, _shown in parts]
    if not (rtype == "Location" and len(wards) == 1 and physical_type(wards[0]) == "wa"):
        totals = {k: sum(_count(part, k) for part, _ in parts) for k in COUNTS}
        out.append({"name": "total", "part": [{"name": k, "valueInteger": v}
                                              for k, v in totals.items()]})
    shown = [enc for _, encs in parts for enc in encs]
    repo.record_audit("bed-board", rtype, [fhir_id], resources=shown)
    return {"resourceType": "Parameters", "parameter": out}


def _day_end(day: Any) -> tuple[float, str]:
    if day is None:
        the_day = datetime.now(LOCAL).date()
    else:
        try:
            the_day = date.fromisoformat(str(day))
        except ValueError as exc:
            raise BadRequest("date must be a date, e.g. 2026-11-27") from exc
    end = datetime.combine(the_day + timedelta(days=1), datetime.min.time(), LOCAL)
    return end.timestamp(), the_day.isoformat()


def _search(repo: Repository, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    req = repo.parse("Location", [*pairs, ("_count", str(_MAX))])
    return repo.search(req).matches


def _children(repo: Repository, parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not parents:
        return []
    return _search(repo, [("partof", ",".join(f"Location/{x['id']}" for x in parents))])


def _wards(repo: Repository, rtype: str, fhir_id: str) -> list[dict[str, Any]]:
    """The wards a board covers: a ward itself, a hospital's (building's) wards, or the
    wards of a care unit or hospital Organization."""
    if rtype == "Location":
        root = fetch(repo, "Location", fhir_id)
        if root is None:
            raise NotFound(f"Location/{fhir_id} is not known")
        roots = [root]
    elif rtype == "Organization":
        if fetch(repo, "Organization", fhir_id) is None:
            raise NotFound(f"Organization/{fhir_id} is not known")
        roots = _search(repo, [("organization", f"Organization/{fhir_id}")])
    else:
        raise BadRequest("The bed board is for a Location or an Organization")
    wards = [r for r in roots if physical_type(r) == "wa"]
    buildings = [r for r in roots if physical_type(r) == "bu"]
    wards += [c for c in _children(repo, buildings) if physical_type(c) == "wa"]
    if not wards:
        raise BadRequest(f"{rtype}/{fhir_id} has no wards")
    unique = {w["id"]: w for w in wards}
    return sorted(unique.values(), key=lambda w: (w.get("name") or "", w["id"]))


def _beds(repo: Repository, ward: dict[str, Any]) -> list[dict[str, Any]]:
    level = [ward]
    beds: list[dict[str, Any]] = []
    for _ in range(3):  # ward → room → bed (or beds straight under the ward)
        level = _children(repo, level)
        beds += [x for x in level if physical_type(x) == "bd"]
        level = [x for x in level if physical_type(x) != "bd"]
        if not level:
            break
    return sorted(beds, key=lambda b: (b.get("name") or "", b["id"]))


def _ref(location: dict[str, Any]) -> dict[str, Any]:
    out = {"reference": f"Location/{location['id']}"}
    if isinstance(location.get("name"), str):
        out["display"] = location["name"]
    return out


def _person(patient: dict[str, Any]) -> str:
    name = (patient.get("name") or [{}])[0]
    return " ".join([*name.get("given", []), name.get("family", "")]).strip()


def _ward(repo: Repository, ward: dict[str, Any],
          end_of_day: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    conn = repo.conn
    rows = conn.execute(select(adt_encounter).where(
        adt_encounter.c.ward_id == ward["id"], adt_encounter.c.kind == "inpatient",
        adt_encounter.c.state.in_(("planned", "in-progress", "onleave")))).all()
    beds = _beds(repo, ward)
    holders = {r.bed_id: r.encounter_id for r in conn.execute(select(adt_bed).where(
        adt_bed.c.bed_id.in_([b["id"] for b in beds])))} if beds else {}
    by_id = {r.encounter_id: r for r in rows}
    # What the caller may see: the Encounters through the access policy, then their patients.
    visible = {e["id"]: e for e in repo.fetch_many([("Encounter", r.encounter_id)
                                                    for r in rows])}
    patients = {x["id"]: x for x in repo.fetch_many(
        [("Patient", by_id[i].patient_id) for i in visible])}

    def who(encounter_id: str) -> list[dict[str, Any]]:
        row = by_id.get(encounter_id)
        if row is None or encounter_id not in visible:
            return []
        out: list[dict[str, Any]] = [{"name": "encounter", "valueReference": {
            "reference": f"Encounter/{row.encounter_id}"}}]
        patient = patients.get(row.patient_id)
        if patient is not None:
            out.append({"name": "patient", "valueReference": {
                "reference": f"Patient/{row.patient_id}", "display": _person(patient)}})
        if row.state == "onleave":
            out.append({"name": "onLeave", "valueBoolean": True})
        if row.planned_end is not None:
            out.append({"name": "expectedDischarge", "valueDateTime": instant(row.planned_end)})
        if row.planned_start is not None and row.state == "planned":
            out.append({"name": "expectedArrival", "valueDateTime": instant(row.planned_start)})
        return out

    counts = dict.fromkeys(COUNTS, 0)
    counts["beds"] = len(beds)
    bed_parts = []
    for bed in beds:
        holder = holders.get(bed["id"])
        code = "O" if holder else (bed_status(bed) or "U")
        counts[{"O": "occupied", "U": "free", "H": "cleaning", "C": "closed"}.get(
            code, "closed")] += 1
        bed_parts.append({"name": "bed", "part": [
            {"name": "location", "valueReference": _ref(bed)},
            {"name": "status", "valueCode": code}, *(who(holder) if holder else [])]})
    active = [r for r in rows if r.state in ("in-progress", "onleave")]
    counts["inpatients"] = len(active)
    counts["onLeave"] = sum(r.state == "onleave" for r in active)
    counts["expectedDischarges"] = sum(r.planned_end is not None and r.planned_end < end_of_day
                                       for r in active)
    incoming = sorted((r for r in rows if r.state == "planned" and r.planned_start is not None
                       and r.planned_start < end_of_day), key=lambda r: r.planned_start)
    counts["incoming"] = len(incoming)
    unit = ward.get("managingOrganization")
    part: list[dict[str, Any]] = [{"name": "location", "valueReference": _ref(ward)}]
    if isinstance(unit, dict) and unit.get("reference"):
        part.append({"name": "unit", "valueReference": {"reference": unit["reference"]}})
    part += [{"name": k, "valueInteger": v} for k, v in counts.items()]
    part += bed_parts
    part += [{"name": "inpatient", "part": who(r.encounter_id)} for r in active
             if r.bed_id is None and r.encounter_id in visible]
    part += [{"name": "incomingAdmission", "part": who(r.encounter_id)} for r in incoming
             if r.encounter_id in visible]
    return part, [visible[i] for i in visible]


def _count(part: list[dict[str, Any]], name: str) -> int:
    return next((int(p["valueInteger"]) for p in part if p["name"] == name), 0)
