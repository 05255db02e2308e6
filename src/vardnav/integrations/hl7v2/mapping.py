"""Inbound ADT → the ADT workflow: which step each trigger takes, and how the message's codes
are found in the record (docs/adt.md, "HL7 v2 message mapping").

- The patient: PID-3 personnummer/samordningsnummer (by OID) → Patient.identifier, or
  Vårdnav's own Patient id (PI, authority VARDNAV).
- Places: PV1-3.1 ward and PV1-3.3 bed are HSA-ids of Locations (the ward's, the bed's);
  for A04 PV1-3.1 may also be a care unit's HSA-id (Organization).
- Staff: PV1-7.1 attending doctor and ROL (role NUR) nurse are HSA-ids of Practitioners.
- The encounter: PV1-19.1 visit number. The sender's own visit numbers are remembered when its
  A01/A04/A05 creates the encounter (hl7_visit); Vårdnav's Encounter id (our outbound PV1-19)
  is accepted too; without either, the patient's encounter in the state the trigger needs
  (e.g. the active stay for A02, the latest finished one for A13).
Anything not found raises NotFound (answered AE 204 with a reason naming the field).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select

from vardnav.db.direct import Direct
from vardnav.domains.adt.models import adt_encounter
from vardnav.domains.adt.service import AdtWorkflow
from vardnav.errors import BadRequest, NotFound
from vardnav.fhir.storage.repository import Repository
from vardnav.integrations.hl7v2.codec import HSA_OID, HSA_OID_OLD
from vardnav.integrations.hl7v2.inbound import InboundAdt, Where
from vardnav.integrations.hl7v2.messages import DISPOSITION_CODES
from vardnav.integrations.hl7v2.models import visit as visit_table

_NUMBER_SYSTEMS = {
    "personnummer": ("http://electronichealth.se/identifier/personnummer",
                     "urn:oid:1.2.752.129.2.1.3.1"),
    "samordningsnummer": ("http://electronichealth.se/identifier/samordningsnummer",
                          "urn:oid:1.2.752.129.2.1.3.3")}
_DISPOSITIONS = {**{v: k for k, v in DISPOSITION_CODES.items()},
                 **{k: k for k in DISPOSITION_CODES}}
# Encounter states (adt_encounter.state) each trigger acts on, when PV1-19 does not say.
_STATES = {"A02": ("in-progress",), "A03": ("in-progress", "onleave"),
           "A08": ("in-progress", "onleave", "planned"), "A11": ("in-progress", "onleave"),
           "A12": ("in-progress",), "A13": ("finished",), "A21": ("in-progress",),
           "A22": ("onleave",), "A38": ("planned",)}


class WorkflowApplier:
    """Applies inbound ADT with an `AdtWorkflow` (whose listeners write the outbox)."""

    def __init__(self, workflow: AdtWorkflow) -> None:
        self.workflow = workflow
        # HSA-id → logical id of Locations, Organizations and Practitioners: directory data
        # that does not move; the workflow re-reads each one (through the access policy).
        self._hsa_ids: dict[tuple[str, str], str] = {}

    def apply(self, repo: Repository, m: InboundAdt) -> None:
        wf, t = self.workflow, m.trigger
        origin = {"origin": m.sender, "origin_control_id": m.header.control_id}
        patient_id = self.patient(repo, m)
        at = _when(m.occurred)
        if t == "A01":
            ward_id, bed_id = self.place(repo, m.location, "PV1-3")
            stored = wf.admit(repo, patient_id=patient_id, ward_id=ward_id, bed_id=bed_id,
                              attending_id=self.staff(repo, m.attending, "PV1-7"),
                              nurse_id=self.staff(repo, m.nurse, "ROL-4") if m.nurse else None,
                              encounter_id=self._planned(repo, m, patient_id), at=at,
                              **origin)
        elif t == "A04":
            stored = wf.register_visit(
                repo, patient_id=patient_id, unit_id=self.unit(repo, m.location.ward),
                kind="emergency" if m.patient_class == "E" else "outpatient",
                attending_id=self.staff(repo, m.attending, "PV1-7") if m.attending else None,
                at=at, **origin)
        elif t == "A05":
            ward_id, _bed = self.place(repo, Where(ward=m.location.ward), "PV1-3")
            assert ward_id is not None and m.expected is not None
            stored = wf.pre_admit(
                repo, patient_id=patient_id, ward_id=ward_id, expected_at=_when(m.expected),
                attending_id=self.staff(repo, m.attending, "PV1-7") if m.attending else None,
                at=at, **origin)
        else:
            stored = self._on_encounter(repo, m, patient_id, at, origin)
        if t in ("A01", "A04", "A05") and m.visit and m.visit != stored["id"]:
            self._remember_visit(repo, m, stored["id"])

    def _on_encounter(self, repo: Repository, m: InboundAdt, patient_id: str,
                      at: datetime | None, origin: dict[str, Any]) -> dict[str, Any]:
        wf, t = self.workflow, m.trigger
        encounter_id = self.encounter(repo, m, patient_id)
        if t == "A02":
            ward_id, bed_id = self.place(repo, m.location, "PV1-3")
            return wf.transfer(repo, encounter_id=encounter_id, ward_id=ward_id,
                               bed_id=bed_id, at=at, **origin)
        if t == "A03":
            disposition = _DISPOSITIONS.get(m.disposition)
            if disposition is None:
                raise BadRequest(f"PV1-36 discharge disposition {m.disposition!r} is not "
                                 "known; use " + ", ".join(
                                     f"{c} ({k})" for k, c in DISPOSITION_CODES.items()))
            return wf.discharge(repo, encounter_id=encounter_id, disposition=disposition,
                                at=at, **origin)
        if t == "A08":
            return wf.update(
                repo, encounter_id=encounter_id,
                attending_id=self.staff(repo, m.attending, "PV1-7") if m.attending else None,
                nurse_id=self.staff(repo, m.nurse, "ROL-4") if m.nurse else None,
                at=at, **origin)
        if t == "A21":
            return wf.leave(repo, encounter_id=encounter_id, at=at, **origin)
        if t == "A22":
            return wf.return_from_leave(repo, encounter_id=encounter_id, at=at, **origin)
        if t == "A38":
            return wf.cancel_pre_admit(repo, encounter_id=encounter_id, **origin)
        cancel = {"A11": wf.cancel_admit, "A12": wf.cancel_transfer,
                  "A13": wf.cancel_discharge}[t]
        return cancel(repo, encounter_id=encounter_id, **origin)

    # -- lookups ----------------------------------------------------------------------------

    def patient(self, repo: Repository, m: InboundAdt) -> str:
        pid = m.patient
        if pid.kind == "vardnav":
            found = repo.fetch_many([("Patient", pid.value)])
            if not found:
                raise NotFound(f"PID-3: no patient with Vårdnav id {pid.value}")
            return pid.value
        # Patient.identifier=system|number (either system), without the search machinery and
        # its access-log entry: the step this lookup is part of names the patient in its own.
        ids = repo.token_ids("Patient", "identifier", list(_NUMBER_SYSTEMS[pid.kind]),
                             pid.value)
        if not ids:
            raise NotFound(f"PID-3: no patient with {pid.kind} {pid.value}")
        if len(ids) > 1:
            raise NotFound(f"PID-3: {pid.kind} {pid.value} names several patients")
        return ids[0]

    def _by_hsa(self, repo: Repository, rtype: str, hsa: str) -> str | None:
        key = (rtype, hsa)
        if key not in self._hsa_ids:
            ids = _search(repo, rtype, f"urn:oid:{HSA_OID}|{hsa},urn:oid:{HSA_OID_OLD}|{hsa}")
            if len(ids) != 1:
                return None
            self._hsa_ids[key] = ids[0]
        return self._hsa_ids[key]

    def place(self, repo: Repository, where: Where, field: str) -> tuple[str | None, str | None]:
        """(ward Location id, bed Location id) for PV1-3/PV1-6 HSA-ids."""
        ward_id = bed_id = None
        if where.ward:
            ward_id = self._by_hsa(repo, "Location", where.ward)
            if ward_id is None:
                raise NotFound(f"{field}.1: unknown ward code {where.ward!r} (no Location "
                               "with that HSA-id)")
        if where.bed:
            bed_id = self._by_hsa(repo, "Location", where.bed)
            if bed_id is None:
                raise NotFound(f"{field}.3: unknown bed code {where.bed!r} (no Location "
                               "with that HSA-id)")
        return ward_id, bed_id

    def unit(self, repo: Repository, hsa: str) -> str:
        found = self._by_hsa(repo, "Location", hsa) or self._by_hsa(repo, "Organization", hsa)
        if found is None:
            raise NotFound(f"PV1-3.1: unknown unit code {hsa!r} (no ward Location or care "
                           "unit with that HSA-id)")
        return found

    def staff(self, repo: Repository, hsa: str, field: str) -> str:
        found = self._by_hsa(repo, "Practitioner", hsa)
        if found is None:
            raise NotFound(f"{field}: unknown practitioner {hsa!r} (no Practitioner with "
                           "that HSA-id)")
        return found

    def encounter(self, repo: Repository, m: InboundAdt, patient_id: str) -> str:
        """The encounter the message is about (see the module docstring)."""
        if m.visit:
            known = _visit(repo, m)
            if known is None and _encounter_of(repo, m.visit, patient_id):
                known = m.visit
            if known is not None:
                return str(known)
        states = _STATES[m.trigger]
        row = _latest_in_state(len(states))(
            repo.conn, {"p_id": patient_id, **{f"s{n}": s for n, s in enumerate(states)}}
        ).first()
        if row is None:
            raise NotFound(f"PV1-19: no encounter {m.visit!r} of this patient, and the "
                           f"patient has no encounter that is {' or '.join(states)}"
                           if m.visit else f"The patient has no encounter that is "
                           f"{' or '.join(states)} (and PV1-19 names none)")
        return str(row.encounter_id)

    def _planned(self, repo: Repository, m: InboundAdt, patient_id: str) -> str | None:
        """A01 takes up the patient's pre-admission, if it has one (named or the only one)."""
        if m.visit:
            known = _visit(repo, m)
            candidate = known or m.visit
            if _encounter_of(repo, str(candidate), patient_id, "planned"):
                return str(candidate)
        rows = _PLANNED(repo.conn, {"p_id": patient_id}).all()
        return str(rows[0].encounter_id) if len(rows) == 1 else None

    @staticmethod
    def _remember_visit(repo: Repository, m: InboundAdt, encounter_id: str) -> None:
        if _visit(repo, m) is None:
            _INSERT_VISIT(repo.conn, {"sender": m.sender, "visit_number": m.visit,
                                      "encounter_id": encounter_id, "created": time.time()})


