"""Goals of the plan: FHIR Goal resources with a measurable target (what is measured, the
value to reach) and a due date — a goal without them is refused, since it could never be
evaluated or followed up. Referenced from CarePlan.goal; problems they address from
Goal.addresses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan import vips
from vardnav.domains.careplan.entries import Author, mark
from vardnav.errors import BusinessRuleViolation
from vardnav.fhir.storage.repository import Repository

# The value[x] types a target's detail may have (Goal.target.detail[x] in R4).
DETAIL_TYPES = ("Quantity", "Range", "CodeableConcept", "String", "Boolean", "Integer",
                "Ratio")


@dataclass
class GoalInput:
    description: str | None
    measure: dict[str, Any] | None  # CodeableConcept
    detail: tuple[str, Any] | None  # ("Quantity", {...}), ("String", "…"), ...
    due: date | None
    addresses: list[str] = field(default_factory=list)  # Condition ids
    keyword: str | None = None
    label: str = "goal"


def check(goal: GoalInput) -> None:
    missing = [what for what, value in (("a description", goal.description),
                                        ("what is measured (measure)", goal.measure),
                                        ("the target value (target)", goal.detail),
                                        ("a due date (dueDate)", goal.due)) if not value]
    if missing:
        raise BusinessRuleViolation(
            f"{goal.label}: a goal needs a measurable target — missing {', '.join(missing)}",
            expression=["Goal.target"])
    assert goal.detail is not None
    if goal.detail[0] not in DETAIL_TYPES:
        raise BusinessRuleViolation(f"{goal.label}: a target is one of "
                                    f"{', '.join(DETAIL_TYPES)}, not {goal.detail[0]}")


def build(goal: GoalInput, *, subject: dict[str, Any], author: Author, now: datetime,
          canonical: str | None = None) -> dict[str, Any]:
    check(goal)
    assert goal.detail is not None and goal.due is not None
    kind, value = goal.detail
    resource: dict[str, Any] = {
        "resourceType": "Goal", "lifecycleStatus": "active",
        "achievementStatus": c.concept(c.ACHIEVEMENT, "in-progress"),
        "description": {"text": goal.description}, "subject": subject,
        "startDate": now.date().isoformat(),
        "target": [{"measure": goal.measure, f"detail{kind}": value,
                    "dueDate": goal.due.isoformat()}]}
    if goal.addresses:
        resource["addresses"] = [{"reference": f"Condition/{i}"} for i in goal.addresses]
    if author.practitioner:
        resource["expressedBy"] = {"reference": author.practitioner}
    if canonical:  # the template action it came from
        resource.setdefault("extension", []).append(
            {"url": "http://hl7.org/fhir/StructureDefinition/workflow-instantiatesCanonical",
             "valueCanonical": canonical})
    vips.tag(resource, vips.keyword_for("goal", author.profession, goal.keyword))
    return mark(resource, author, now)


def create(repo: Repository, goal: GoalInput, *, plan: dict[str, Any], author: Author,
           now: datetime, canonical: str | None = None) -> dict[str, Any]:
    """Create the Goal and list it in the (unsaved) plan."""
    stored = repo.create("Goal", build(goal, subject=plan["subject"], author=author, now=now,
                                       canonical=canonical)).resource
    assert stored is not None
    plan.setdefault("goal", []).append({"reference": f"Goal/{stored['id']}"})
    return stored


def due_date(goal: dict[str, Any]) -> date | None:
    dates = [t.get("dueDate") for t in goal.get("target") or [] if t.get("dueDate")]
    try:
        return min(date.fromisoformat(d) for d in dates) if dates else None
    except ValueError:
        return None
