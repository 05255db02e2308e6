"""The discharge case follows the ADT workflow (an `AdtListener`, assembled in
`vardnav.main.adt_listeners`): inside the ADT step's own transaction,

- A03 (discharge) records when the patient left (`discharged`), which ends the payment days
  and the ready-to-discharge count; a case whose discharge information has been sent is then
  completed, one without it stays open and is reported as missing it;
- A13 (cancel discharge) takes that back;
- A11 (cancel admission) cancels the case and its notices and tells the receivers that were
  notified.

Cases are opened by the ward ($discharge-mark-support), not at A01: whether a patient will
need support after discharge is a physician's judgement that no ADT message carries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vardnav.domains.adt.events import CANCEL_ADMIT, CANCEL_DISCHARGE, DISCHARGE, AdtEvent
from vardnav.domains.discharge import codes as c
from vardnav.domains.discharge import messages
from vardnav.domains.discharge.case import (
    add_output,
    content,
    drop_output,
    find_case,
    iso,
    notices_of,
    parse_time,
    recorded_as,
    set_status,
    times,
    value,
)
from vardnav.domains.discharge.readiness import is_ready
from vardnav.fhir.storage.repository import Repository


class DischargeAdtListener:
    def adt_event(self, repo: Repository, event: AdtEvent) -> None:
        if event.trigger not in (DISCHARGE, CANCEL_DISCHARGE, CANCEL_ADMIT):
            return
        case = find_case(repo, str(event.encounter["id"]))
        if case is None or case.get("status") in ("cancelled", "entered-in-error"):
            return
        at = parse_time(event.occurred)
        assert at is not None
        with recorded_as(repo, case):
            if event.trigger == DISCHARGE:
                _discharged(repo, case, at)
            elif event.trigger == CANCEL_DISCHARGE:
                _undischarged(repo, case, at)
            else:
                cancel_case(repo, case, at, "Inskrivningen makulerad")


def _discharged(repo: Repository, case: dict[str, Any], at: datetime) -> None:
    updated = content(case)
    add_output(updated, c.DISCHARGED, valueDateTime=iso(at))
    done = value(case, c.DISCHARGE_INFO_SENT) is not None
    set_status(updated, c.S_DISCHARGED, at, status="completed" if done else None)
    repo.update("Task", case["id"], updated)


def _undischarged(repo: Repository, case: dict[str, Any], at: datetime) -> None:
    updated = content(case)
    drop_output(updated, c.DISCHARGED)
    sent = any(n.get("status") != "draft" for n in notices_of(repo, case["id"]))
    business = (c.S_READY if is_ready(case) else c.S_NOT_READY if times(case, c.READY)
                else c.S_NOTIFIED if sent else c.S_MARKED)
    set_status(updated, business, at, status="in-progress")
    repo.update("Task", case["id"], updated)


def cancel_case(repo: Repository, case: dict[str, Any], at: datetime, why: str) -> None:
    """Cancel the case and its notices; receivers already notified are told."""
    notices = notices_of(repo, case["id"])
    messages.send(repo, case=case, notices=notices, category=c.MSG_CANCELLED, at=at,
                  payload=[messages.text(why)])
    for notice in notices:
        if notice.get("status") in ("cancelled", "completed", "entered-in-error"):
            continue
        task = content(notice)
        set_status(task, c.S_CANCELLED, at, status="cancelled")
        repo.update("Task", notice["id"], task)
    updated = content(case)
    set_status(updated, c.S_CANCELLED, at, status="cancelled")
    repo.update("Task", case["id"], updated)
