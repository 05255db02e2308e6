"""An audited interaction as a FHIR R4 AuditEvent, plus the columns the access log indexes.

What PDL asks of every log entry (domain.md §2) and where it sits in the AuditEvent:
- the action: `type` (rest, or DICOM user authentication for sign-in), `subtype` (the FHIR
  restful interaction, and Vårdnav's own interaction name), `action` (C/R/U/D/E);
- the user: the requesting `agent` (HSA-id for staff, with the profession as `role`, the
  FHIR user as reference, and the network address);
- the purpose of use: `purposeOfEvent`;
- the care unit and care provider the access came from: two more agents (R4 has no
  `onBehalfOf`; the agent types are Vårdnav codes `care-unit` / `care-provider`);
- the patient: one `entity` per patient (role Patient), plus one per resource
  touched (only `what`: no type or role);
- the time: `recorded`.
The app the user worked in is an agent too (DICOM 110150 Application, its client id).

Codes carry no `display` and optional elements that repeat what another says are left out
(the user agent's `purposeOfUse`, `source.site` and `source.type`, an own subtype equal to
the FHIR one): a read's event is ≈ 1.8 kB instead of 2.3 kB (measured: PostgreSQL's CPU per
row inserted in batches of 14, 54 → 44–49 µs). Of that, what the caller repeats is stored
once, as a frame (audit_frames.py): a read's row holds ≈ 0.45 kB.

Purpose of use (v3-ActReason): `ctx.attributes["purpose_of_use"]` when the access layer
set one (ETREAT for emergency access), else TREAT for staff (care), PATRQT for residents
(the patient's own request) and HOPERAT for system callers (integrations and the server's
own lookups are healthcare operations, not care of one patient).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from vardnav.domains.access.audit_frames import ADDRESS, FRAME, Frame, make_frame
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.datetimes import instant
from vardnav.fhir.hooks import AuditRecord, RequestContext
from vardnav.fhir.ids import new_id

log = logging.getLogger(__name__)

HSA_SYSTEM = "urn:oid:1.2.752.29.4.19"
# Request-context attributes the access layers set and the log records.
PURPOSE_OF_USE = "purpose_of_use"  # v3-ActReason code, e.g. ETREAT
CARE_RELATIONSHIP = "care_relationship"  # "asserted" when the user asserted one
CLIENT_ADDRESS = "client_address"  # the caller's IP address
REASON = "reason"  # a user's stated reason (emergency access, asserted relationship)
RECORDED_ATTRIBUTES = (PURPOSE_OF_USE, CARE_RELATIONSHIP, REASON)

ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SECURITY_ROLE = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
PROFESSION = "https://vardnav.se/fhir/CodeSystem/profession"
AGENT_TYPE = "https://vardnav.se/fhir/CodeSystem/audit-agent-type"
INTERACTION = "https://vardnav.se/fhir/CodeSystem/audit-interaction"
CLIENT_ID = "https://vardnav.se/fhir/sid/client-id"
TOKEN_SUBJECT = "https://vardnav.se/fhir/sid/token-subject"
USERNAME = "https://vardnav.se/fhir/sid/username"

DEFAULT_PURPOSE = {"staff": "TREAT", "resident": "PATRQT", "system": "HOPERAT"}
_ACTIONS = {"create": "C", "read": "R", "vread": "R", "history": "R", "update": "U",
            "patch": "U", "delete": "D"}  # searches, operations, sign-in: E (execute)
_RESTFUL = {"read", "vread", "update", "patch", "delete", "history", "create", "search"}
LOGIN = "login"


class Caller(NamedTuple):
    """The principal's fields the log needs; any context, even an anonymous one, has one.
    (A tuple: built for every entry and the key of the frames' cache, it is made and hashed
    in 0.24 µs, a frozen dataclass in 0.83, measured.)"""

    kind: str | None
    subject: str | None
    client_id: str | None = None
    unit: str | None = None
    provider: str | None = None
    role: str | None = None
    fhir_user: str | None = None
    patient: str | None = None


def caller_of(ctx: RequestContext) -> Caller:
    p = ctx.principal
    if isinstance(p, Principal):
        return Caller(p.kind, p.subject, p.client_id, p.unit, p.provider, p.role,
                      p.fhir_user, p.patient)
    return Caller(None, str(p) if p else None)


@dataclass(frozen=True)
class AuditRow:
    """One access-log row before it is stored: columns, the stored entry's text (compact:
    audit_frames.py), the frame it names and the patients touched."""

    recorded: float
    event: str
    columns: dict[str, Any]
    patients: tuple[str, ...]
    frame: Frame | None = None


@dataclass(frozen=True)
class PendingRead:
    """A read's entry as taken on the request's path, built later by the background writer
    (background_reads.py) in a batch with the others: built on the request's path it cost
    37 µs of the server's CPU per read under load, built in batches 13 µs (measured on the
    1M store, two workers; the same code runs cache-warm in a loop)."""

    ctx: RequestContext
    record: AuditRecord
    recorded: float

    @classmethod
    def taken(cls, ctx: RequestContext, record: AuditRecord, recorded: float) -> PendingRead:
        # Copies: the request's context and record are not the writer's to share.
        return cls(RequestContext(ctx.principal, ctx.base_url, dict(ctx.attributes)),
                   AuditRecord(record.interaction, record.resource_type,
                               list(record.resource_ids), record.outcome,
                               dict(record.detail), list(record.patients)),
                   recorded)

    def row(self) -> AuditRow:
        try:
            return audit_row(self.ctx, self.record, self.recorded)
        except Exception as exc:  # a bug, found after the answer left: keep the entry
            log.exception("An access-log entry could not be built in full; it is stored "
                          "with the user, interaction, resources and patients only")
            r = self.record
            bare = AuditRecord(r.interaction, r.resource_type,
                               [str(i) for i in r.resource_ids], r.outcome,
                               {"error": f"entry built without its details: {exc!r}"},
                               [str(p) for p in r.patients])
            return audit_row(RequestContext(self.ctx.principal, self.ctx.base_url), bare,
                             self.recorded)


# One encoder for every call: json.dumps with these options builds a new one each time.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


def canonical(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces, UTF-8): the text that is stored and hashed."""
    return _CANONICAL.encode(value)


