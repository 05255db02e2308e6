"""The three Senior alert instruments (domain.md §6) as vendored Questionnaires
(`questionnaires/*.json`) and their scoring — pure functions, no database.

Points come from the server's own Questionnaire: each answer option's Coding carries the
official `ordinalValue` extension; an answer is matched by (item linkId, code) and whatever
points or total a client sends are ignored for the score. A client-sent total (item `total`)
that differs from the computed one is refused.

- Modified Norton: 7 items, 4 (best) … 1; total 7–28; ≤ 20 → risk of pressure ulcer.
- Downton: previous falls, medications (1 per group, several answers), sensory deficits (1
  each, several answers), confusion, unsafe gait; total 0–11; ≥ 3 → high fall risk.
- MNA-SF: items A–E plus F1 (BMI) or F2 (calf circumference), exactly one of them; total
  0–14; 12–14 normal, 8–11 at risk of malnutrition, 0–7 malnourished.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vardnav.domains.careplan.codes import ORDINAL_VALUE
from vardnav.errors import BusinessRuleViolation

QUESTIONNAIRE_DIR = Path(__file__).parent / "questionnaires"
TOTAL = "total"


@dataclass(frozen=True)
class Level:
    code: str
    display: str
    at_risk: bool


@dataclass(frozen=True)
class Instrument:
    key: str
    risk: str  # senior-alert-risk code: which template answers it
    low: int
    high: int

    def level(self, score: int) -> Level:
        if self.key == "modified-norton":
            return (Level("risk", "Risk för trycksår", True) if score <= 20
                    else Level("no-risk", "Ingen förhöjd risk för trycksår", False))
        if self.key == "downton":
            return (Level("high-risk", "Hög fallrisk", True) if score >= 3
                    else Level("low-risk", "Låg fallrisk", False))
        if score >= 12:
            return Level("normal", "Normalt nutritionsstatus", False)
        if score >= 8:
            return Level("at-risk", "Risk för undernäring", True)
        return Level("malnourished", "Undernäring", True)


INSTRUMENTS = {
    "modified-norton": Instrument("modified-norton", "pressure-ulcer", 7, 28),
    "downton": Instrument("downton", "falls", 0, 11),
    "mna-sf": Instrument("mna-sf", "malnutrition", 0, 14),
}
# Answers that exclude every other answer of their item ("none" with "vision" is a mistake).
_EXCLUSIVE = {("downton", "medications"): "none", ("downton", "sensory-deficits"): "none"}
_EITHER = {"mna-sf": ("bmi", "calf-circumference")}


@functools.cache
def questionnaire(key: str) -> dict[str, Any]:
    return json.loads((QUESTIONNAIRE_DIR / f"{key}.json").read_text(encoding="utf-8"))


def all_questionnaires() -> list[dict[str, Any]]:
    return [questionnaire(k) for k in INSTRUMENTS]


def instrument_for(canonical: Any) -> Instrument:
    """The instrument a QuestionnaireResponse.questionnaire names (url or url|version)."""
    if not isinstance(canonical, str):
        raise BusinessRuleViolation("QuestionnaireResponse.questionnaire must name one of the "
                                    "risk assessment Questionnaires")
    url, _, version = canonical.partition("|")
    for key in INSTRUMENTS:
        q = questionnaire(key)
        if q["url"] == url:
            if version and version != q["version"]:
                raise BusinessRuleViolation(f"{url} version {version} is not known; the "
                                            f"server scores version {q['version']}")
            return INSTRUMENTS[key]
    raise BusinessRuleViolation(f"{canonical} is not a risk assessment Questionnaire (use "
                                f"{', '.join(questionnaire(k)['url'] for k in INSTRUMENTS)})")


@dataclass(frozen=True)
class Score:
    instrument: Instrument
    total: int
    points: dict[str, int]  # per item linkId
    level: Level


def _options(key: str) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    out = {}
    for item in questionnaire(key)["item"]:
        if item["type"] != "choice":
            continue
        points = {}
        for option in item["answerOption"]:
            coding = option["valueCoding"]
            value = next(e["valueDecimal"] for e in coding["extension"]
                         if e["url"] == ORDINAL_VALUE)
            points[coding["code"]] = int(value)
        out[item["linkId"]] = (item, points)
    return out


def flatten(items: Any) -> dict[str, list[Any]]:
    """linkId → answers of a QuestionnaireResponse's items (groups flattened)."""
    found: dict[str, list[Any]] = {}
    for item in items or []:
        if not isinstance(item, dict) or not isinstance(item.get("linkId"), str):
            raise BusinessRuleViolation("Every QuestionnaireResponse item needs a linkId")
        if item["linkId"] in found:
            raise BusinessRuleViolation(f"Item '{item['linkId']}' is answered twice")
        answers = item.get("answer") or []
        children = item.get("item") or []
        if not isinstance(answers, list) or not isinstance(children, list):
            raise BusinessRuleViolation(f"Item '{item['linkId']}': answer and item are lists")
        found[item["linkId"]] = list(answers)
        nested = [i for a in answers if isinstance(a, dict) for i in a.get("item") or []]
        for sub in (*children, *nested):
            for link, given in flatten([sub]).items():
                if link in found:
                    raise BusinessRuleViolation(f"Item '{link}' is answered twice")
                found[link] = given
    return found


