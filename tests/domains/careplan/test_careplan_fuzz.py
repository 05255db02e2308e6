"""No request to a care plan operation ends in a 500: random Parameters (names the operations
know, values of every JSON shape) always get a 2xx or a 4xx OperationOutcome."""

from __future__ import annotations

from typing import Any

from careplan_support import FHIR_JSON, World, norton_response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest_plugins = ("careplan_fixtures",)

NAMES = ["problem", "goal", "activity", "code", "attention", "severity", "description",
         "measure", "target", "dueDate", "addresses", "profession", "schedule", "followUp",
         "status", "vipsKeyword", "text", "outcome", "nextFollowUp", "reason", "note", "url",
         "subject", "encounter", "carePlan", "exclude", "response", "category", "condition",
         "unit", "list", "title"]
VALUE_KEYS = ["valueString", "valueCode", "valueDate", "valueInteger", "valueBoolean",
              "valueCoding", "valueCodeableConcept", "valueQuantity", "valueReference",
              "valueTiming", "valuePeriod", "valueDecimal", "resource"]
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 40),
                      st.text(max_size=12), st.sampled_from(
                          ["2026-03-04", "registered-nurse", "high", "plan", "achieved",
                           "Goal/x", "Patient/x", "risk", "none", "total"]))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
        ["code", "system", "text", "reference", "value", "unit", "linkId", "answer",
         "valueCoding", "valueInteger", "item", "resourceType", "status"]), inner,
        max_size=3)), max_leaves=8)
parameter = st.fixed_dictionaries({"name": st.sampled_from(NAMES)}).flatmap(
    lambda p: st.one_of(
        st.builds(lambda k, v: {**p, k: v}, st.sampled_from(VALUE_KEYS), json_value),
        st.builds(lambda parts: {**p, "part": parts}, st.lists(st.builds(
            lambda n, k, v: {"name": n, k: v}, st.sampled_from(NAMES),
            st.sampled_from(VALUE_KEYS), json_value), max_size=4))))
body = st.one_of(
    st.builds(lambda ps: {"resourceType": "Parameters", "parameter": ps},
              st.lists(parameter, max_size=5)),
    json_value)
OPERATIONS = ["careplan-add-problem", "careplan-add-goal", "careplan-add-activity",
              "careplan-update-activity", "careplan-update-goal", "careplan-evaluate",
              "careplan-note", "careplan-close", "risk-assessment", "attention-mark",
              "apply", "careplan-start", "careplan-worklist", "attention-signal"]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(op=st.sampled_from(OPERATIONS), payload=body)
def test_no_operation_answers_500(cp_world: World, op: str, payload: Any) -> None:
    w = cp_world
    if not w.admitted:
        w.admit("Andersson")
    # Any plan of the stay: an earlier example may have closed it (then steps are 422s).
    enc = w.c.get("/fhir/Encounter").json()["entry"][0]["resource"]["id"]
    plan = w.c.get("/fhir/CarePlan", params={"encounter": f"Encounter/{enc}"}
                   ).json()["entry"][0]["resource"]
    target = {"careplan-start": f"Encounter/{plan['encounter']['reference'].split('/')[1]}",
              "risk-assessment": f"Patient/{w.patients['Andersson']}",
              "attention-mark": f"Patient/{w.patients['Andersson']}",
              "attention-signal": f"Patient/{w.patients['Andersson']}",
              "apply": "PlanDefinition", "careplan-worklist": ""}.get(
        op, f"CarePlan/{plan['id']}")
    path = f"/fhir/{target}/${op}" if target else f"/fhir/${op}"
    r = w.c.post(path, json=payload, headers={**FHIR_JSON, **w.staff["nurse"].h})
    assert r.status_code < 500, (path, payload, r.text)
    if r.status_code >= 400:
        assert r.json()["resourceType"] == "OperationOutcome"


def test_a_malformed_response_is_a_400_not_a_crash(cp_world: World) -> None:
    w = cp_world
    w.admit("Andersson")
    bad = norton_response(20)
    bad["item"][0]["answer"] = "alert"
    r = w.staff["nurse"].op(f"Patient/{w.patients['Andersson']}/$risk-assessment",
                            response=bad)
    assert r.status_code == 400, r.text
