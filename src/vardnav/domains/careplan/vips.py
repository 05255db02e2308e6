"""VIPS: the Swedish keyword model for nursing documentation (Välbefinnande, Integritet,
Prevention, Säkerhet). Nursing entries in the plan carry one keyword, so a nurse reads the
plan as nursing history → status → diagnosis → goal → interventions → result → discharge note.

Entries by nurses and assistant nurses are coded automatically from what they are (a problem
is a nursing diagnosis, a goal a nursing goal, ...); a free note names its keyword. The
status keyword has the usual sub-keywords (communication, nutrition, ...), usable on notes.
"""

from __future__ import annotations

from typing import Any

from vardnav.domains.careplan.codes import BASE
from vardnav.errors import BadRequest

VIPS = f"{BASE}/CodeSystem/vips"
VIPS_KEYWORD = f"{BASE}/StructureDefinition/vips-keyword"

KEYWORDS = {
    "nursing-history": "Omvårdnadsanamnes",
    "status": "Omvårdnadsstatus",
    "diagnosis": "Omvårdnadsdiagnos",
    "goal": "Omvårdnadsmål",
    "interventions": "Omvårdnadsåtgärder",
    "result": "Omvårdnadsresultat",
    "discharge-note": "Omvårdnadsepikris",
}
# Sub-keywords of "status" (the VIPS status areas).
STATUS_AREAS = {
    "communication": "Kommunikation", "knowledge-development": "Kunskap/utveckling",
    "breathing-circulation": "Andning/cirkulation", "nutrition": "Nutrition",
    "elimination": "Elimination", "skin-tissue": "Hud/vävnad", "activity": "Aktivitet",
    "sleep": "Sömn", "pain-sensation": "Smärta/sinnesintryck",
    "sexuality-reproduction": "Sexualitet/reproduktion",
    "psychosocial": "Psykosocialt", "spiritual-cultural": "Andligt/kulturellt",
    "wellbeing": "Välbefinnande",
}
NURSING_PROFESSIONS = frozenset({"registered-nurse", "assistant-nurse"})
# What each kind of plan entry is in VIPS when a nurse records it.
BY_ENTRY = {"problem": "diagnosis", "goal": "goal", "activity": "interventions",
            "evaluation": "result"}


def coding(code: str) -> dict[str, Any]:
    display = KEYWORDS.get(code) or STATUS_AREAS.get(code)
    if display is None:
        raise BadRequest(f"'{code}' is not a VIPS keyword; use one of "
                         f"{', '.join([*KEYWORDS, *STATUS_AREAS])}")
    return {"system": VIPS, "code": code, "display": display}


def keyword_for(entry: str, profession: str | None, given: str | None = None) -> str | None:
    """The VIPS keyword of an entry: the one given (checked), else the one its kind implies
    when a nurse records it, else none (physicians' and therapists' entries are not VIPS)."""
    if given:
        coding(given)
        return given
    if profession in NURSING_PROFESSIONS:
        return BY_ENTRY.get(entry)
    return None


def tag(element: dict[str, Any], keyword: str | None) -> None:
    if keyword:
        element.setdefault("extension", []).append(
            {"url": VIPS_KEYWORD, "valueCoding": coding(keyword)})
