"""`CarePlan/{id}/$careplan-timeline`: the plan's history as one readable list — every entry
(start, problems, goals, interventions, changes and evaluations, notes, closing) with when,
who, profession, unit and provider, and its VIPS keyword — oldest first.

Built from the `recorded-by` stamps of the current plan and of the Conditions and Goals it
lists, read through the Repository (an entry the caller may not read, such as another
provider's Goal without consent, is left out). The full version history stays available as
`GET CarePlan/{id}/_history`.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.careplan import plans, vips
from vardnav.domains.careplan.entries import recorded_by
from vardnav.domains.discharge.case import fetch_many, ref_id
from vardnav.fhir.storage.repository import Repository


def _keyword(element: dict[str, Any]) -> str | None:
    for e in element.get("extension") or []:
        if e.get("url") == vips.VIPS_KEYWORD:
            return (e.get("valueCoding") or {}).get("code")
    return None


def _entry(kind: str, text: str, element: dict[str, Any], focus: str) -> dict[str, Any]:
    who = recorded_by(element)
    return {"time": who.get("time") or element.get("time") or "", "kind": kind, "text": text,
            "focus": focus, "who": who, "vips": _keyword(element)}


def build(repo: Repository, plan_id: str) -> list[dict[str, Any]]:
    plan = plans.load(repo, plan_id, for_write=False)
    me = f"CarePlan/{plan['id']}"
    out = [_entry("plan", f"Vårdplan startad: {plan.get('title') or ''}".strip(), plan, me)]
    for activity in plan.get("activity") or []:
        detail = activity.get("detail") or {}
        out.append(_entry("activity", str(detail.get("description") or ""), activity,
                          f"{me}#{activity.get('id')}"))
        for note in activity.get("progress") or []:
            out.append(_entry("activity-progress", str(note.get("text") or ""), note,
                              f"{me}#{activity.get('id')}"))
    for note in plan.get("note") or []:
        out.append(_entry("note", str(note.get("text") or ""), note, me))
    conditions = [i for r in plan.get("addresses") or [] if (i := ref_id(r, "Condition"))]
    goals = [i for r in plan.get("goal") or [] if (i := ref_id(r, "Goal"))]
    for condition in fetch_many(repo, [("Condition", i) for i in conditions]):
        code = condition.get("code") or {}
        text = code.get("text") or next((c.get("display") or c.get("code", "")
                                         for c in code.get("coding") or []), "")
        out.append(_entry("problem", text, condition, f"Condition/{condition['id']}"))
    for goal in fetch_many(repo, [("Goal", i) for i in goals]):
        ref = f"Goal/{goal['id']}"
        out.append(_entry("goal", str((goal.get("description") or {}).get("text") or ""),
                          goal, ref))
        for note in goal.get("note") or []:
            out.append(_entry("goal-progress", str(note.get("text") or ""), note, ref))
    out.sort(key=lambda e: e["time"])  # stable: entries of one moment keep their order
    repo.record_audit("careplan-timeline", "CarePlan", [plan["id"]], resources=[plan])
    return out


def as_parameters(entries: list[dict[str, Any]]) -> dict[str, Any]:
    params = []
    for e in entries:
        parts: list[dict[str, Any]] = [
            {"name": "time", "valueString": e["time"]}, {"name": "kind", "valueCode": e["kind"]},
            {"name": "text", "valueString": e["text"] or "-"},
            {"name": "focus", "valueString": e["focus"]}]
        for name in ("practitioner", "staff", "system", "profession", "unit", "provider"):
            if e["who"].get(name):
                parts.append({"name": name, "valueString": str(e["who"][name])})
        if e["vips"]:
            parts.append({"name": "vipsKeyword", "valueCode": e["vips"]})
        params.append({"name": "entry", "part": parts})
    return {"resourceType": "Parameters", "parameter": params}
