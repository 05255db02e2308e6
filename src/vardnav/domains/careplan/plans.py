"""The one interprofessional CarePlan per patient and care episode (the episode is the
Encounter: an inpatient stay, or the first contact of outpatient or home care).

A plan is started at admission (the ADT listener, adt_hooks.py) or first contact
(`Encounter/{id}/$careplan-start`), changed only through the care plan operations (guard.py
refuses plain writes), and closed (`completed`) or handed over at discharge or transfer.
A closed plan is read-only. Uniqueness holds atomically: the check and the create run in one
transaction under the same serialising lock as a conditional create (Repository.search_ids
locks the criteria on PostgreSQL; SQLite writers hold the write lock from BEGIN).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan import vips
from vardnav.domains.careplan.entries import Author, mark
from vardnav.domains.discharge.case import content, fetch, fetch_many, iso, ref_id
from vardnav.errors import BusinessRuleViolation, Conflict, NotFound
from vardnav.fhir.storage.repository import Repository

# Set in the request context while a care plan step writes (guard.py lets those through).
CAREPLAN_STEP = "vardnav.careplan.step"
CATEGORY = f"{c.PLAN_CATEGORY}|{c.INTERPROFESSIONAL}"


@contextmanager
def writing(repo: Repository) -> Iterator[None]:
    outer = repo.ctx.attributes.get(CAREPLAN_STEP)
    repo.ctx.attributes[CAREPLAN_STEP] = True
    try:
        yield
    finally:
        if outer is None:
            repo.ctx.attributes.pop(CAREPLAN_STEP, None)


def is_interprofessional(plan: dict[str, Any] | None) -> bool:
    return bool(plan) and c.code_of((plan or {}).get("category"),
                                    c.PLAN_CATEGORY) == c.INTERPROFESSIONAL


def _criteria(encounter_id: str, status: str) -> list[tuple[str, str]]:
    return [("encounter", f"Encounter/{encounter_id}"), ("category", CATEGORY),
            ("status", status)]


def _in_category(plan: dict[str, Any]) -> bool:
    """What `category=CATEGORY` matches: any coding of any category."""
    return any(isinstance(coding, dict) and coding.get("system") == c.PLAN_CATEGORY
               and coding.get("code") == c.INTERPROFESSIONAL
               for concept in plan.get("category") or [] if isinstance(concept, dict)
               for coding in concept.get("coding") or [])


def episode_plans(repo: Repository, encounter_id: str) -> list[dict[str, Any]]:
    """The episode's current interprofessional plans the caller may see (any status; an
    episode has one, or a few after corrections), oldest change first.

    What `search_ids("CarePlan", encounter=…&category=…)` followed by `fetch_many` finds,
    through `Repository.referring`: parsing and building a search for every ADT step cost the
    care plan hook about a third of an inbound message's CPU. Category and status are checked
    here on the few plans of the episode. No lock and no access-log entry, as search_ids /
    fetch_many: callers that write take the lock (`lock_criteria`, `load`)."""
    # Redacted as fetch_many does.
    found = [repo.s.policy.redact(repo.ctx, plan)
             for plan in repo.referring("CarePlan", "encounter", "Encounter", encounter_id)
             if _in_category(plan)]
    found.sort(key=lambda p: (p.get("meta") or {}).get("lastUpdated") or "")
    return found


def active_plan_ids(repo: Repository, encounter_id: str) -> list[str]:
    # The lock of a conditional create on these criteria (PostgreSQL): two starts of the
    # same episode's plan are serialised, and the later one finds the first one's plan.
    repo.lock_criteria("CarePlan", _criteria(encounter_id, "active"))
    return [p["id"] for p in episode_plans(repo, encounter_id)
            if p.get("status") == "active"][:5]


def latest(repo: Repository, encounter_id: str, status: str) -> dict[str, Any] | None:
    """The episode's most recently changed plan in `status`, ready to be changed: read under
    the locks a step that writes it takes (see `load`)."""
    locked = repo.lock_criteria("CarePlan", _criteria(encounter_id, status))
    found = [p for p in episode_plans(repo, encounter_id) if p.get("status") == status]
    if not found:
        return None
    if locked:
        # PostgreSQL: another transaction may have changed the plan since the read above;
        # read it again after taking its own lock.
        return load(repo, found[-1]["id"])
    # SQLite: this transaction has held the write lock since BEGIN; what was read is current.
    return found[-1]


def active_plan_of_patient(repo: Repository, patient_id: str) -> dict[str, Any] | None:
    """The patient's active plan the caller may see (the latest, if episodes overlap)."""
    ids = repo.search_ids("CarePlan", [("subject", f"Patient/{patient_id}"),
                                       ("category", CATEGORY), ("status", "active")], limit=20)
    plans = fetch_many(repo, [("CarePlan", i) for i in ids])
    plans.sort(key=lambda p: (p.get("created") or "", p["id"]))
    return load(repo, plans[-1]["id"]) if plans else None


def lock(repo: Repository, plan_id: str) -> None:
    """Serialise the steps on one plan until this transaction ends. A step reads the plan,
    changes it and writes it back; without this, two concurrent steps on PostgreSQL (READ
    COMMITTED) would both start from the same version and the later write would drop the
    earlier one's entry. The Repository's conditional-write lock on `CarePlan?_id=…` does it
    (SQLite writers are serialised by its write lock anyway); the plan is read after it."""
    repo.search_ids("CarePlan", [("_id", plan_id)], limit=1)


