"""Work lists of a care unit (`$careplan-worklist`): what the unit's staff must do now.

The unit's patients are those with an open Encounter at the unit (serviceProvider; in
progress or on leave) or an active EpisodeOfCare it manages (home care). For them:

- `follow-up-overdue`: an active plan whose own follow-up date, or an open activity's, has
  passed (the plan is reviewed on each follow-up date);
- `risk-without-intervention`: the latest assessment of an instrument is on the risk side
  of its threshold, and the patient's active plan has no accepted, open intervention for
  that risk (proposals do not count until someone takes them on);
- `assessment-missing`: a patient of 65 or more with no assessment of some instrument since
  arrival (Senior alert);
- `norton-due`: a patient of 65 or more without a Modified Norton since arrival; due within
  24 h of arrival, `overdue` after;
- `goal-overdue`: an active goal of an active plan whose due date has passed, not achieved.

Everything is read through the Repository (PDL and the access log apply): a list shows only
what the caller may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from vardnav.domains.careplan import activities, goals, plans
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.instruments import INSTRUMENTS
from vardnav.domains.discharge.case import fetch, fetch_many, parse_time, ref_id
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.assignments import hsa_of
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.errors import BadRequest, Forbidden, NotFound
from vardnav.fhir.storage.repository import Repository

LISTS = ("follow-up-overdue", "risk-without-intervention", "assessment-missing",
         "norton-due", "goal-overdue")
_CHUNK = 40
_AT_RISK = {"risk", "high-risk", "at-risk", "malnourished"}


@dataclass
class Entry:
    list: str
    patient: str
    detail: str
    due: str | None = None
    focus: str | None = None  # the plan, goal or observation concerned
    status: str | None = None  # due / overdue


def unit_of(repo: Repository, unit: str | None) -> dict[str, Any]:
    """The unit asked for (Organization id or HSA-id), by default the caller's; staff see
    their own unit's lists only."""
    p = repo.ctx.principal
    staff = isinstance(p, Principal) and p.kind == "staff"
    if not unit:
        if not staff or not p.unit:
            raise BadRequest("Name the care unit ('unit': an Organization id or HSA-id)")
        unit = p.unit
    org = fetch(repo, "Organization", unit)
    if org is None:
        ids = repo.search_ids("Organization", [("identifier", f"{HSA_SYSTEM}|{unit}")])
        org = fetch(repo, "Organization", ids[0]) if ids else None
    if org is None:
        raise NotFound(f"No care unit {unit}")
    if staff and hsa_of(org) != p.unit:
        raise Forbidden("Staff see the work lists of their own care unit")
    return org