def event_text(event: dict[str, Any]) -> str:
    """A stored entry's text: sorted keys, no spaces, UTF-8 (orjson, a few times faster than
    `canonical` on every audited read). The chain hashes this text as stored, so its exact
    spelling needs no second serializer to agree with."""
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS, default=str).decode()


def audit_row(ctx: RequestContext, record: AuditRecord, recorded: float) -> AuditRow:
    caller = caller_of(ctx)
    login = record.interaction == LOGIN
    purpose = None
    if not login:  # signing in is no access to patient data: no purpose of use
        purpose = (str(ctx.attributes.get(PURPOSE_OF_USE) or "")
                   or DEFAULT_PURPOSE.get(caller.kind or ""))
    relationship = ctx.attributes.get(CARE_RELATIONSHIP)
    patients = tuple(dict.fromkeys(record.patients))
    frame = frame_for(caller, record.interaction, purpose)
    entry = stored_entry(ctx, record, recorded, patients, frame)
    columns = {"user_id": caller.subject, "kind": caller.kind, "unit": caller.unit,
               "provider": caller.provider, "purpose": purpose,
               "care_relationship": str(relationship) if relationship else None,
               "interaction": record.interaction, "resource_type": record.resource_type,
               "outcome": record.outcome}
    return AuditRow(recorded, event_text(entry), columns, patients, frame)


def stored_entry(ctx: RequestContext, record: AuditRecord, recorded: float,
                 patients: tuple[str, ...], frame: Frame) -> dict[str, Any]:
    """What an entry stores beside its frame (audit_frames.py)."""
    success = record.outcome == "success"
    entry: dict[str, Any] = {FRAME: frame.digest, "id": new_id(), "recorded": instant(recorded),
                             "outcome": "0" if success else "4"}
    address = _address(ctx)
    if address:
        entry[ADDRESS] = address
    if not success and record.detail.get("error"):
        entry["outcomeDesc"] = str(record.detail["error"])
    entities = _entities(ctx, record, patients)
    if entities:
        entry["entity"] = entities
    return entry


@functools.lru_cache(maxsize=4096)
def frame_for(caller: Caller, interaction: str, purpose: str | None) -> Frame:
    """What every entry of this caller, interaction and purpose has in common: built and
    hashed once (a user's reads all share one)."""
    parts: dict[str, Any] = {"resourceType": "AuditEvent", **interaction_parts(interaction),
                             "agent": _agents(caller), "source": SOURCE}
    if purpose:
        parts["purposeOfEvent"] = [_act_reason(purpose)]
    return make_frame(parts)


SOURCE = {"observer": {"display": "Vårdnav"}}  # the observer of every entry


def interaction_parts(interaction: str) -> dict[str, Any]:
    """An AuditEvent's type, subtype and action: what the interaction alone determines."""
    return {**_type_and_subtype(interaction), "action": _ACTIONS.get(interaction, "E")}


