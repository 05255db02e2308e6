"""ResourceValidator: what a client sees when it sends a resource that is or is not valid R4."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vardnav.errors import InvalidResource
from vardnav.fhir.validation import MAX_ISSUES, ResourceValidator, issue

VALIDATOR = ResourceValidator()


def patient(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "p1",
        "active": True,
        "name": [{"use": "official", "family": "Svensson", "given": ["Anna", "Maria"]}],
        "telecom": [{"system": "phone", "value": "+46701234567"}],
        "gender": "female",
        "birthDate": "1912-12-12",
        "address": [{"line": ["Storgatan 1"], "city": "Uppsala", "country": "SE"}],
        **fields,
    }


def observation(**fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2024-05-01T10:00:00+02:00",
        "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org"},
        **fields,
    }


def problems(resource: Any, validator: ResourceValidator = VALIDATOR) -> list[dict[str, Any]]:
    """The issues validate() raises, in OperationOutcome form ([] when it passes)."""
    try:
        validator.validate(resource)
    except InvalidResource as exc:
        return exc.issues()
    return []


def only(resource: Any) -> dict[str, Any]:
    found = problems(resource)
    assert len(found) == 1, found
    return found[0]


# -- valid resources pass ------------------------------------------------------------------

@pytest.mark.parametrize("resource", [
    patient(),
    observation(),
    {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:6f1b0c0e-0c53-4c1e-9d7a-0a4f4e4c0b11", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation(), "request": {"method": "POST", "url": "Observation"}},
    ]},
    patient(birthDate="2020"),
    patient(birthDate="2020-05"),
    patient(birthDate="2020-02-29"),
    patient(_birthDate={"extension": [{"url": "http://example.org/x", "valueString": "y"}]}),
    patient(link=[{"other": {"reference": "Patient/p2"}, "type": "seealso"}]),
    observation(status=None, _status={"extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
         "valueCode": "unknown"}]}),
    observation(text={"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                      "Puls 72</div>"}),
])
def test_valid_resources_pass(resource: dict[str, Any]) -> None:
    resource = {k: v for k, v in resource.items() if v is not None}
    VALIDATOR.validate(resource)
    assert VALIDATOR.issues(resource) == []


# -- each kind of problem is reported where it is ------------------------------------------

def test_unknown_code_in_required_binding() -> None:
    found = only(patient(gender="x"))
    assert found["code"] == "code-invalid"
    assert found["expression"] == ["Patient.gender"]
    assert '"x"' in found["diagnostics"] and "female" in found["diagnostics"]


@pytest.mark.parametrize("value", ["2020-13-01", "2021-02-29", "2020-04-31", "12-12-2020", ""])
def test_bad_dates_rejected(value: str) -> None:
    found = only(patient(birthDate=value))
    assert found["code"] == "value"
    assert found["expression"] == ["Patient.birthDate"]
    assert value in found["diagnostics"]


def test_impossible_date_inside_a_choice_type() -> None:
    found = only(observation(effectiveDateTime="2023-02-29T10:00:00Z"))
    assert found["expression"] == ["Observation.effectiveDateTime"]
    assert "calendar date" in found["diagnostics"]


def test_unknown_element_rejected() -> None:
    found = only(patient(favouriteColour="blue"))
    assert found["code"] == "structure"
    assert found["expression"] == ["Patient.favouriteColour"]
    assert "Unknown element" in found["diagnostics"]


def test_unknown_nested_element_and_case_hint() -> None:
    found = only(patient(name=[{"Family": "Svensson"}]))
    assert found["expression"] == ["Patient.name[0].Family"]
    assert "did you mean family" in found["diagnostics"]


def test_untyped_choice_element_names_its_types() -> None:
    found = only(patient(deceased=True))
    assert found["expression"] == ["Patient.deceased"]
    assert "deceasedBoolean" in found["diagnostics"]


def test_choice_element_takes_only_one_type() -> None:
    found = only(observation(valueString="72"))
    assert found["expression"] == ["Observation.value"]
    assert "valueQuantity" in found["diagnostics"] and "valueString" in found["diagnostics"]


@pytest.mark.parametrize(("resource", "expression"), [
    ({"resourceType": "Observation", "code": {"text": "Puls"}}, "Observation.status"),
    ({"resourceType": "Observation", "status": "final"}, "Observation.code"),
    ({"resourceType": "Bundle"}, "Bundle.type"),
    ({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
      "subject": {"reference": "Patient/p1"}}, "MedicationRequest.medication"),
])
def test_missing_required_element(resource: dict[str, Any], expression: str) -> None:
    found = only(resource)
    assert found["code"] == "required"
    assert found["expression"] == [expression]


@pytest.mark.parametrize(("resource", "expression"), [
    (patient(link=[{"type": "seealso"}]), "Patient.link[0].other"),
    (patient(extension=[{"valueString": "x"}]), "Patient.extension[0].url"),
    (patient(_birthDate={"extension": [{"valueString": "x"}]}),
     "Patient.birthDate.extension[0].url"),
    (observation(text={"div": "<div>Puls</div>"}), "Observation.text.status"),
    (observation(component=[{"valueString": "x"}]), "Observation.component[0].code"),
])
def test_nested_required_only_when_parent_present(resource: dict[str, Any],
                                                   expression: str) -> None:
    found = only(resource)
    assert found["code"] == "required"
    assert found["expression"] == [expression]


@pytest.mark.parametrize(("field", "value", "expression"), [
    ("active", "yes", "Patient.active"),
    ("name", {"family": "Svensson"}, "Patient.name"),        # repeats: must be an array
    ("gender", ["female"], "Patient.gender"),                 # max 1: must not be an array
    ("multipleBirthInteger", 1.5, "Patient.multipleBirthInteger"),
    ("multipleBirthInteger", 2**40, "Patient.multipleBirthInteger"),
    ("name", [{"given": "Anna"}], "Patient.name[0].given"),
    ("name", [{"given": ["Anna", 7]}], "Patient.name[0].given[1]"),
])
def test_wrong_datatype_or_cardinality(field: str, value: Any, expression: str) -> None:
    found = only(patient(**{field: value}))
    assert found["expression"] == [expression]


def test_all_problems_are_reported_at_once() -> None:
    resource = patient(gender="x", birthDate="2020-13-01", foo=1, active="yes")
    with pytest.raises(InvalidResource) as caught:
        VALIDATOR.validate(resource)
    outcome = caught.value.outcome()
    expressions = {e for i in outcome["issue"] for e in i["expression"]}
    assert expressions == {"Patient.gender", "Patient.birthDate", "Patient.foo",
                           "Patient.active"}
    assert caught.value.message == outcome["issue"][0]["diagnostics"]
    assert VALIDATOR.issues(resource) == outcome["issue"]


def test_first_issue_keeps_its_own_code() -> None:
    with pytest.raises(InvalidResource) as caught:
        VALIDATOR.validate({"resourceType": "Observation", "code": {"text": "Puls"}})
    assert caught.value.outcome()["issue"][0]["code"] == "required"
    assert caught.value.status == 400


# -- resource type and nested resources ----------------------------------------------------

def test_missing_or_unknown_resource_type() -> None:
    assert only({"id": "x"})["code"] == "required"
    found = only({"resourceType": "patient"})
    assert found["expression"] == ["resourceType"]
    assert "did you mean Patient" in found["diagnostics"]
    assert "Unknown resourceType" in only({"resourceType": "DomainResource"})["diagnostics"]
    assert only({"resourceType": 5})["expression"] == ["resourceType"]


def test_resources_inside_a_bundle_are_validated_with_their_own_type() -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": patient()},
        {"resource": patient(gender="x")},
        {"resource": {"resourceType": "Nope"}},
        {"resource": observation(contained=[{"resourceType": "Patient", "foo": 1}])},
        {"resource": "not a resource"},
    ]}
    expressions = [i["expression"][0] for i in problems(bundle)]
    assert sorted(expressions) == sorted([
        "Bundle.entry[1].resource.gender",
        "Bundle.entry[2].resource.resourceType",
        "Bundle.entry[3].resource.contained[0].foo",
        "Bundle.entry[4].resource",
    ])


def test_parameters_parts_hold_resources() -> None:
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "a", "part": [{"name": "b", "resource": patient(gender="x")}]}]}
    assert only(parameters)["expression"] == ["Parameters.parameter[0].part[0].resource.gender"]


# -- extra checks --------------------------------------------------------------------------

def no_test_patients(resource: dict[str, Any]) -> list[dict[str, Any]]:
    if resource.get("resourceType") == "Patient" and resource.get("id") == "test":
        return [issue("value", "No test patients here", "Patient.id")]
    return []


def test_extra_checks_add_issues_also_for_nested_resources() -> None:
    validator = ResourceValidator(extra_checks=[no_test_patients])
    assert problems(patient(), validator) == []
    assert problems(patient(id="test"), validator)[0]["expression"] == ["Patient.id"]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient(id="test", gender="x")}]}
    assert {i["expression"][0] for i in problems(bundle, validator)} == {
        "Bundle.entry[0].resource.id", "Bundle.entry[0].resource.gender"}


# -- hostile input -------------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, 42, "Patient", [patient()], b"{}", 1.5])
def test_non_object_input_rejected(value: Any) -> None:
    found = only(value)
    assert found["code"] == "structure"
    assert "JSON object" in found["diagnostics"]


def test_deep_nesting_is_rejected_not_crashing() -> None:
    extension: dict[str, Any] = {"url": "http://x", "valueString": "y"}
    for _ in range(50_000):
        extension = {"url": "http://x", "extension": [extension]}
    assert "nested too deeply" in only(patient(extension=[extension]))["diagnostics"]


def test_moderate_nesting_is_fine() -> None:
    extension: dict[str, Any] = {"url": "http://x", "valueString": "y"}
    for _ in range(50):
        extension = {"url": "http://x", "extension": [extension]}
    assert problems(patient(extension=[extension])) == []


@pytest.mark.parametrize("value", [
    dt.date(2020, 1, 1), {1, 2}, b"bytes", object(), 10**30, float("nan"),
])
def test_values_that_are_not_json_rejected(value: Any) -> None:
    assert problems(patient(birthDate=value))


def test_non_string_keys_rejected() -> None:
    assert problems({"resourceType": "Patient", 1: "x"})


def test_huge_strings_are_handled() -> None:
    assert problems(patient(name=[{"family": "S" * 5_000_000}])) == []
    found = only(patient(**{"x" * 100_000: "y"}))
    assert len(found["diagnostics"]) < 500


def test_junk_reports_are_capped() -> None:
    found = problems(patient(name=[{"family": n} for n in range(1000)]))
    assert 1 < len(found) <= MAX_ISSUES


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=25,
)
ELEMENT_NAMES = st.sampled_from([
    "id", "meta", "text", "name", "gender", "birthDate", "_birthDate", "identifier",
    "extension", "contained", "link", "status", "code", "valueQuantity", "component",
    "entry", "resource", "type", "parameter", "part", "url", "div",
]) | st.text(max_size=8)
RESOURCE_LIKE = st.builds(
    lambda rtype, fields: {"resourceType": rtype, **fields},
    st.sampled_from(["Patient", "Observation", "Bundle", "Parameters", "Nope"]) | JSON,
    st.dictionaries(ELEMENT_NAMES, JSON, max_size=6),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RESOURCE_LIKE | JSON)
def test_random_json_never_raises_anything_but_invalid_resource(value: Any) -> None:
    try:
        VALIDATOR.validate(value)
    except InvalidResource as exc:
        assert exc.issues()
        assert all(i["severity"] == "error" and i["diagnostics"] for i in exc.issues())


def test_validation_is_fast() -> None:
    """A loose guard against regressions: the target is well under 100 µs per resource."""
    resources = [patient(), observation()]
    for resource in resources:
        VALIDATOR.validate(resource)  # compile outside the timing
    rounds = 500
    start = time.perf_counter()
    for _ in range(rounds):
        for resource in resources:
            VALIDATOR.validate(resource)
    per_resource = (time.perf_counter() - start) / (rounds * len(resources))
    assert per_resource < 500e-6
