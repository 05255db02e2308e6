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

from typing import Any

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
from vardnav.domains.discharge.case import fetch_many, parse_time, recorded_as
from vardnav.errors import Forbidden
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
        with recorded_as(repo, encounter), plans.writing(repo):
            author = author_of(repo)
            if event.trigger == ADMIT:
                if not plans.active_plan_ids(repo, str(encounter["id"])):
                    plans.start(repo, encounter=encounter, author=author, now=at)
                return
            if event.trigger == CANCEL_DISCHARGE:
                plan = self._latest(repo, str(encounter["id"]), "completed")
                if plan is not None and c.ext(plan, c.CLOSE_REASON) and \
                        c.ext(plan, c.CLOSE_REASON).get("code") == "discharge":
                    plans.reopen(repo, plan, author=author, now=at,
                                 note="Utskrivningen makulerad; vårdplanen öppnad igen")
                return
            plan = self._latest(repo, str(encounter["id"]), "active")
            if plan is None:
                return
            if event.trigger == TRANSFER:
                unit = (encounter.get("serviceProvider") or {}).get("reference")
                if unit:
                    ward = event.location[0].get("name") if event.location else unit
                    plans.hand_over(repo, plan, unit_reference=unit, author=author, now=at,
                                    note=f"Överflyttad till {ward}; vårdplanen överlämnad")
            elif event.trigger == DISCHARGE:
                plans.close(repo, plan, reason="discharge", author=author, now=at,
                            note="Utskriven; vårdplanen avslutad")
            else:
                plans.close(repo, plan, reason="cancelled-admission", author=author, now=at,
                            note="Inskrivningen makulerad", status="revoked")

    @staticmethod
    def _latest(repo: Repository, encounter_id: str, status: str) -> dict[str, Any] | None:
        ids = repo.search_ids("CarePlan", [("encounter", f"Encounter/{encounter_id}"),
                                           ("category", plans.CATEGORY),
                                           ("status", status)], limit=20)
        found = fetch_many(repo, [("CarePlan", i) for i in ids])
        found.sort(key=lambda p: (p.get("meta") or {}).get("lastUpdated") or "")
        return plans.load(repo, found[-1]["id"]) if found else None

