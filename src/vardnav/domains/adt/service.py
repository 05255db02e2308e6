"""The ADT workflow: admission, discharge and transfer as steps on FHIR Encounter and Location.

Each public method is one step. It takes the caller's `Repository` (the caller owns the
transaction and commits once; nothing here commits) and keyword-only arguments, writes the
Encounter (and the beds' Location.operationalStatus, and a discharge summary), keeps the rule
tables of models.py in step, journals what it replaced so that a cancellation restores it
exactly, and then tells every `AdtListener` (HL7 v2 outbox...) inside the same transaction.

Ids are FHIR logical ids. `at` is an aware datetime (None: now). `origin` and
`origin_control_id` (HL7 v2 MSH-3 and MSH-10) are copied into the event. Rule violations
raise `Conflict` (409: the bed or the patient is taken) or `BusinessRuleViolation` (422: the
step is not allowed in the Encounter's state); see docs/adt.md for the state machine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update

from vardnav.db.direct import Direct
from vardnav.domains.access.custody import ON_BEHALF_OF
from vardnav.domains.adt import stays
from vardnav.domains.adt.codes import (
    DISPOSITIONS,
    PLANNED_END,
    PLANNED_START,
    VISIT_KINDS,
    bed_status_coding,
    physical_type,
)
from vardnav.domains.adt.events import (
    ADMIT,
    CANCEL_ADMIT,
    CANCEL_DISCHARGE,
    CANCEL_PRE_ADMIT,
    CANCEL_TRANSFER,
    DISCHARGE,
    LEAVE,
    PRE_ADMIT,
    REGISTER,
    RETURN,
    TRANSFER,
    UPDATE,
    AdtEvent,
    AdtListener,
)
from vardnav.domains.adt.models import adt_step
from vardnav.domains.adt.places import fetch, from_refs, require, resolve
from vardnav.domains.adt.records import (
    care_unit,
    custody_of,
    discharge_summary,
    practitioner,
    set_bed,
    void,
)
from vardnav.domains.adt.rules import (
    ACTIVE,
    authorize_step,
    check_bed_free,
    check_bed_restorable,
    check_not_admitted,
    lock,
    managed,
    project,
    require_inpatient,
    require_state,
)
from vardnav.domains.identity.access.principal import Principal
from vardnav.errors import BadRequest, BusinessRuleViolation
from vardnav.fhir.datetimes import instant
from vardnav.fhir.hooks import Custody
from vardnav.fhir.ids import new_id
from vardnav.fhir.storage.repository import Repository

CUSTODY_TTL = 60.0  # seconds a care unit's custody (unit and provider HSA-ids) is cached
# Steps a cancellation can undo, by the cancellation's trigger (A11 also cancels a visit).
UNDOES = {CANCEL_ADMIT: (ADMIT, REGISTER), CANCEL_TRANSFER: (TRANSFER,),
          CANCEL_DISCHARGE: (DISCHARGE,)}
# The latest of these is the one a cancellation may undo (A08 and A05 are not undoable).
JOURNALED = (ADMIT, REGISTER, TRANSFER, DISCHARGE, LEAVE, RETURN)
_STEP_NAMES = {REGISTER: "register-visit", PRE_ADMIT: "pre-admit", ADMIT: "admit",
               TRANSFER: "transfer", DISCHARGE: "discharge", UPDATE: "update-staff",
               CANCEL_ADMIT: "cancel-admit", CANCEL_TRANSFER: "cancel-transfer",
               CANCEL_DISCHARGE: "cancel-discharge", LEAVE: "leave", RETURN: "return",
               CANCEL_PRE_ADMIT: "cancel-pre-admit"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AdtWorkflow:
    def __init__(self, listeners: Sequence[AdtListener] = (),
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.listeners = tuple(listeners)
        self.clock = clock
        # Care unit reference → (valid until, custody): the organisation tree changes seldom,
        # and walking it on every step of an HL7 feed would cost more than the step.
        self._custody: dict[str, tuple[float, Custody | None]] = {}

    # -- registration and admission ---------------------------------------------------------

    def register_visit(self, repo: Repository, *, patient_id: str, unit_id: str, kind: str,
                       attending_id: str | None = None, at: datetime | None = None,
                       origin: str | None = None,
                       origin_control_id: str | None = None) -> dict[str, Any]:
        """A04: an outpatient or emergency visit at a care unit (Organization id, or a ward
        Location id) begins."""
        authorize_step(repo)
        if kind not in VISIT_KINDS:
            raise BadRequest(f"kind must be one of {', '.join(VISIT_KINDS)}, not {kind!r}")
        t = self._time(at)
        self._patient(repo, patient_id)
        unit_ref, chain = care_unit(repo, unit_id)
        enc = stays.new_encounter(encounter_id=new_id(), patient_id=patient_id,
                                  kind=kind, status="in-progress", service_provider=unit_ref,
                                  at=instant(t))
        if chain:
            stays.move(enc, chain, instant(t))
        if attending_id:
            practitioner(repo, attending_id, "attending")
            stays.set_participant(enc, "attending", attending_id, instant(t))
        return self._step(repo, REGISTER, None, enc, at=t, origin=origin,
                          origin_control_id=origin_control_id)

    def pre_admit(self, repo: Repository, *, patient_id: str, ward_id: str,
                  expected_at: datetime, attending_id: str | None = None,
                  at: datetime | None = None, origin: str | None = None,
                  origin_control_id: str | None = None) -> dict[str, Any]:
        """A05: a planned admission to a ward (Encounter status planned, expected arrival in
        the planned-start extension); it is taken up by `admit(encounter_id=…)`."""
        authorize_step(repo)
        t = self._time(at)
        if expected_at is None:
            raise BadRequest("A pre-admission needs the expected time of arrival")
        expected = self._time(expected_at, "expected_at")
        self._patient(repo, patient_id)
        place = resolve(repo, bed_id=None, ward_id=ward_id)
        enc = stays.new_encounter(encounter_id=new_id(), patient_id=patient_id,
                                  kind="inpatient", status="planned",
                                  service_provider=place.unit_ref, at=instant(t))
        enc["location"] = [stays.entry(place.ward, "planned", None)]
        stays.set_extension(enc, PLANNED_START, instant(expected))
        if attending_id:
            practitioner(repo, attending_id, "attending")
            stays.set_participant(enc, "attending", attending_id, instant(t))
        return self._step(repo, PRE_ADMIT, None, enc, at=t, journal=False, origin=origin,
                          origin_control_id=origin_control_id)

    def admit(self, repo: Repository, *, patient_id: str, attending_id: str,
              bed_id: str | None = None, ward_id: str | None = None,
              nurse_id: str | None = None, encounter_id: str | None = None,
              at: datetime | None = None, expected_discharge: datetime | None = None,
              origin: str | None = None,
              origin_control_id: str | None = None) -> dict[str, Any]:
        """A01: admit to a ward (and bed) under a responsible physician (and nurse); with
        `encounter_id`, the pre-admission of that patient is taken up."""
        authorize_step(repo)
        t = self._time(at)
        # Taken before anything is read, so that on PostgreSQL what follows sees the latest
        # committed state of the patient, the pre-admission and the bed.
        lock(repo, f"patient:{patient_id}", *([f"encounter:{encounter_id}"] if encounter_id
                                              else []), *([f"bed:{bed_id}"] if bed_id else []))
        self._patient(repo, patient_id)
        before = None
        if encounter_id:
            before, row = managed(repo, encounter_id)
            if row.state != "planned" or row.patient_id != patient_id:
                raise BusinessRuleViolation(
                    f"Encounter/{encounter_id} is not a pre-admission of Patient/{patient_id} "
                    f"(it is {row.state})")
            if not bed_id and not ward_id:
                ward_id = row.ward_id
        place = resolve(repo, bed_id=bed_id, ward_id=ward_id)
        check_not_admitted(repo, patient_id)
        check_bed_free(repo, place, None)
        practitioner(repo, attending_id, "attending")
        if nurse_id:
            practitioner(repo, nurse_id, "nurse")
        iso = instant(t)
        if before is None:
            enc = stays.new_encounter(encounter_id=new_id(), patient_id=patient_id,
                                      kind="inpatient", status="in-progress",
                                      service_provider=place.unit_ref, at=iso)
        else:
            enc = stays.clone(before)
            stays.set_status(enc, "in-progress", iso)
            enc["period"] = {"start": iso}
            enc["serviceProvider"] = place.unit_ref
        stays.move(enc, place.chain, iso)
        stays.set_participant(enc, "attending", attending_id, iso)
        if nurse_id:
            stays.set_participant(enc, "nurse", nurse_id, iso)
        if expected_discharge is not None:
            stays.set_extension(enc, PLANNED_END,
                                instant(self._time(expected_discharge, "expected_discharge")))
        beds = {place.bed_id: bed_status_coding("O")} if place.bed_id else {}
        return self._step(repo, ADMIT, before, enc, at=t, beds=beds, known=place.chain,
                          origin=origin,
                          origin_control_id=origin_control_id)

    # -- during the stay --------------------------------------------------------------------

    def transfer(self, repo: Repository, *, encounter_id: str, bed_id: str | None = None,
                 ward_id: str | None = None, at: datetime | None = None,
                 origin: str | None = None,
                 origin_control_id: str | None = None) -> dict[str, Any]:
        """A02: move an admitted patient to another bed and/or ward; the old bed is left in
        housekeeping (H, being cleaned) and the Encounter keeps the old locations, completed."""
        authorize_step(repo)
        t = self._time(at)
        lock(repo, f"encounter:{encounter_id}", *([f"bed:{bed_id}"] if bed_id else []))
        before, row = managed(repo, encounter_id)
        require_inpatient(row, "transferred")
        if row.state == "onleave":
            raise BusinessRuleViolation("The patient is on leave of absence; register the "
                                        "return before a transfer")
        require_state(row, ("in-progress",), "transferred")
        place = resolve(repo, bed_id=bed_id, ward_id=ward_id)
        if place.bed_id == row.bed_id and (place.bed_id or place.ward_id == row.ward_id):
            raise BusinessRuleViolation("The patient is already there; a transfer needs "
                                        "another bed or ward")
        check_bed_free(repo, place, encounter_id)
        self._not_before(before, t)
        iso = instant(t)
        enc = stays.clone(before)
        stays.move(enc, place.chain, iso)
        enc["serviceProvider"] = place.unit_ref
        beds: dict[str, dict[str, Any] | None] = {}
        if row.bed_id:
            beds[row.bed_id] = bed_status_coding("H")
        if place.bed_id:
            beds[place.bed_id] = bed_status_coding("O")
        return self._step(repo, TRANSFER, before, enc, at=t, beds=beds, known=place.chain,
                          origin=origin,
                          origin_control_id=origin_control_id)

    def leave(self, repo: Repository, *, encounter_id: str, at: datetime | None = None,
              origin: str | None = None,
              origin_control_id: str | None = None) -> dict[str, Any]:
        """A21: leave of absence begins; the bed stays the patient's (locations reserved)."""
        return self._leave_or_return(repo, encounter_id, at, LEAVE, origin, origin_control_id)

    def return_from_leave(self, repo: Repository, *, encounter_id: str,
                          at: datetime | None = None, origin: str | None = None,
                          origin_control_id: str | None = None) -> dict[str, Any]:
        """A22: back from leave of absence."""
        return self._leave_or_return(repo, encounter_id, at, RETURN, origin, origin_control_id)

    def _leave_or_return(self, repo: Repository, encounter_id: str, at: datetime | None,
                         trigger: str, origin: str | None,
                         origin_control_id: str | None) -> dict[str, Any]:
        authorize_step(repo)
        t = self._time(at)
        lock(repo, f"encounter:{encounter_id}")
        before, row = managed(repo, encounter_id)
        require_inpatient(row, "sent on leave" if trigger == LEAVE else "returned")
        wanted, new, held = (("in-progress", "onleave", ("active", "reserved"))
                             if trigger == LEAVE else
                             ("onleave", "in-progress", ("reserved", "active")))
        if row.state != wanted:
            raise BusinessRuleViolation(
                f"Encounter/{encounter_id} is {row.state}: " +
                ("only an admitted patient goes on leave" if trigger == LEAVE else
                 "only a patient on leave of absence returns"))
        self._not_before(before, t)
        enc = stays.clone(before)
        stays.hold(enc, *held)
        stays.set_status(enc, new, instant(t))
        return self._step(repo, trigger, before, enc, at=t, origin=origin,
                          origin_control_id=origin_control_id)

    def update(self, repo: Repository, *, encounter_id: str, attending_id: str | None = None,
               nurse_id: str | None = None, expected_discharge: datetime | None = None,
               at: datetime | None = None, origin: str | None = None,
               origin_control_id: str | None = None) -> dict[str, Any]:
        """A08: change the responsible physician or nurse, or the expected discharge."""
        authorize_step(repo)
        if attending_id is None and nurse_id is None and expected_discharge is None:
            raise BadRequest("Nothing to update: give an attending physician, a nurse or an "
                             "expected discharge")
        t = self._time(at)
        lock(repo, f"encounter:{encounter_id}")
        before, row = managed(repo, encounter_id)
        require_state(row, ("planned", *ACTIVE), "updated")
        enc = stays.clone(before)
        for role, pid in (("attending", attending_id), ("nurse", nurse_id)):
            if pid:
                practitioner(repo, pid, role)
                stays.set_participant(enc, role, pid, instant(t))
        if expected_discharge is not None:
            stays.set_extension(enc, PLANNED_END,
                                instant(self._time(expected_discharge, "expected_discharge")))
        return self._step(repo, UPDATE, before, enc, at=t, journal=False, origin=origin,
                          origin_control_id=origin_control_id)

    # -- discharge --------------------------------------------------------------------------

    def discharge(self, repo: Repository, *, encounter_id: str, disposition: str,
                  summary: str | None = None, at: datetime | None = None,
                  origin: str | None = None,
                  origin_control_id: str | None = None) -> dict[str, Any]:
        """A03: end the stay (or visit) with a disposition; the bed goes to housekeeping; a
        summary text becomes a discharge summary Composition (LOINC 18842-5)."""
        authorize_step(repo)
        if disposition not in DISPOSITIONS:
            raise BadRequest(f"Unknown disposition {disposition!r}; one of "
                             + ", ".join(DISPOSITIONS))
        t = self._time(at)
        lock(repo, f"encounter:{encounter_id}")
        before, row = managed(repo, encounter_id)
        if row.state not in ACTIVE:
            raise BusinessRuleViolation(
                f"Only an admitted patient is discharged; Encounter/{encounter_id} is "
                f"{row.state}")
        self._not_before(before, t)
        enc = stays.clone(before)
        stays.discharge(enc, disposition, instant(t))
        beds = {row.bed_id: bed_status_coding("H")} if row.bed_id else {}
        created = []
        if summary is not None and summary.strip():
            with self._on_behalf_of(repo, enc):
                created.append(discharge_summary(repo, enc, summary.strip(), instant(t)))
        return self._step(repo, DISCHARGE, before, enc, at=t, beds=beds, created=created,
                          disposition=disposition, origin=origin,
                          origin_control_id=origin_control_id)

    # -- corrections ------------------------------------------------------------------------

    def cancel_admit(self, repo: Repository, *, encounter_id: str, origin: str | None = None,
                     origin_control_id: str | None = None) -> dict[str, Any]:
        """A11: the admission (or registered visit) was a mistake. A taken-up pre-admission
        is planned again; otherwise the Encounter is marked entered-in-error."""
        return self._cancel(repo, encounter_id, CANCEL_ADMIT, origin, origin_control_id)

    def cancel_transfer(self, repo: Repository, *, encounter_id: str,
                        origin: str | None = None,
                        origin_control_id: str | None = None) -> dict[str, Any]:
        """A12: undo the latest transfer: back to the previous bed, exactly as before."""
        return self._cancel(repo, encounter_id, CANCEL_TRANSFER, origin, origin_control_id)

    def cancel_discharge(self, repo: Repository, *, encounter_id: str,
                         origin: str | None = None,
                         origin_control_id: str | None = None) -> dict[str, Any]:
        """A13: undo the discharge: the stay, bed and summary are as before it."""
        return self._cancel(repo, encounter_id, CANCEL_DISCHARGE, origin, origin_control_id)

    def cancel_pre_admit(self, repo: Repository, *, encounter_id: str,
                         origin: str | None = None,
                         origin_control_id: str | None = None) -> dict[str, Any]:
        """A38: the planned admission will not happen. The pre-admission is cancelled
        (Encounter status cancelled, its planned ward kept as the record of the plan): no
        admission takes it up any more, the bed board no longer expects the patient, and
        the ward's care relationship from the plan ends."""
        authorize_step(repo)
        t = self._time(None)
        lock(repo, f"encounter:{encounter_id}")
        before, row = managed(repo, encounter_id)
        if row.state != "planned":
            raise BusinessRuleViolation(
                f"Encounter/{encounter_id} is {row.state}: only a pre-admission (planned) is "
                "cancelled with A38; an admission is cancelled with A11")
        enc = stays.clone(before)
        stays.set_status(enc, "cancelled", instant(t))
        return self._step(repo, CANCEL_PRE_ADMIT, before, enc, at=t, journal=False,
                          origin=origin, origin_control_id=origin_control_id)

    def _cancel(self, repo: Repository, encounter_id: str, trigger: str, origin: str | None,
                origin_control_id: str | None) -> dict[str, Any]:
        authorize_step(repo)
        t = self._time(None)
        lock(repo, f"encounter:{encounter_id}")
        current, row = managed(repo, encounter_id)
        step = repo.conn.execute(
            select(adt_step).where(adt_step.c.encounter_id == encounter_id,
                                   adt_step.c.cancelled.is_(False))
            .order_by(adt_step.c.id.desc()).limit(1)).first()
        if step is None or step.trigger not in UNDOES[trigger]:
            latest = f"the latest step was {step.trigger}" if step else "it has no steps"
            raise BusinessRuleViolation(
                f"Nothing to cancel with {trigger} on Encounter/{encounter_id}: {latest}; "
                "only the latest step can be cancelled")
        if step.encounter_before is not None:
            restored = stays.clone(step.encounter_before)
            restored["id"] = encounter_id
        else:
            restored = stays.clone(current)
            restored["status"] = "entered-in-error"
        beds: dict[str, dict[str, Any] | None] = dict(step.beds_before or {})
        lock(repo, *(f"bed:{b}" for b in beds))
        if restored.get("status") in ACTIVE:
            check_not_admitted(repo, row.patient_id, encounter_id)
            for ref in stays.current_refs(restored):
                bed = fetch(repo, "Location", ref.rpartition("/")[2])
                if bed is not None and physical_type(bed) == "bd":
                    check_bed_restorable(repo, bed, encounter_id)
        for ref in step.created or []:
            void(repo, ref)
        stored = self._step(repo, trigger, current, restored, at=t, beds=beds, journal=False,
                            origin=origin, origin_control_id=origin_control_id)
        repo.conn.execute(update(adt_step).where(adt_step.c.id == step.id).values(
            cancelled=True))
        return stored

    # -- the common tail of every step ------------------------------------------------------

    def _step(self, repo: Repository, trigger: str, before: dict[str, Any] | None,
              after: dict[str, Any], *, at: float,
              beds: dict[str, dict[str, Any] | None] | None = None, journal: bool = True,
              created: Sequence[str] = (), disposition: str | None = None,
              known: Sequence[dict[str, Any]] = (),
              origin: str | None, origin_control_id: str | None) -> dict[str, Any]:
        """Claim the rule rows, set the beds, write the Encounter, journal, audit, notify."""
        encounter_id = after["id"]
        project(repo, after)  # first: the unique keys refuse a taken bed or patient
        beds_before: dict[str, dict[str, Any] | None] = {}
        read = {loc["id"]: loc for loc in known}  # Locations read after this step's locks
        with self._on_behalf_of(repo, after):
            for bed_id, coding in (beds or {}).items():
                bed = read.get(bed_id) or require(repo, "Location", bed_id, "bed")
                beds_before[bed_id] = bed.get("operationalStatus")
                set_bed(repo, bed, coding)
            if before is None:
                stored = repo.create("Encounter", after, fhir_id=encounter_id).resource
            else:
                stored = repo.update("Encounter", encounter_id, after).resource
        assert stored is not None
        if journal:
            _INSERT_STEP(repo.conn, {
                "encounter_id": encounter_id, "trigger": trigger, "at": at,
                "encounter_before": None if before is None else stays.clone(before),
                "beds_before": beds_before, "created": list(created) or None,
                "cancelled": False})
        patient_id = stored["subject"]["reference"].rpartition("/")[2]
        repo.record_audit(f"adt-{_STEP_NAMES[trigger]}", "Encounter", [encounter_id],
                          resources=[stored], trigger=trigger,
                          beds={b: (c or {}).get("code") for b, c in (beds or {}).items()})
        if self.listeners:
            event = AdtEvent(
                trigger=trigger, patient=fetch(repo, "Patient", patient_id) or {},
                encounter=stored, occurred=instant(at),
                location=from_refs(repo, stays.last_refs(stored)),
                prior_location=(from_refs(repo, stays.last_refs(before))
                                if before is not None and trigger in (
                                    TRANSFER, DISCHARGE, CANCEL_TRANSFER, CANCEL_DISCHARGE)
                                else ()),
                practitioners={role: p for role, pid in stays.practitioner_ids(stored).items()
                               if (p := fetch(repo, "Practitioner", pid)) is not None},
                disposition=disposition if trigger == DISCHARGE else None,
                origin=origin, origin_control_id=origin_control_id)
            for listener in self.listeners:
                listener.adt_event(repo, event)
        return stored

    # -- small helpers ----------------------------------------------------------------------

    @contextmanager
    def _on_behalf_of(self, repo: Repository, enc: dict[str, Any]) -> Iterator[None]:
        """A system integration records on behalf of the ward's care unit (and its provider),
        as staff there would: the record's custody decides who may read it under PDL."""
        p = repo.ctx.principal
        if not (isinstance(p, Principal) and p.kind == "system") or \
                ON_BEHALF_OF in repo.ctx.attributes:
            yield
            return
        unit_ref = (enc.get("serviceProvider") or {}).get("reference") or ""
        cached = self._custody.get(unit_ref)
        if cached is None or cached[0] < time.monotonic():
            cached = (time.monotonic() + CUSTODY_TTL, custody_of(repo, unit_ref))
            self._custody[unit_ref] = cached
        if cached[1] is None:
            yield
            return
        repo.ctx.attributes[ON_BEHALF_OF] = cached[1]
        try:
            yield
        finally:
            repo.ctx.attributes.pop(ON_BEHALF_OF, None)

    def _time(self, at: datetime | None, name: str = "at") -> float:
        if at is None:
            return self.clock().timestamp()
        if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
            raise BadRequest(f"'{name}' must be a date and time with a time zone")
        return at.timestamp()

    @staticmethod
    def _patient(repo: Repository, patient_id: str) -> dict[str, Any]:
        return require(repo, "Patient", patient_id, "patient")

    @staticmethod
    def _not_before(enc: dict[str, Any], t: float) -> None:
        # Steps come in order: a transfer dated before the admission would break the history.
        if t + 0.0005 < stays.latest_time(enc):
            raise BusinessRuleViolation("The step's time precedes the Encounter's previous "
                                        "step; steps are recorded in order")


_INSERT_STEP = Direct(insert(adt_step))  # built once; on SQLite run directly (db/direct.py)

__all__ = ["ACTIVE", "AdtWorkflow", "authorize_step", "lock"]