def _search(repo: Repository, rtype: str, pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return repo.search(repo.parse(rtype, [*pairs, ("_count", "500")])).matches


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i:i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


def build(repo: Repository, *, unit: dict[str, Any], now: datetime) -> list[Entry]:
    today = now.date()
    ref = f"Organization/{unit['id']}"
    arrivals: dict[str, datetime] = {}  # patient id → earliest arrival of an open episode
    encounters: set[str] = set()
    for enc in _search(repo, "Encounter", [("service-provider", ref),
                                           ("status", "in-progress,onleave,arrived")]):
        _arrived(arrivals, enc.get("subject"), (enc.get("period") or {}).get("start"), now)
        encounters.add(f"Encounter/{enc['id']}")
    for episode in _search(repo, "EpisodeOfCare", [("organization", ref), ("status", "active")]):
        _arrived(arrivals, episode.get("patient"), (episode.get("period") or {}).get("start"),
                 now)
    patients = sorted(arrivals)
    if not patients:
        return []
    plans_by_patient: dict[str, dict[str, Any]] = {}
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    since_arrival: dict[str, set[str]] = {p: set() for p in patients}
    codes = ",".join(f"{c.ASSESSMENT}|{k}" for k in INSTRUMENTS)
    people: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(patients):
        subjects = ",".join(f"Patient/{p}" for p in chunk)
        for plan in _search(repo, "CarePlan", [("subject", subjects),
                                               ("category", plans.CATEGORY),
                                               ("status", "active")]):
            patient = ref_id(plan.get("subject"), "Patient") or ""
            responsible = c.ext(plan, c.RESPONSIBLE_UNIT) or {}
            if (plan.get("encounter") or {}).get("reference") in encounters or \
                    responsible.get("reference") == ref:
                plans_by_patient[patient] = plan
        for obs in _search(repo, "Observation", [("subject", subjects), ("code", codes),
                                                 ("_sort", "-date")]):
            patient = ref_id(obs.get("subject"), "Patient") or ""
            key = c.code_of(obs.get("code"), c.ASSESSMENT) or ""
            latest.setdefault((patient, key), obs)
            when = parse_time(obs.get("effectiveDateTime"))
            if when is not None and patient in arrivals and when >= arrivals[patient]:
                since_arrival[patient].add(key)
        people.update({p["id"]: p for p in fetch_many(repo, [("Patient", i) for i in chunk])})
    entries: list[Entry] = []
    for patient, plan in sorted(plans_by_patient.items()):
        for what, when in plans.follow_up_dates(plan):
            if when < today:
                entries.append(Entry("follow-up-overdue", patient, f"Uppföljning ({what})",
                                     when.isoformat(), f"CarePlan/{plan['id']}", "overdue"))
    for (patient, key), obs in sorted(latest.items()):
        level = c.code_of(obs.get("interpretation"), c.RISK_LEVEL)
        if level not in _AT_RISK:
            continue
        risk = INSTRUMENTS[key].risk if key in INSTRUMENTS else None
        plan = plans_by_patient.get(patient)
        if plan is None or not _has_intervention(plan, risk):
            entries.append(Entry("risk-without-intervention", patient,
                                 f"{key} {obs.get('valueInteger')} ({level}) "
                                 f"{(obs.get('effectiveDateTime') or '')[:10]} utan åtgärd"
                                 + ("" if plan else "; ingen aktiv vårdplan"),
                                 None, f"Observation/{obs['id']}"))
    for patient in patients:
        person = people.get(patient)
        if person is None or not _aged(person, 65, today):
            continue
        missing = [k for k in INSTRUMENTS if k not in since_arrival[patient]]
        if missing:
            entries.append(Entry("assessment-missing", patient,
                                 f"65+ utan bedömning sedan ankomst: {', '.join(missing)}"))
        if "modified-norton" not in since_arrival[patient]:
            due = arrivals[patient] + timedelta(hours=24)
            entries.append(Entry("norton-due", patient, "Modifierad Norton inom 24 h från "
                                 "ankomst", due.isoformat(), None,
                                 "overdue" if now > due else "due"))
    goal_refs = [(patient, ref_id(g, "Goal")) for patient, plan in plans_by_patient.items()
                 for g in plan.get("goal") or []]
    found = {g["id"]: g for g in fetch_many(repo, [("Goal", i) for _, i in goal_refs if i])}
    for patient, goal_id in goal_refs:
        goal = found.get(goal_id or "")
        if goal is None or goal.get("lifecycleStatus") not in ("proposed", "planned",
                                                               "accepted", "active"):
            continue
        if c.code_of(goal.get("achievementStatus"), c.ACHIEVEMENT) in ("achieved",
                                                                        "sustaining"):
            continue
        due = goals.due_date(goal)
        if due is not None and due < today:
            entries.append(Entry("goal-overdue", patient,
                                 (goal.get("description") or {}).get("text", ""),
                                 due.isoformat(), f"Goal/{goal['id']}", "overdue"))
    return entries


def _arrived(arrivals: dict[str, datetime], subject: Any, start: Any, now: datetime) -> None:
    patient = ref_id(subject, "Patient")
    if patient is None:
        return
    when = parse_time(start) or now
    if patient not in arrivals or when < arrivals[patient]:
        arrivals[patient] = when


def _aged(patient: dict[str, Any], years: int, today: date) -> bool:
    born = patient.get("birthDate")
    if not isinstance(born, str) or len(born) < 4:
        return False
    try:
        birth = date.fromisoformat(born) if len(born) == 10 else date(int(born[:4]), 12, 31)
    except ValueError:
        return False
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return age >= years


def _has_intervention(plan: dict[str, Any], risk: str | None) -> bool:
    for activity in plan.get("activity") or []:
        detail = activity.get("detail") or {}
        if activities.is_proposed(activity) or detail.get("status") in c.DONE_STATUSES:
            continue
        if risk is None or c.code_of(detail.get("reasonCode"), c.RISK) == risk:
            return True
    return False


def as_parameters(unit: dict[str, Any], entries: list[Entry], now: datetime,
                  only: str | None = None) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "unit", "valueReference": {"reference": f"Organization/{unit['id']}",
                                            "display": unit.get("name")}},
        {"name": "generated", "valueDateTime": now.isoformat()}]
    for e in entries:
        if only and e.list != only:
            continue
        parts: list[dict[str, Any]] = [
            {"name": "list", "valueCode": e.list},
            {"name": "patient", "valueReference": {"reference": f"Patient/{e.patient}"}},
            {"name": "detail", "valueString": e.detail}]
        if e.due:
            parts.append({"name": "due", "valueString": e.due})
        if e.focus:
            parts.append({"name": "focus", "valueReference": {"reference": e.focus}})
        if e.status:
            parts.append({"name": "status", "valueCode": e.status})
        params.append({"name": "entry", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}
