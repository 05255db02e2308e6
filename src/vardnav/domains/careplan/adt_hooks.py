"""The plan follows the ADT workflow (an `AdtListener`, assembled in
`vardnav.main.adt_listeners`), inside each step's own transaction:

- A01 (admit): the stay's plan starts, unless the episode already has one;
- A02 (transfer): the plan is handed over — the receiving ward's unit becomes responsible;
- A03 (discharge): the plan is closed (`completed`, reason discharge); the discharge
  coordination can send it along (`$discharge-information` with `carePlanReference`);
- A13 (cancel discharge): the plan closed by that discharge is opened again;
- A11 (cancel admission): the plan is revoked.

First contacts outside inpatient care (a home-care visit, an outpatient episode) start their
plan with `Encounter/{id}/$careplan-start`.
"""

from __future__ import annotations

import contextlib

from vardnav.domains.adt.events import (
    ADMIT,
    CANCEL_ADMIT,
    CANCEL_DISCHARGE,
    DISCHARGE,
    TRANSFER,
    AdtEvent,
)
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan import plans
from vardnav.domains.careplan.entries import author_of
from vardnav.domains.discharge.case import parse_time, recorded_as
from vardnav.errors import Conflict, Forbidden
from vardnav.fhir.storage.repository import Repository


class CarePlanAdtListener:
    def adt_event(self, repo: Repository, event: AdtEvent) -> None:
        if event.trigger not in (ADMIT, TRANSFER, DISCHARGE, CANCEL_DISCHARGE, CANCEL_ADMIT):
            return
        at = parse_time(event.occurred)
        assert at is not None
        encounter = event.encounter
        try:
            # A caller whose token may not write care plans still admits and discharges:
            # the plan is then started or closed by someone who may.
            repo.authorize("create", "CarePlan")
            repo.authorize("update", "CarePlan")
        except Forbidden:
            return
        unit = (encounter.get("serviceProvider") or {}).get("reference")
        if event.trigger == TRANSFER and not unit:
            return  # no receiving unit to hand the plan to: nothing to look up
        with recorded_as(repo, encounter), plans.writing(repo):
            author = author_of(repo)
            encounter_id = str(encounter["id"])
            if event.trigger == ADMIT:
                # start() refuses (409) an episode that already has its active plan (a
                # re-admission, a resent A01), checked under the conditional-create lock;
                # checking here first as well would look the episode up twice.
                with contextlib.suppress(Conflict):
                    plans.start(repo, encounter=encounter, author=author, now=at)
                return
            if event.trigger == CANCEL_DISCHARGE:
                plan = plans.latest(repo, encounter_id, "completed")
                if plan is not None and c.ext(plan, c.CLOSE_REASON) and \
                        c.ext(plan, c.CLOSE_REASON).get("code") == "discharge":
                    plans.reopen(repo, plan, author=author, now=at,
                                 note="Utskrivningen makulerad; vårdplanen öppnad igen")
                return
            plan = plans.latest(repo, encounter_id, "active")
            if plan is None:
                return
            if event.trigger == TRANSFER:
                ward = event.location[0].get("name") if event.location else unit
                plans.hand_over(repo, plan, unit_reference=unit, author=author, now=at,
                                note=f"Överflyttad till {ward}; vårdplanen överlämnad")
            elif event.trigger == DISCHARGE:
                plans.close(repo, plan, reason="discharge", author=author, now=at,
                            note="Utskriven; vårdplanen avslutad")
            else:
                plans.close(repo, plan, reason="cancelled-admission", author=author, now=at,
                            note="Inskrivningen makulerad", status="revoked")