def score(key: str, answers: dict[str, list[Any]]) -> Score:
    """Score one response; every problem with the answers is a 422 naming the item."""
    instrument = INSTRUMENTS[key]
    options = _options(key)
    unknown = sorted(set(answers) - set(options) - {TOTAL})
    if unknown:
        raise BusinessRuleViolation(f"{key}: no item {', '.join(unknown)} in the Questionnaire")
    points: dict[str, int] = {}
    for link, (item, table) in options.items():
        given = answers.get(link) or []
        if not given:
            if item.get("required"):
                raise BusinessRuleViolation(f"{key}: item '{link}' ({item['text']}) is not "
                                            "answered")
            continue
        if len(given) > 1 and not item.get("repeats"):
            raise BusinessRuleViolation(f"{key}: item '{link}' takes one answer")
        system = item["answerOption"][0]["valueCoding"]["system"]
        codes = []
        for answer in given:
            coding = answer.get("valueCoding") if isinstance(answer, dict) else None
            code = coding.get("code") if isinstance(coding, dict) else None
            if code not in table or coding.get("system", system) != system:
                raise BusinessRuleViolation(
                    f"{key}: '{code}' is not an answer of item '{link}' (one of "
                    f"{', '.join(table)})", expression=[f"QuestionnaireResponse.item[{link}]"])
            codes.append(code)
        if len(set(codes)) != len(codes):
            raise BusinessRuleViolation(f"{key}: item '{link}' has the same answer twice")
        exclusive = _EXCLUSIVE.get((key, link))
        if exclusive in codes and len(codes) > 1:
            raise BusinessRuleViolation(f"{key}: item '{link}': '{exclusive}' cannot be "
                                        "combined with other answers")
        points[link] = sum(table[code] for code in codes)
    either = _EITHER.get(key)
    if either and sum(1 for link in either if link in points) != 1:
        raise BusinessRuleViolation(f"{key}: answer exactly one of {' or '.join(either)} "
                                    "(F2 only when BMI is not available)")
    total = sum(points.values())
    assert instrument.low <= total <= instrument.high, (key, total)
    sent = answers.get(TOTAL)
    if sent:
        value = sent[0].get("valueInteger") if isinstance(sent[0], dict) else None
        if (len(sent) != 1 or not isinstance(value, int) or isinstance(value, bool)
                or value != total):
            raise BusinessRuleViolation(
                f"{key}: the total sent ({value}) does not match the answers, which score "
                f"{total}; the server computes the score (leave 'total' out or send {total})",
                expression=["QuestionnaireResponse.item[total]"])
    return Score(instrument, total, points, instrument.level(total))