def _search(repo: Repository, rtype: str, identifier: str) -> list[str]:
    req = repo.parse(rtype, [("identifier", identifier), ("_count", "2")])
    req.total = "none"
    return [r["id"] for r in repo.search(req).matches]


# Built once: their compiled form is reused on every message.
_VISIT = Direct(select(visit_table.c.encounter_id).where(
    visit_table.c.sender == bindparam("v_sender"), visit_table.c.visit_number == bindparam("v_no")))
_ENCOUNTER_STATE = Direct(select(adt_encounter.c.patient_id, adt_encounter.c.state).where(
    adt_encounter.c.encounter_id == bindparam("e_id")))
_PLANNED = Direct(select(adt_encounter.c.encounter_id).where(
    adt_encounter.c.patient_id == bindparam("p_id"), adt_encounter.c.state == "planned"))
_INSERT_VISIT = Direct(insert(visit_table))
_LATEST: dict[int, Direct] = {}


def _latest_in_state(count: int) -> Direct:
    """The patient's latest encounter in one of `count` states (parameters s0, s1, …: one
    each rather than an expanding IN, so that the statement is compiled once)."""
    stmt = _LATEST.get(count)
    if stmt is None:
        stmt = _LATEST[count] = Direct(select(adt_encounter.c.encounter_id).where(
            adt_encounter.c.patient_id == bindparam("p_id"),
            adt_encounter.c.state.in_([bindparam(f"s{n}") for n in range(count)])).order_by(
            adt_encounter.c.started.desc()).limit(1))
    return stmt


def _visit(repo: Repository, m: InboundAdt) -> str | None:
    """The encounter the sender's visit number (PV1-19) was remembered for."""
    return _VISIT(repo.conn, {"v_sender": m.sender, "v_no": m.visit}).scalar()


def _encounter_of(repo: Repository, encounter_id: str, patient_id: str,
                  state: str | None = None) -> bool:
    row = _ENCOUNTER_STATE(repo.conn, {"e_id": encounter_id}).first()
    return row is not None and row.patient_id == patient_id and (state is None
                                                                 or row.state == state)


def _when(instant: str | None) -> datetime | None:
    return None if instant is None else datetime.fromisoformat(instant.replace("Z", "+00:00"))
