"""Activities (interventions) of the plan — CarePlan.activity — and evaluations.

Each activity has an `id` (element id, stable across versions, used by the operations), the
responsible profession (extension `responsible-profession`, required: an intervention nobody
is responsible for is refused), a status, a schedule (`detail.scheduled[x]`), an optional
follow-up date (extension `follow-up-date`), the goals it serves and, for template or risk
actions, the canonical of the template and the risk it answers (`detail.reasonCode`).

An evaluation is a progress note (Annotation) with the outcome (goal-achievement code) on an
activity or the Goal, plus the next follow-up date; on a Goal it also sets achievementStatus.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan import vips
from vardnav.domains.careplan.entries import Author, mark
from vardnav.domains.discharge.case import iso
from vardnav.domains.identity.organisation.staff import PROFESSIONS
from vardnav.errors import BusinessRuleViolation, NotFound


@dataclass
class ActivityInput:
    description: str | None
    profession: str | None
    schedule: tuple[str, Any] | None = None  # ("String", "…"), ("Timing", {...}), ("Period", …)
    follow_up: date | None = None
    status: str = "scheduled"
    goals: list[str] = field(default_factory=list)  # Goal ids
    code: dict[str, Any] | None = None
    risk: str | None = None
    canonical: str | None = None
    keyword: str | None = None
    label: str = "activity"


def check(activity: ActivityInput) -> None:
    if not activity.description:
        raise BusinessRuleViolation(f"{activity.label}: an intervention needs a description")
    if not activity.profession:
        raise BusinessRuleViolation(
            f"{activity.label}: an intervention needs the responsible profession "
            f"(one of {', '.join(PROFESSIONS)})", expression=["CarePlan.activity"])
    if activity.profession not in PROFESSIONS:
        raise BusinessRuleViolation(f"{activity.label}: '{activity.profession}' is not a "
                                    f"profession; use one of {', '.join(PROFESSIONS)}")
    if activity.status not in c.ACTIVITY_STATUSES:
        raise BusinessRuleViolation(f"{activity.label}: status must be one of "
                                    f"{', '.join(c.ACTIVITY_STATUSES)}")
    if activity.schedule and activity.schedule[0] not in ("String", "Timing", "Period"):
        raise BusinessRuleViolation(f"{activity.label}: a schedule is a string, a Timing or "
                                    "a Period")


def build(activity: ActivityInput, *, author: Author, now: datetime,
          proposed_by: str | None = None) -> dict[str, Any]:
    check(activity)
    assert activity.profession is not None
    detail: dict[str, Any] = {"status": activity.status, "description": activity.description}
    if activity.code:
        detail["code"] = activity.code
    if activity.risk:
        detail["reasonCode"] = [c.concept(c.RISK, activity.risk, c.RISKS[activity.risk])]
    if activity.canonical:
        detail["instantiatesCanonical"] = [activity.canonical]
    if activity.goals:
        detail["goal"] = [{"reference": f"Goal/{g}"} for g in activity.goals]
    if activity.schedule:
        kind, value = activity.schedule
        detail[f"scheduled{kind}"] = value
    element: dict[str, Any] = {"id": f"act-{uuid.uuid4().hex[:12]}", "detail": detail}
    c.set_ext(element, c.RESPONSIBLE_PROFESSION, valueCoding=c.profession(activity.profession))
    if activity.follow_up:
        c.set_ext(element, c.FOLLOW_UP, valueDate=activity.follow_up.isoformat())
    if proposed_by:
        c.set_ext(element, c.PROPOSED_BY, valueReference={"reference": proposed_by})
    vips.tag(element, vips.keyword_for("activity", author.profession, activity.keyword))
    return mark(element, author, now)


def find(plan: dict[str, Any], activity_id: str) -> dict[str, Any]:
    for activity in plan.get("activity") or []:
        if activity.get("id") == activity_id:
            return activity
    raise NotFound(f"CarePlan/{plan['id']} has no activity '{activity_id}'")


def is_proposed(activity: dict[str, Any]) -> bool:
    return c.ext(activity, c.PROPOSED_BY) is not None


def change(activity: dict[str, Any], *, author: Author, now: datetime,
           status: str | None = None, schedule: tuple[str, Any] | None = None,
           follow_up: date | None = None, description: str | None = None,
           profession: str | None = None) -> None:
    """Individualise or progress an activity in place; the change is recorded as a progress
    note by its author (the previous values stay in the plan's history)."""
    detail = activity.setdefault("detail", {})
    said: list[str] = []
    if status is not None:
        if status not in c.ACTIVITY_STATUSES:
            raise BusinessRuleViolation(f"status must be one of {', '.join(c.ACTIVITY_STATUSES)}")
        detail["status"] = status
        said.append(f"status {status}")
        if status not in ("not-started", "cancelled"):
            # Accepting a proposal makes it the plan's own intervention.
            c.set_ext(activity, c.PROPOSED_BY)
    if profession is not None:
        if profession not in PROFESSIONS:
            raise BusinessRuleViolation(f"'{profession}' is not a profession")
        c.set_ext(activity, c.RESPONSIBLE_PROFESSION, valueCoding=c.profession(profession))
        said.append(f"responsible profession {profession}")
    if schedule is not None:
        for key in [k for k in detail if k.startswith("scheduled")]:
            del detail[key]
        detail[f"scheduled{schedule[0]}"] = schedule[1]
        said.append("schedule")
    if follow_up is not None:
        c.set_ext(activity, c.FOLLOW_UP, valueDate=follow_up.isoformat())
        said.append(f"follow-up {follow_up.isoformat()}")
    if description:
        detail["description"] = description
        said.append("description")
    if not said:
        raise BusinessRuleViolation("Nothing to change: give status, schedule, followUp, "
                                    "description or profession")
    progress(activity, f"Ändrat: {', '.join(said)}", author, now)


def progress(element: dict[str, Any], text: str, author: Author, now: datetime,
             outcome: str | None = None, keyword: str | None = None) -> dict[str, Any]:
    note: dict[str, Any] = {"text": text, "time": iso(now)}
    if author.practitioner:
        note["authorReference"] = {"reference": author.practitioner}
    if outcome:
        c.set_ext(note, c.EVALUATION_OUTCOME,
                  valueCodeableConcept=c.concept(c.ACHIEVEMENT, outcome))
    vips.tag(note, keyword)
    mark(note, author, now)
    element.setdefault("progress", []).append(note)
    return note


def evaluate(activity: dict[str, Any], *, outcome: str, text: str, author: Author,
             now: datetime, next_follow_up: date | None) -> None:
    check_outcome(outcome)
    progress(activity, text, author, now, outcome,
             vips.keyword_for("evaluation", author.profession))
    activity["outcomeCodeableConcept"] = [
        *activity.get("outcomeCodeableConcept", []), c.concept(c.ACHIEVEMENT, outcome)]
    if next_follow_up is not None:
        c.set_ext(activity, c.FOLLOW_UP, valueDate=next_follow_up.isoformat())


def check_outcome(outcome: str) -> None:
    if outcome not in c.ACHIEVEMENTS:
        raise BusinessRuleViolation(f"outcome must be a goal-achievement code: "
                                    f"{', '.join(c.ACHIEVEMENTS)}")
