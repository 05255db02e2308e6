"""Scoring of the three Senior alert instruments (no database): every threshold and the values
around it, the ranges (Hypothesis), and answers that cannot be scored."""

from __future__ import annotations

import pytest
from careplan_support import NORTON_CODES, NORTON_ITEMS, norton_points
from hypothesis import given, settings
from hypothesis import strategies as st

from vardnav.domains.careplan.instruments import (
    INSTRUMENTS,
    flatten,
    instrument_for,
    questionnaire,
    score,
)
from vardnav.errors import BusinessRuleViolation

SYSTEM = "https://vardnav.se/fhir/CodeSystem/{}-answer"


def _answers(key: str, chosen: dict[str, list[str]]) -> dict[str, list[object]]:
    return {link: [{"valueCoding": {"system": SYSTEM.format(key), "code": c}} for c in codes]
            for link, codes in chosen.items()}


def norton(total: int) -> dict[str, list[str]]:
    return {item: [NORTON_CODES[item][p - 1]] for item, p in norton_points(total).items()}


@pytest.mark.parametrize(("total", "level", "at_risk"), [
    (7, "risk", True), (19, "risk", True), (20, "risk", True), (21, "no-risk", False),
    (22, "no-risk", False), (28, "no-risk", False)])
def test_modified_norton_at_and_around_20(total: int, level: str, at_risk: bool) -> None:
    result = score("modified-norton", _answers("modified-norton", norton(total)))
    assert (result.total, result.level.code, result.level.at_risk) == (total, level, at_risk)
    assert set(result.points) == set(NORTON_ITEMS)


DOWNTON_ZERO = {"previous-falls": ["no"], "medications": ["none"],
                "sensory-deficits": ["none"], "mental-state": ["oriented"], "gait": ["normal"]}


@pytest.mark.parametrize(("changes", "total", "level"), [
    ({}, 0, "low-risk"),
    ({"previous-falls": ["yes"], "medications": ["diuretics"]}, 2, "low-risk"),
    ({"medications": ["sedatives", "diuretics", "other"]}, 2, "low-risk"),
    ({"previous-falls": ["yes"], "medications": ["diuretics"], "gait": ["unsafe"]}, 3,
     "high-risk"),
    ({"sensory-deficits": ["vision", "hearing", "limb"]}, 3, "high-risk"),
    ({"mental-state": ["confused"], "sensory-deficits": ["vision", "hearing", "limb"]}, 4,
     "high-risk"),
    ({"gait": ["safe-with-aids"], "medications": ["antiparkinson", "antidepressants"]}, 2,
     "low-risk"),
    ({"previous-falls": ["yes"], "medications": ["sedatives", "diuretics",
                                                 "antihypertensives", "antiparkinson",
                                                 "antidepressants"],
      "sensory-deficits": ["vision", "hearing", "limb"], "mental-state": ["confused"],
      "gait": ["unsafe"]}, 11, "high-risk")])
def test_downton_at_and_around_3(changes: dict[str, list[str]], total: int,
                                 level: str) -> None:
    result = score("downton", _answers("downton", {**DOWNTON_ZERO, **changes}))
    assert (result.total, result.level.code) == (total, level)
    assert result.level.at_risk is (total >= 3)


MNA_MAX = {"food-intake": ["no-decrease"], "weight-loss": ["none"], "mobility": ["goes-out"],
           "acute-stress": ["no"], "neuropsychological": ["none"], "bmi": ["ge23"]}


@pytest.mark.parametrize(("changes", "total", "level"), [
    ({}, 14, "normal"),
    ({"bmi": ["21-23"]}, 13, "normal"),
    ({"bmi": ["19-21"]}, 12, "normal"),
    ({"bmi": ["lt19"]}, 11, "at-risk"),
    ({"bmi": ["lt19"], "neuropsychological": ["mild-dementia"]}, 10, "at-risk"),
    ({"bmi": ["lt19"], "acute-stress": ["yes"], "weight-loss": ["1-3kg"]}, 8, "at-risk"),
    ({"bmi": ["lt19"], "acute-stress": ["yes"], "weight-loss": ["unknown"]}, 7,
     "malnourished"),
    ({"bmi": ["lt19"], "acute-stress": ["yes"], "weight-loss": ["unknown"],
      "mobility": ["out-of-bed"]}, 6, "malnourished"),
    ({"food-intake": ["severe-decrease"], "weight-loss": ["more-than-3kg"],
      "mobility": ["bed-or-chair"], "acute-stress": ["yes"], "neuropsychological": ["severe"],
      "bmi": ["lt19"]}, 0, "malnourished")])
def test_mna_sf_bands(changes: dict[str, list[str]], total: int, level: str) -> None:
    result = score("mna-sf", _answers("mna-sf", {**MNA_MAX, **changes}))
    assert (result.total, result.level.code) == (total, level)


def test_mna_sf_takes_the_calf_circumference_when_bmi_is_missing() -> None:
    without_bmi = {k: v for k, v in MNA_MAX.items() if k != "bmi"}
    assert score("mna-sf", _answers("mna-sf", {**without_bmi,
                                               "calf-circumference": ["ge31"]})).total == 14
    assert score("mna-sf", _answers("mna-sf", {**without_bmi,
                                               "calf-circumference": ["lt31"]})).total == 11
    with pytest.raises(BusinessRuleViolation, match="exactly one"):
        score("mna-sf", _answers("mna-sf", without_bmi))
    with pytest.raises(BusinessRuleViolation, match="exactly one"):
        score("mna-sf", _answers("mna-sf", {**MNA_MAX, "calf-circumference": ["ge31"]}))


