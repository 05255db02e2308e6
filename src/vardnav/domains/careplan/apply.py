"""`PlanDefinition/$apply`: a template's goals and interventions copied into the patient's
active plan, where staff then individualise them ($update-activity, $update-goal).

Applying creates one Condition per problem the template's goals address, one Goal per
template goal (due date = today + the goal's `due` duration) and one activity per action
(responsible profession from `participant.role`, schedule from `timingTiming`, follow-up date
from the `follow-up-after` extension, the goals it serves, the risk of the template's topic
and the template's canonical `url|version` in `detail.instantiatesCanonical`). The plan's
`instantiatesCanonical` lists every template applied; the same template (any version) twice
is a 409. Interventions proposed for the template by a risk assessment are replaced by the
applied ones. `propose` (used by assessments) adds only the interventions, as proposals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from vardnav.domains.careplan import activities, goals, plans, problems, templates
from vardnav.domains.careplan import codes as c
from vardnav.domains.careplan.entries import Author
from vardnav.domains.discharge.case import content
from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM
from vardnav.errors import BusinessRuleViolation, Conflict
from vardnav.fhir.storage.repository import Repository

_UNIT_DAYS = {"d": 1, "wk": 7, "h": 1 / 24, "mo": 30, "a": 365}


def applied(plan: dict[str, Any], url: str) -> str | None:
    """The canonical (url|version) under which a template is in the plan, else None."""
    for canonical in plan.get("instantiatesCanonical") or []:
        if canonical == url or canonical.startswith(url + "|"):
            return str(canonical)
    return None


def _days(duration: Any) -> float | None:
    if not isinstance(duration, dict) or not isinstance(duration.get("value"), int | float):
        return None
    factor = _UNIT_DAYS.get(duration.get("code") or duration.get("unit") or "")
    if factor is None:
        raise BusinessRuleViolation(f"Template duration unit {duration.get('code')!r} is not "
                                    "one of d, wk, h, mo, a")
    return float(duration["value"]) * factor


def _after(today: date, duration: Any) -> date | None:
    days = _days(duration)
    return None if days is None else today + timedelta(days=max(round(days), 0))


def _profession(action: dict[str, Any]) -> str | None:
    for participant in action.get("participant") or []:
        code = c.code_of(participant.get("role"), PROFESSION_SYSTEM)
        if code:
            return code
    return None


def _activity(action: dict[str, Any], *, canonical: str, risk: str | None, today: date,
              goal_ids: dict[str, str], label: str) -> activities.ActivityInput:
    timing = action.get("timingTiming")
    return activities.ActivityInput(
        description=action.get("description") or action.get("title"),
        profession=_profession(action),
        schedule=("Timing", timing) if isinstance(timing, dict) else None,
        follow_up=_after(today, c.ext(action, templates.FOLLOW_UP_AFTER)),
        goals=[goal_ids[g] for g in action.get("goalId") or [] if g in goal_ids],
        code=action.get("code")[0] if action.get("code") else None,
        risk=risk, canonical=canonical, label=label)


def apply(repo: Repository, *, template: dict[str, Any], plan: dict[str, Any],
          author: Author, now: datetime, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    plans.require_open(plan)
    canonical = templates.canonical(template)
    url = canonical.partition("|")[0]
    earlier = applied(plan, url)
    if earlier:
        raise Conflict(f"The template {template.get('title') or url} is already applied to "
                       f"CarePlan/{plan['id']} (as {earlier}); change its interventions in "
                       "the plan instead of applying it again")
    if template.get("status") not in ("active", None):
        raise BusinessRuleViolation(f"The template {canonical} is {template.get('status')}; "
                                    "only active templates are applied")
    unknown = [a for a in exclude if a not in {x.get("id") for x in template.get("action", [])}]
    if unknown:
        raise BusinessRuleViolation(f"The template has no action {', '.join(unknown)}")
    today = now.date()
    risk = templates.risk_of(template)
    updated = content(plan)
    # Problems: one Condition per distinct problem the template's goals address.
    problem_ids: dict[str, str] = {}
    for goal in template.get("goal") or []:
        for addressed in goal.get("addresses") or []:
            key = addressed.get("text") or str(addressed.get("coding"))
            if key not in problem_ids:
                condition, _ = problems.create(repo, problems.ProblemInput(code=addressed),
                                               plan=updated, author=author, now=now)
                problem_ids[key] = condition["id"]
    goal_ids: dict[str, str] = {}
    for n, goal in enumerate(template.get("goal") or []):
        target = (goal.get("target") or [{}])[0]
        detail = next(((k[len("detail"):], v) for k, v in target.items()
                       if k.startswith("detail")), None)
        created = goals.create(repo, goals.GoalInput(
            description=(goal.get("description") or {}).get("text"),
            measure=target.get("measure"), detail=detail, due=_after(today, target.get("due")),
            addresses=[problem_ids[a.get("text") or str(a.get("coding"))]
                       for a in goal.get("addresses") or []],
            label=f"{canonical} goal[{n}]"), plan=updated, author=author, now=now,
            canonical=canonical)
        goal_ids[str(goal.get("id") or n)] = created["id"]
    # Proposals made for this template by an assessment are superseded by the real thing.
    kept = [a for a in updated.get("activity") or []
            if not (activities.is_proposed(a) and _from(a, url))]
    for n, action in enumerate(template.get("action") or []):
        if action.get("id") in exclude:
            continue
        kept.append(activities.build(_activity(
            action, canonical=canonical, risk=risk, today=today, goal_ids=goal_ids,
            label=f"{canonical} action[{n}]"), author=author, now=now))
    updated["activity"] = kept
    updated.setdefault("instantiatesCanonical", []).append(canonical)
    plans.contributed(updated, author)
    plans.add_note(updated, f"Mall tillämpad: {template.get('title') or url} "
                            f"(version {template.get('version')})", author, now)
    return plans.save(repo, updated)


def _from(activity: dict[str, Any], url: str) -> bool:
    return any(x == url or x.startswith(url + "|")
               for x in (activity.get("detail") or {}).get("instantiatesCanonical", []))


def propose(plan: dict[str, Any], *, template: dict[str, Any], author: Author, now: datetime,
            observation: str) -> list[dict[str, Any]]:
    """Add the template's interventions to the (unsaved) plan as proposals of an assessment,
    unless the template is applied or already proposed. Returns the proposed activities."""
    canonical = templates.canonical(template)
    url = canonical.partition("|")[0]
    if applied(plan, url) or any(_from(a, url) and a.get("detail", {}).get("status")
                                 not in c.DONE_STATUSES for a in plan.get("activity") or []):
        return []
    risk = templates.risk_of(template)
    proposed = []
    for n, action in enumerate(template.get("action") or []):
        built = activities.build(_activity(
            action, canonical=canonical, risk=risk, today=now.date(), goal_ids={},
            label=f"{canonical} action[{n}]"), author=author, now=now, proposed_by=observation)
        built["detail"]["status"] = "not-started"
        proposed.append(built)
    plan.setdefault("activity", []).extend(proposed)
    return proposed