def load(repo: Repository, plan_id: str, *, for_write: bool = True) -> dict[str, Any]:
    """The plan; for a step that writes it, read after taking its lock."""
    if for_write:
        lock(repo, plan_id)
    plan = fetch(repo, "CarePlan", plan_id)
    if plan is None:
        raise NotFound(f"CarePlan/{plan_id} is not known")
    if not is_interprofessional(plan):
        raise BusinessRuleViolation(f"CarePlan/{plan_id} is not an interprofessional care "
                                    "plan (category interprofessional)")
    return plan


def require_open(plan: dict[str, Any]) -> None:
    if plan.get("status") != "active":
        raise BusinessRuleViolation(
            f"CarePlan/{plan['id']} is {plan.get('status')}: a closed plan is not edited "
            "(start a new plan for a new episode)")


def start(repo: Repository, *, encounter: dict[str, Any], author: Author, now: datetime,
          follow_up: date | None = None, title: str | None = None) -> dict[str, Any]:
    """Create the episode's plan; 409 if it already has an active one."""
    existing = active_plan_ids(repo, encounter["id"])
    if existing:
        raise Conflict(f"Encounter/{encounter['id']} already has an active care plan "
                       f"(CarePlan/{existing[0]}); one plan per patient and episode")
    if encounter.get("status") in ("finished", "cancelled", "entered-in-error"):
        raise BusinessRuleViolation(f"Encounter/{encounter['id']} is "
                                    f"{encounter.get('status')}; a plan starts with an open "
                                    "episode")
    subject = encounter.get("subject")
    if ref_id(subject, "Patient") is None:
        raise BusinessRuleViolation(f"Encounter/{encounter['id']} names no patient")
    plan: dict[str, Any] = {
        "resourceType": "CarePlan", "status": "active", "intent": "plan",
        "category": [c.concept(c.PLAN_CATEGORY, c.INTERPROFESSIONAL,
                               "Interprofessionell vårdplan")],
        "title": title or "Vårdplan", "subject": {"reference": subject["reference"]},
        "encounter": {"reference": f"Encounter/{encounter['id']}"},
        "period": {"start": iso(now)}, "created": iso(now)}
    unit = encounter.get("serviceProvider")
    if isinstance(unit, dict) and unit.get("reference"):
        c.set_ext(plan, c.RESPONSIBLE_UNIT, valueReference={"reference": unit["reference"]})
    if follow_up is not None:
        c.set_ext(plan, c.FOLLOW_UP, valueDate=follow_up.isoformat())
    if author.practitioner:
        plan["author"] = {"reference": author.practitioner}
    mark(plan, author, now)
    with writing(repo):
        stored = repo.create("CarePlan", plan).resource
    assert stored is not None
    return stored


def contributed(plan: dict[str, Any], author: Author) -> None:
    """List the author among the plan's contributors (once)."""
    if author.practitioner:
        refs = plan.setdefault("contributor", [])
        if all(r.get("reference") != author.practitioner for r in refs):
            refs.append({"reference": author.practitioner})


def save(repo: Repository, plan: dict[str, Any]) -> dict[str, Any]:
    with writing(repo):
        stored = repo.update("CarePlan", plan["id"], content(plan)).resource
    assert stored is not None
    return stored


def close(repo: Repository, plan: dict[str, Any], *, reason: str, author: Author,
          now: datetime, note: str | None = None, status: str = "completed") -> dict[str, Any]:
    require_open(plan)
    updated = content(plan)
    updated["status"] = status
    updated.setdefault("period", {})["end"] = iso(now)
    c.set_ext(updated, c.CLOSE_REASON,
              valueCoding={"system": c.CLOSE, "code": reason,
                           "display": c.CLOSE_REASONS[reason]})
    if note:
        add_note(updated, note, author, now)
    return save(repo, updated)


def reopen(repo: Repository, plan: dict[str, Any], *, author: Author, now: datetime,
           note: str) -> dict[str, Any]:
    """Undo a close made by an ADT step that was itself cancelled (A13)."""
    updated = content(plan)
    updated["status"] = "active"
    updated.get("period", {}).pop("end", None)
    c.set_ext(updated, c.CLOSE_REASON)
    add_note(updated, note, author, now)
    return save(repo, updated)


def hand_over(repo: Repository, plan: dict[str, Any], *, unit_reference: str,
              author: Author, now: datetime, note: str) -> dict[str, Any]:
    """The plan goes with the patient: the receiving unit becomes responsible for it."""
    require_open(plan)
    updated = content(plan)
    c.set_ext(updated, c.RESPONSIBLE_UNIT, valueReference={"reference": unit_reference})
    add_note(updated, note, author, now)
    return save(repo, updated)


def add_note(plan: dict[str, Any], text: str, author: Author, now: datetime,
             keyword: str | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {"text": text, "time": iso(now)}
    if author.practitioner:
        note["authorReference"] = {"reference": author.practitioner}
    vips.tag(note, keyword)
    mark(note, author, now)
    plan.setdefault("note", []).append(note)
    return note


def follow_up_dates(plan: dict[str, Any]) -> list[tuple[str, date]]:
    """(what, date) for the plan's own follow-up and every open, accepted activity's."""
    found: list[tuple[str, date]] = []
    own = _date(c.ext(plan, c.FOLLOW_UP))
    if own:
        found.append(("plan", own))
    for activity in plan.get("activity") or []:
        status = (activity.get("detail") or {}).get("status")
        when = _date(c.ext(activity, c.FOLLOW_UP))
        # A proposal is followed up once someone takes it on.
        if when and status not in c.DONE_STATUSES and c.ext(activity, c.PROPOSED_BY) is None:
            found.append((f"activity {activity.get('id')}", when))
    return found


def _date(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