@pytest.mark.parametrize(("key", "chosen", "problem"), [
    ("modified-norton", {**norton(20), "total": None}, "does not match"),
    ("modified-norton", {k: v for k, v in norton(20).items() if k != "mobility"},
     "not answered"),
    ("modified-norton", {**norton(20), "mobility": ["flying"]}, "not an answer"),
    ("modified-norton", {**norton(20), "mobility": ["full", "immobile"]}, "one answer"),
    ("modified-norton", {**norton(20), "shoe-size": ["full"]}, "no item"),
    ("downton", {**DOWNTON_ZERO, "medications": ["none", "diuretics"]}, "cannot be combined"),
    ("downton", {**DOWNTON_ZERO, "medications": ["diuretics", "diuretics"]}, "twice"),
])
def test_answers_that_cannot_be_scored(key: str, chosen: dict[str, object],
                                       problem: str) -> None:
    answers = _answers(key, {k: v for k, v in chosen.items() if v is not None})  # type: ignore[misc]
    if "total" in chosen:
        answers["total"] = [{"valueInteger": 28}]
    with pytest.raises(BusinessRuleViolation, match=problem):
        score(key, answers)


def test_a_sent_total_is_accepted_only_when_it_matches() -> None:
    answers = _answers("modified-norton", norton(18))
    assert score("modified-norton", {**answers, "total": [{"valueInteger": 18}]}).total == 18
    for wrong in (17, 19, "18", True, None):
        with pytest.raises(BusinessRuleViolation, match="does not match"):
            score("modified-norton", {**answers, "total": [{"valueInteger": wrong}]})


def test_points_come_from_the_server_not_from_the_client() -> None:
    # A client that sends its own ordinalValue on the answer does not change the score.
    answers = _answers("modified-norton", norton(28))
    for answer in answers.values():
        answer[0]["valueCoding"]["extension"] = [  # type: ignore[index]
            {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 1}]
    assert score("modified-norton", answers).total == 28


def _option_codes(key: str) -> dict[str, list[str]]:
    return {i["linkId"]: [o["valueCoding"]["code"] for o in i["answerOption"]]
            for i in questionnaire(key)["item"] if i["type"] == "choice"}


@settings(deadline=None)  # pure, but a loaded CI machine is slow
@given(st.data())
def test_every_norton_answer_set_scores_within_7_to_28(data: st.DataObject) -> None:
    chosen = {link: [data.draw(st.sampled_from(codes))]
              for link, codes in _option_codes("modified-norton").items()}
    result = score("modified-norton", _answers("modified-norton", chosen))
    assert 7 <= result.total <= 28
    assert result.level.at_risk is (result.total <= 20)


@settings(deadline=None)  # pure, but a loaded CI machine is slow
@given(st.data())
def test_every_downton_answer_set_scores_within_0_to_11(data: st.DataObject) -> None:
    chosen: dict[str, list[str]] = {}
    for link, codes in _option_codes("downton").items():
        if link in ("medications", "sensory-deficits"):
            picked = data.draw(st.lists(st.sampled_from([c for c in codes if c != "none"]),
                                        unique=True))
            chosen[link] = picked or ["none"]
        else:
            chosen[link] = [data.draw(st.sampled_from(codes))]
    result = score("downton", _answers("downton", chosen))
    assert 0 <= result.total <= 11
    assert result.level.at_risk is (result.total >= 3)
    expected = (len([c for c in chosen["medications"] if c not in ("none", "other")])
                + len([c for c in chosen["sensory-deficits"] if c != "none"])
                + (chosen["previous-falls"] == ["yes"]) + (chosen["mental-state"] == ["confused"])
                + (chosen["gait"] == ["unsafe"]))
    assert result.total == expected


@settings(deadline=None)  # pure, but a loaded CI machine is slow
@given(st.data())
def test_every_mna_sf_answer_set_scores_within_0_to_14(data: st.DataObject) -> None:
    codes = _option_codes("mna-sf")
    anthropometry = data.draw(st.sampled_from(["bmi", "calf-circumference"]))
    chosen = {link: [data.draw(st.sampled_from(options))] for link, options in codes.items()
              if link not in ("bmi", "calf-circumference") or link == anthropometry}
    result = score("mna-sf", _answers("mna-sf", chosen))
    assert 0 <= result.total <= 14
    expected = ("normal" if result.total >= 12 else "at-risk" if result.total >= 8
                else "malnourished")
    assert result.level.code == expected


def test_questionnaires_are_found_by_canonical_and_flatten_groups() -> None:
    for key in INSTRUMENTS:
        q = questionnaire(key)
        assert instrument_for(q["url"]).key == key
        assert instrument_for(f"{q['url']}|{q['version']}").key == key
    with pytest.raises(BusinessRuleViolation):
        instrument_for("https://vardnav.se/fhir/Questionnaire/modified-norton|9.9")
    with pytest.raises(BusinessRuleViolation):
        instrument_for("http://example.org/Questionnaire/phq-9")
    nested = flatten([{"linkId": "g", "item": [{"linkId": "a", "answer": [{"valueString": "x"}]}]}])
    assert set(nested) == {"g", "a"}
    with pytest.raises(BusinessRuleViolation, match="twice"):
        flatten([{"linkId": "a"}, {"linkId": "a"}])
