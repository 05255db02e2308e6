"""The ADT workflow as FHIR operations (each with its OperationDefinition in /metadata):

Patient/{id}/$register-visit, $pre-admit, $admit; Encounter/{id}/$transfer, $leave, $return,
$discharge, $cancel-admit, $cancel-transfer, $cancel-discharge, $update-staff;
Location/{id}/$set-bed-status; Location/{id}/$bed-board and Organization/{id}/$bed-board.

Bodies are Parameters. A Location, Practitioner or Organization is given as a valueReference
(`{"reference": "Location/…"}` or `{"identifier": {"system": HSA, "value": …}}`) or as a
plain id (valueString/valueId). Times are valueDateTime/valueInstant with a time zone. Every
step answers with the Encounter as it stands after it (201 when the step created it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from vardnav.domains.adt.bed_board import bed_board
from vardnav.domains.adt.bed_status import BED_STATUS_STEP, check_new_status
from vardnav.domains.adt.codes import DISPOSITIONS, bed_status_coding, physical_type
from vardnav.domains.adt.models import adt_bed
from vardnav.domains.adt.places import require
from vardnav.domains.adt.service import AdtWorkflow, authorize_step, lock
from vardnav.errors import BadRequest
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.parameters import parameters, text
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository

BASE = "https://vardnav.se/fhir/OperationDefinition"

# name: (FHIR type, min, documentation)
_P = tuple[str, str, int, str]
_AT: _P = ("at", "dateTime", 0, "When the step took effect (default: now)")


def _definition(code: str, resource: str, doc: str, params: list[_P], *,
                out: str = "Encounter", affects_state: bool = True) -> dict[str, Any]:
    return {
        "resourceType": "OperationDefinition", "id": f"vardnav-{code}",
        "url": f"{BASE}/{code}", "name": "".join(p.title() for p in code.split("-")),
        "status": "active", "kind": "operation", "code": code, "description": doc,
        "affectsState": affects_state, "resource": [resource], "system": False,
        "type": False, "instance": True,
        "parameter": [
            *({"name": name, "use": "in", "min": low, "max": "1", "type": ftype,
               "documentation": text} for name, ftype, low, text in params),
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": out}]}


def _ref(repo: Repository, params: dict[str, Any], name: str, rtype: str, *,
         required: bool = False, also: tuple[str, ...] = ()) -> str | None:
    """The logical id of the resource a parameter names (reference, identifier or id), of
    type `rtype` (or one of `also`)."""
    value = params.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' ({rtype}) is required")
        return None
    if isinstance(value, str):
        value = {"reference": value}
    if not isinstance(value, dict):
        raise BadRequest(f"Parameter '{name}' must be a reference to a {rtype}")
    reference = value.get("reference")
    if isinstance(reference, str) and reference:
        kind, _, fhir_id = reference.rpartition("/")
        if kind and kind.rpartition("/")[2] not in (rtype, *also):
            raise BadRequest(f"Parameter '{name}' must refer to a {rtype}, not {reference}")
        return fhir_id
    ident = value.get("identifier")
    if isinstance(ident, dict) and ident.get("value"):
        token = f"{ident.get('system') or ''}|{ident['value']}"
        found = [i for t in (rtype, *also) for i in repo.search_ids(t, [("identifier", token)])]
        if len(found) != 1:
            raise BadRequest(f"Parameter '{name}': {'no' if not found else 'more than one'} "
                             f"{rtype} has the identifier {token}")
        return found[0]
    raise BadRequest(f"Parameter '{name}' must be a reference to a {rtype}")


def _time(params: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = params.get(name)
    if value is None:
        if required:
            raise BadRequest(f"Parameter '{name}' (a dateTime) is required")
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) and "T" in value \
            else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise BadRequest(f"Parameter '{name}' must be a dateTime with a time and a time zone, "
                         f"e.g. 2026-11-27T08:30:00+01:00")
    return parsed


def _answer(encounter: dict[str, Any], created: bool = False) -> FhirResponse:
    headers = {"ETag": f'W/"{encounter["meta"]["versionId"]}"'}
    if created:
        headers["Location"] = f"Encounter/{encounter['id']}/_history/" \
                              f"{encounter['meta']['versionId']}"
    return FhirResponse(201 if created else 200, encounter, headers)


Handler = Callable[[Repository, FhirRequest, str | None, str | None], FhirResponse]


def adt_operations(workflow: AdtWorkflow) -> list[Operation]:
    """The ADT operations, bound to one workflow (and so to its listeners)."""

    def register_visit(repo: Repository, req: FhirRequest, rtype: str | None,
                       fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        return _answer(workflow.register_visit(
            repo, patient_id=fhir_id or "",
            unit_id=_ref(repo, p, "unit", "Organization", required=True,
                         also=("Location",)) or "",
            kind=text(p, "kind", required=True) or "",
            attending_id=_ref(repo, p, "attending", "Practitioner"), at=_time(p, "at")),
            created=True)

    def pre_admit(repo: Repository, req: FhirRequest, rtype: str | None,
                  fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        return _answer(workflow.pre_admit(
            repo, patient_id=fhir_id or "",
            ward_id=_ref(repo, p, "ward", "Location", required=True) or "",
            expected_at=_time(p, "expectedAt", required=True),  # type: ignore[arg-type]
            attending_id=_ref(repo, p, "attending", "Practitioner")), created=True)

    def admit(repo: Repository, req: FhirRequest, rtype: str | None,
              fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        pre = _ref(repo, p, "encounter", "Encounter")
        return _answer(workflow.admit(
            repo, patient_id=fhir_id or "",
            attending_id=_ref(repo, p, "attending", "Practitioner", required=True) or "",
            bed_id=_ref(repo, p, "bed", "Location"), ward_id=_ref(repo, p, "ward", "Location"),
            nurse_id=_ref(repo, p, "nurse", "Practitioner"), encounter_id=pre,
            at=_time(p, "at"), expected_discharge=_time(p, "expectedDischarge")),
            created=pre is None)

    def transfer(repo: Repository, req: FhirRequest, rtype: str | None,
                 fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        return _answer(workflow.transfer(
            repo, encounter_id=fhir_id or "", bed_id=_ref(repo, p, "bed", "Location"),
            ward_id=_ref(repo, p, "ward", "Location"), at=_time(p, "at")))

    def leave(repo: Repository, req: FhirRequest, rtype: str | None,
              fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body or {"resourceType": "Parameters"})
        return _answer(workflow.leave(repo, encounter_id=fhir_id or "", at=_time(p, "at")))

    def back(repo: Repository, req: FhirRequest, rtype: str | None,
             fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body or {"resourceType": "Parameters"})
        return _answer(workflow.return_from_leave(repo, encounter_id=fhir_id or "",
                                                  at=_time(p, "at")))

    def discharge(repo: Repository, req: FhirRequest, rtype: str | None,
                  fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        return _answer(workflow.discharge(
            repo, encounter_id=fhir_id or "",
            disposition=text(p, "disposition", required=True) or "",
            summary=text(p, "summary"), at=_time(p, "at")))

    def canceller(method: Callable[..., dict[str, Any]]) -> Handler:
        def cancel(repo: Repository, req: FhirRequest, rtype: str | None,
                   fhir_id: str | None) -> FhirResponse:
            parameters(req.body or {"resourceType": "Parameters"})
            return _answer(method(repo, encounter_id=fhir_id or ""))
        return cancel

    def update_staff(repo: Repository, req: FhirRequest, rtype: str | None,
                     fhir_id: str | None) -> FhirResponse:
        p = parameters(req.body)
        return _answer(workflow.update(
            repo, encounter_id=fhir_id or "",
            attending_id=_ref(repo, p, "attending", "Practitioner"),
            nurse_id=_ref(repo, p, "nurse", "Practitioner"),
            expected_discharge=_time(p, "expectedDischarge"), at=_time(p, "at")))

    codes = ", ".join(DISPOSITIONS)
    attending: _P = ("attending", "Reference", 0, "Responsible physician (Practitioner)")
    specs: list[tuple[str, str, str, list[_P], Handler]] = [
        ("register-visit", "Patient", "A04: register an outpatient or emergency visit",
         [("unit", "Reference", 1, "The care unit (Organization) or ward (Location)"),
          ("kind", "code", 1, "outpatient | emergency"), attending, _AT], register_visit),
        ("pre-admit", "Patient", "A05: plan an admission to a ward (Encounter planned)",
         [("ward", "Reference", 1, "The ward (Location)"),
          ("expectedAt", "dateTime", 1, "Expected arrival"), attending], pre_admit),
        ("admit", "Patient", "A01: admit to a ward and bed",
         [("bed", "Reference", 0, "The bed (Location); its ward is implied"),
          ("ward", "Reference", 0, "The ward (Location), if no bed is given"),
          ("attending", "Reference", 1, "Responsible physician (Practitioner)"),
          ("nurse", "Reference", 0, "Responsible nurse (Practitioner)"),
          ("encounter", "Reference", 0, "The pre-admission (planned Encounter) to take up"),
          ("expectedDischarge", "dateTime", 0, "Expected discharge"), _AT], admit),
        ("transfer", "Encounter", "A02: move to another bed and/or ward",
         [("bed", "Reference", 0, "The new bed (Location)"),
          ("ward", "Reference", 0, "The new ward (Location), if no bed is given"), _AT],
         transfer),
        ("leave", "Encounter", "A21: leave of absence begins (the bed is kept)", [_AT],
         leave),
        ("return", "Encounter", "A22: back from leave of absence", [_AT], back),
        ("discharge", "Encounter", "A03: discharge with a disposition",
         [("disposition", "code", 1, codes),
          ("summary", "string", 0, "Discharge summary text (becomes a Composition)"), _AT],
         discharge),
        ("cancel-admit", "Encounter", "A11: cancel the admission or visit", [],
         canceller(workflow.cancel_admit)),
        ("cancel-transfer", "Encounter", "A12: cancel the latest transfer", [],
         canceller(workflow.cancel_transfer)),
        ("cancel-discharge", "Encounter", "A13: cancel the discharge", [],
         canceller(workflow.cancel_discharge)),
        ("cancel-pre-admit", "Encounter", "A38: cancel the pre-admission (planned Encounter)",
         [], canceller(workflow.cancel_pre_admit)),
        ("update-staff", "Encounter",
         "A08: change the responsible physician or nurse, or the expected discharge",
         [attending, ("nurse", "Reference", 0, "Responsible nurse (Practitioner)"),
          ("expectedDischarge", "dateTime", 0, "Expected discharge"), _AT], update_staff),
    ]
    ops = [Operation(code, _definition(code, resource, doc, params), handler, (resource,),
                     ("POST",)) for code, resource, doc, params, handler in specs]
    ops.append(Operation("set-bed-status", SET_BED_STATUS_DEFINITION, set_bed_status,
                         ("Location",), ("POST",)))
    ops.append(Operation("bed-board", BED_BOARD_DEFINITION, bed_board_handler,
                         ("Location", "Organization"), ("GET", "POST")))
    return ops


SET_BED_STATUS_DEFINITION = _definition(
    "set-bed-status", "Location",
    "Set a bed's status (v2-0116): C closed, H housekeeping, U unoccupied; audited",
    [("status", "code", 1, "C | H | U"), ("reason", "string", 0, "Why (logged)")],
    out="Location")

BED_BOARD_DEFINITION = {
    **_definition("bed-board", "Location",
                  "Occupancy, free, cleaning and closed beds, patients on leave, expected "
                  "discharges and incoming admissions of a ward, or of every ward of a "
                  "hospital (Location or Organization); see docs/adt.md",
                  [("date", "date", 0, "The day for expected discharges and incoming "
                                       "admissions (default: today, Swedish time)")],
                  out="Parameters", affects_state=False),
    "resource": ["Location", "Organization"]}


def set_bed_status(repo: Repository, req: FhirRequest, rtype: str | None,
                   fhir_id: str | None) -> FhirResponse:
    authorize_step(repo)
    p = parameters(req.body)
    lock(repo, f"bed:{fhir_id}")
    bed = require(repo, "Location", fhir_id or "", "bed")
    if physical_type(bed) != "bd":
        raise BadRequest(f"Location/{fhir_id} is not a bed")
    occupied = repo.conn.execute(select(adt_bed.c.bed_id).where(
        adt_bed.c.bed_id == bed["id"])).first() is not None
    code = check_new_status(p.get("status"), occupied, bed.get("name") or f"Location/{fhir_id}")
    before = (bed.get("operationalStatus") or {}).get("code")
    content = {k: v for k, v in bed.items() if k != "meta"}
    content["operationalStatus"] = bed_status_coding(code)
    repo.ctx.attributes[BED_STATUS_STEP] = True
    try:
        result = repo.update("Location", bed["id"], content)
    finally:
        repo.ctx.attributes.pop(BED_STATUS_STEP, None)
    repo.record_audit("set-bed-status", "Location", [bed["id"]], before=before, after=code,
                      reason=text(p, "reason"))
    return FhirResponse(200, result.resource, {"ETag": f'W/"{result.version_id}"'})


def bed_board_handler(repo: Repository, req: FhirRequest, rtype: str | None,
                      fhir_id: str | None) -> FhirResponse:
    if req.method.upper() == "POST":
        p = parameters(req.body)
        day = p.get("date")
    else:
        day = next((v for k, v in req.query if k == "date"), None)
    return FhirResponse(200, bed_board(repo, rtype or "", fhir_id or "", day))