def _type_and_subtype(interaction: str) -> dict[str, Any]:
    own = {"system": INTERACTION, "code": interaction}
    if interaction == LOGIN:
        return {"type": {"system": DCM, "code": "110114"},
                "subtype": [{"system": DCM, "code": "110122"}, own]}
    name = interaction
    code = (name if name in _RESTFUL else "operation" if name.startswith("operation:")
            else "search" if name == "include" else None)
    # Vårdnav's own name only where it says more than the FHIR interaction's code.
    subtype = ([{"system": RESTFUL, "code": code}] + ([own] if name != code else [])
               if code else [own])
    return {"type": {"system": AUDIT_EVENT_TYPE, "code": "rest"}, "subtype": subtype}


def _act_reason(code: str) -> dict[str, Any]:
    return {"coding": [{"system": ACT_REASON, "code": code}]}


def _address(ctx: RequestContext) -> str | None:
    address = ctx.attributes.get(CLIENT_ADDRESS)
    return str(address) if address else None


def _agents(caller: Caller) -> list[dict[str, Any]]:
    # The network address is the entry's own (ADDRESS): render() puts it in the user agent.
    user: dict[str, Any] = {"type": _user_type(caller), "who": _who(caller), "requestor": True}
    if caller.role:
        user["role"] = [{"coding": [{"system": PROFESSION, "code": caller.role}]}]
    agents = [user]
    for code, hsa in (("care-unit", caller.unit), ("care-provider", caller.provider)):
        if hsa:
            agents.append({"type": {"coding": [{"system": AGENT_TYPE, "code": code}]},
                           "who": {"identifier": {"system": HSA_SYSTEM, "value": hsa}},
                           "requestor": False})
    if caller.client_id and caller.kind != "system":  # a system caller is its own app
        agents.append({"type": {"coding": [{"system": DCM, "code": "110150"}]},
                       "who": {"identifier": {"system": CLIENT_ID,
                                              "value": caller.client_id}},
                       "requestor": False})
    return agents


def _user_type(caller: Caller) -> dict[str, Any]:
    if caller.kind == "system":
        return {"coding": [{"system": DCM, "code": "110150"}]}
    return {"coding": [{"system": SECURITY_ROLE, "code": "humanuser"}]}


def _who(caller: Caller) -> dict[str, Any]:
    if caller.kind == "staff" and caller.subject:
        who: dict[str, Any] = {"identifier": {"system": HSA_SYSTEM, "value": caller.subject}}
    elif caller.kind == "system" and caller.client_id:
        who = {"identifier": {"system": CLIENT_ID, "value": caller.client_id},
               "display": caller.subject or caller.client_id}
    elif caller.subject:
        system = TOKEN_SUBJECT if caller.kind else USERNAME
        who = {"identifier": {"system": system, "value": caller.subject}}
    else:
        return {"display": "anonymous"}
    user_ref = caller.fhir_user or (f"Patient/{caller.patient}" if caller.kind == "resident"
                                    and caller.patient else None)
    if user_ref:
        who["reference"] = user_ref
    return who


def _entities(ctx: RequestContext, record: AuditRecord,
              patients: tuple[str, ...]) -> list[dict[str, Any]]:
    entities = [{"what": {"reference": f"Patient/{pid}"},
                 "role": {"system": OBJECT_ROLE, "code": "1"}} for pid in patients]
    seen = {f"Patient/{pid}" for pid in patients}
    for rid in record.resource_ids:
        ref = rid
        if "/" not in rid and record.resource_type:
            ref = f"{record.resource_type}/{rid}"
        if ref in seen:
            continue
        seen.add(ref)
        # Only `what`: an entity without type and role is a resource the interaction touched.
        # A search's entry lists every resource returned, and with the coded type and role
        # (R4 makes both optional) each took 280 bytes instead of 60: a 50-resource page's
        # entry was 16 kB, and writing and sealing it cost twice the database and server
        # CPU of the 5 kB it is now (measured).
        entities.append({"what": {"reference": ref}})
    details = [{"type": key, "valueString": value if isinstance(value, str)
                else canonical(value)} for key, value in sorted(record.detail.items())
               if value is not None and value != [] and value != {}]
    details += [{"type": key, "valueString": str(ctx.attributes[key])}
                for key in RECORDED_ATTRIBUTES if ctx.attributes.get(key)]
    if details:
        entities.append({"type": {"system": ENTITY_TYPE, "code": "4"},
                         "description": "interaction details", "detail": details})
    return entities


def patients_in(event: dict[str, Any]) -> list[str]:
    """The patients an AuditEvent names (its entities with role Patient)."""
    return [e["what"]["reference"].split("/", 1)[1] for e in event.get("entity", [])
            if (e.get("role") or {}).get("code") == "1"
            and (e.get("role") or {}).get("system") == OBJECT_ROLE
            and str((e.get("what") or {}).get("reference", "")).startswith("Patient/")]
