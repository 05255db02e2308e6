"""Search: every parameter type, prefixes, modifiers, chains, _has, includes, sort, paging."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FHIR_JSON, Fhir, observation, patient


@pytest.fixture
def people(fhir: Fhir) -> dict[str, dict[str, Any]]:
    org = fhir.create({"resourceType": "Organization", "name": "Vårdcentralen Åsen",
                       "identifier": [{"system": "urn:hsa", "value": "SE2321000131-E1"}]})
    gp = {"reference": f"Organization/{org['id']}"}
    ids = {
        "ostlund": fhir.create(patient("Östlund", "Åsa", "1950-02-03", "female",
                                       generalPractitioner=[gp],
                                       identifier=[{"system": "urn:pnr", "value": "1"}])),
        "berg": fhir.create(patient("Berg", "Erik", "1972-06-15", "male",
                                    identifier=[{"system": "urn:pnr", "value": "2"}],
                                    telecom=[{"system": "phone", "value": "031-123"}])),
        "bergman": fhir.create(patient("Bergman", "Ingrid", "1999-12-31", "female",
                                       active=False,
                                       meta={"tag": [{"system": "urn:t", "code": "HTEST"}],
                                             "profile": ["http://example.org/p"],
                                             "security": [{"system": "urn:s", "code": "R"}]})),
    }
    ids["org"] = org
    return ids


def test_string_is_case_and_accent_insensitive_prefix(fhir: Fhir, people: dict) -> None:
    assert fhir.search_ids("Patient?family=ostlund") == [people["ostlund"]["id"]]
    assert fhir.search_ids("Patient?family=ÖST") == [people["ostlund"]["id"]]
    assert fhir.search_ids("Patient?name=asa") == [people["ostlund"]["id"]]
    assert len(fhir.search_ids("Patient?family=berg")) == 2
    assert fhir.search_ids("Patient?family:exact=Berg") == [people["berg"]["id"]]
    assert fhir.search_ids("Patient?family:exact=berg") == []
    assert fhir.search_ids("Patient?family:contains=gma") == [people["bergman"]["id"]]


def test_or_and_and(fhir: Fhir, people: dict) -> None:
    both = sorted([people["ostlund"]["id"], people["berg"]["id"]])
    assert fhir.search_ids("Patient?family=ostlund,berg&gender=male,female") == sorted(
        [people["ostlund"]["id"], people["berg"]["id"], people["bergman"]["id"]])
    assert fhir.search_ids("Patient?family=berg&family=bergm") == [people["bergman"]["id"]]
    assert fhir.search_ids("Patient?_id=" + ",".join(both)) == both


def test_token_forms_and_modifiers(fhir: Fhir, people: dict) -> None:
    assert fhir.search_ids("Patient?identifier=urn:pnr|1") == [people["ostlund"]["id"]]
    assert len(fhir.search_ids("Patient?identifier=urn:pnr|")) == 2
    assert fhir.search_ids("Patient?identifier=2") == [people["berg"]["id"]]
    assert fhir.search_ids("Patient?identifier=|2") == []
    assert fhir.search_ids("Patient?gender=male") == [people["berg"]["id"]]
    assert len(fhir.search_ids("Patient?gender:not=male")) == 2
    assert fhir.search_ids("Patient?active=false") == [people["bergman"]["id"]]
    assert fhir.search_ids("Patient?phone=031-123") == [people["berg"]["id"]]


def test_token_text_and_of_type(fhir: Fhir) -> None:
    c = fhir.create({"resourceType": "Condition", "subject": {"reference": "Patient/x"},
                     "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10",
                                          "code": "I10", "display": "Essentiell hypertoni"}]}})
    assert fhir.search_ids("Condition?code:text=essentiell") == [c["id"]]
    p = fhir.create(patient(identifier=[{
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "MR"}]}, "system": "urn:mr", "value": "M-1"}]))
    q = "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|M-1"
    assert fhir.search_ids(q) == [p["id"]]


def test_tag_profile_security_and_missing(fhir: Fhir, people: dict) -> None:
    b = [people["bergman"]["id"]]
    assert fhir.search_ids("Patient?_tag=urn:t|HTEST") == b
    assert fhir.search_ids("Patient?_profile=http://example.org/p") == b
    assert fhir.search_ids("Patient?_security=urn:s|R") == b
    assert fhir.search_ids("Patient?general-practitioner:missing=false") == [
        people["ostlund"]["id"]]
    assert len(fhir.search_ids("Patient?general-practitioner:missing=true")) == 2


@pytest.mark.parametrize(("query", "expected"), [
    ("birthdate=1950", ["ostlund"]),
    ("birthdate=1950-02", ["ostlund"]),
    ("birthdate=eq1950-02-03", ["ostlund"]),
    ("birthdate=ne1950-02-03", ["berg", "bergman"]),
    ("birthdate=gt1972-06-15", ["bergman"]),
    ("birthdate=ge1972-06-15", ["berg", "bergman"]),
    ("birthdate=lt1972-06-15", ["ostlund"]),
    ("birthdate=le1972-06-15", ["berg", "ostlund"]),
    ("birthdate=sa1972", ["bergman"]),
    ("birthdate=eb1972", ["ostlund"]),
    ("birthdate=ap1972-06-20", ["berg"]),
    ("birthdate=ge1950&birthdate=lt1973", ["berg", "ostlund"]),
])
def test_date_prefixes(fhir: Fhir, people: dict, query: str, expected: list[str]) -> None:
    assert fhir.search_ids(f"Patient?{query}") == sorted(people[k]["id"] for k in expected)


def test_period_and_last_updated(fhir: Fhir, people: dict) -> None:
    enc = fhir.create({"resourceType": "Encounter", "status": "finished",
                       "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                 "code": "IMP"},
                       "period": {"start": "2024-03-01T08:00:00Z",
                                  "end": "2024-03-05T12:00:00Z"}})
    # eq: the search range must contain the whole period (FHIR R4 search rules).
    assert fhir.search_ids("Encounter?date=2024-03") == [enc["id"]]
    assert fhir.search_ids("Encounter?date=2024-03-03") == []
    assert fhir.search_ids("Encounter?date=ge2024-03-03&date=le2024-03-03") == [enc["id"]]
    assert fhir.search_ids("Encounter?date=lt2024-03-02") == [enc["id"]]
    assert fhir.search_ids("Encounter?date=gt2024-03-06") == []
    stamp = people["bergman"]["meta"]["lastUpdated"]
    assert people["bergman"]["id"] in fhir.search_ids(f"Patient?_lastUpdated=ge{stamp}")
    assert fhir.search_ids("Patient?_lastUpdated=lt2000-01-01") == []


def test_number_and_quantity(fhir: Fhir) -> None:
    o = {v: fhir.create(observation("Patient/p", value=v, unit="kg")) for v in (70, 80.5, 100)}
    ids = {v: r["id"] for v, r in o.items()}
    assert fhir.search_ids("Observation?value-quantity=80.5") == [ids[80.5]]
    assert fhir.search_ids("Observation?value-quantity=gt80") == sorted([ids[80.5], ids[100]])
    assert fhir.search_ids("Observation?value-quantity=le80.5||kg") == sorted([ids[70],
                                                                              ids[80.5]])
    assert fhir.search_ids(
        "Observation?value-quantity=100|http://unitsofmeasure.org|kg") == [ids[100]]
    assert fhir.search_ids("Observation?value-quantity=100|http://unitsofmeasure.org|g") == []
    assert fhir.search_ids("Observation?value-quantity=ap98") == [ids[100]]
    risk = fhir.create({"resourceType": "RiskAssessment", "status": "final",
                        "subject": {"reference": "Patient/p"},
                        "prediction": [{"probabilityDecimal": 0.25}]})
    assert fhir.search_ids("RiskAssessment?probability=gt0.2") == [risk["id"]]
    assert fhir.search_ids("RiskAssessment?probability=0.25") == [risk["id"]]
    assert fhir.search_ids("RiskAssessment?probability=lt0.2") == []


def test_uri_below_and_above(fhir: Fhir) -> None:
    q = fhir.create({"resourceType": "Questionnaire", "status": "active",
                     "url": "http://vardnav.se/fhir/Questionnaire/norton"})
    assert fhir.search_ids("Questionnaire?url=http://vardnav.se/fhir/Questionnaire/norton") \
        == [q["id"]]
    assert fhir.search_ids("Questionnaire?url=http://vardnav.se/fhir/Questionnaire") == []
    assert fhir.search_ids("Questionnaire?url:below=http://vardnav.se/fhir") == [q["id"]]
    assert fhir.search_ids(
        "Questionnaire?url:above=http://vardnav.se/fhir/Questionnaire/norton/x") == [q["id"]]


def test_reference_forms(fhir: Fhir, people: dict) -> None:
    pid = people["ostlund"]["id"]
    o = fhir.create(observation(f"Patient/{pid}"))
    assert fhir.search_ids(f"Observation?subject=Patient/{pid}") == [o["id"]]
    assert fhir.search_ids(f"Observation?subject={pid}") == [o["id"]]
    assert fhir.search_ids(f"Observation?subject:Patient={pid}") == [o["id"]]
    assert fhir.search_ids(f"Observation?patient=http://testserver/fhir/Patient/{pid}") \
        == [o["id"]]
    assert fhir.search_ids(f"Observation?subject:Group={pid}") == []
    ident = fhir.create({**observation("Patient/zz"), "subject": {
        "identifier": {"system": "urn:pnr", "value": "9"}}})
    assert fhir.search_ids("Observation?subject:identifier=urn:pnr|9") == [ident["id"]]


def test_chains_two_levels_and_has(fhir: Fhir, people: dict) -> None:
    pid = people["ostlund"]["id"]
    o = fhir.create(observation(f"Patient/{pid}"))
    fhir.create(observation(f"Patient/{people['berg']['id']}", code="29463-7"))
    assert fhir.search_ids("Observation?subject:Patient.family=östlund") == [o["id"]]
    assert fhir.search_ids("Observation?patient.identifier=urn:pnr|1") == [o["id"]]
    two = "Observation?subject:Patient.general-practitioner:Organization.name=vardcentralen"
    assert fhir.search_ids(two) == [o["id"]]
    assert fhir.search_ids("Patient?_has:Observation:patient:code=8867-4") == [pid]
    assert fhir.search_ids("Patient?_has:Observation:patient:code=29463-7") == [
        people["berg"]["id"]]
    assert fhir.search_ids("Patient?_has:Observation:patient:code=0000-0") == []
    # Inner criteria of any kind, including those that cannot drive a lookup.
    assert fhir.search_ids("Observation?subject:Patient.family:contains=stlu") == [o["id"]]
    assert fhir.search_ids(
        "Observation?subject:Patient.general-practitioner:missing=false") == [o["id"]]
    assert fhir.search_ids("Observation?subject:Patient.gender:not=female&code=8867-4") == []
    # Without a type modifier a chain tries every target type that has the parameter.
    assert fhir.search_ids("Observation?subject.name=östlund") == [o["id"]]
    fhir.get("Observation?a.b.c.d=x", status=200)  # unknown parameter: ignored with a warning


def test_include_revinclude_and_iterate(fhir: Fhir, people: dict) -> None:
    pid = people["ostlund"]["id"]
    o = fhir.create(observation(f"Patient/{pid}"))
    bundle = fhir.get(f"Observation?_id={o['id']}&_include=Observation:subject")
    modes = {(e["resource"]["resourceType"], e["search"]["mode"]) for e in bundle["entry"]}
    assert modes == {("Observation", "match"), ("Patient", "include")}
    assert bundle["total"] == 1  # includes are not counted
    it = fhir.get(f"Observation?_id={o['id']}&_include=Observation:subject"
                  "&_include:iterate=Patient:general-practitioner")
    assert {e["resource"]["resourceType"] for e in it["entry"]} == {
        "Observation", "Patient", "Organization"}
    rev = fhir.get(f"Patient?_id={pid}&_revinclude=Observation:subject")
    assert {e["resource"]["id"] for e in rev["entry"]} == {pid, o["id"]}
    star = fhir.get(f"Observation?_id={o['id']}&_include=*")
    assert {e["resource"]["resourceType"] for e in star["entry"]} == {"Observation",
                                                                      "Patient"}


def test_sort_multiple_keys(fhir: Fhir, people: dict) -> None:
    asc = fhir.get("Patient?_sort=birthdate")["entry"]
    assert [e["resource"]["name"][0]["family"] for e in asc] == ["Östlund", "Berg", "Bergman"]
    desc = fhir.get("Patient?_sort=-birthdate")["entry"]
    assert [e["resource"]["name"][0]["family"] for e in desc] == ["Bergman", "Berg", "Östlund"]
    multi = fhir.get("Patient?_sort=gender,-family")["entry"]
    assert [e["resource"]["name"][0]["family"] for e in multi] == ["Östlund", "Bergman",
                                                                    "Berg"]
    fhir.get("Patient?_sort=nonsense", status=400)


def test_paging_visits_every_match_exactly_once(fhir: Fhir) -> None:
    created = {fhir.create(patient(family=f"Pag{i:02d}"))["id"] for i in range(23)}
    seen: list[str] = []
    url = "Patient?family=pag&_count=5&_sort=family"
    pages = 0
    while url:
        bundle = fhir.get(url)
        assert bundle["total"] == 23
        seen.extend(e["resource"]["id"] for e in bundle["entry"])
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].split("/fhir/", 1)[1] if nxt else ""
        pages += 1
    assert pages == 5
    assert len(seen) == 23 and set(seen) == created
    last = fhir.get("Patient?family=pag&_count=5&_sort=family&_offset=20")
    assert any(link["relation"] == "previous" for link in last["link"])


def test_total_is_right_whether_or_not_the_page_is_full(fhir: Fhir) -> None:
    # The total of a page that is not full is read off the page; every edge must agree
    # with a real count: a full last page, a short one, one past the end, an empty search.
    for i in range(10):
        fhir.create(patient(family=f"Tot{i:02d}"))
    for query, total, returned in [("_count=10", 10, 10), ("_count=11", 10, 10),
                                   ("_count=4&_offset=8", 10, 2),
                                   ("_count=5&_offset=5", 10, 5),
                                   ("_count=5&_offset=10", 10, 0),
                                   ("_count=5&_offset=30", 10, 0)]:
        bundle = fhir.get(f"Patient?family=tot&{query}")
        assert bundle["total"] == total, query
        assert len(bundle.get("entry", [])) == returned, query
    assert fhir.get("Patient?family=nobody")["total"] == 0
    assert fhir.get("Patient?family=nobody&_offset=3")["total"] == 0


def test_searches_of_one_patient_again_and_again_return_that_patients_data(fhir: Fhir) -> None:
    # Searches anchored to a patient may reuse one database plan (PostgreSQL switches to a
    # reused plan after five runs): each run must still be about its own patient and values.
    a, b = (fhir.create(patient(family=name))["id"] for name in ("Ankar", "Bodin"))
    mine = {p: {fhir.create(observation(f"Patient/{p}", value=v))["id"] for v in (60, 70, 80)}
            for p in (a, b)}
    fhir.create(observation(f"Patient/{b}", code="8310-5", value=37))
    for _ in range(8):
        for p in (a, b):
            assert set(fhir.search_ids(f"Observation?subject=Patient/{p}&code=8867-4")) \
                == mine[p]
            bundle = fhir.get(f"Observation?subject=Patient/{p}&_count=2&_sort=value-quantity")
            assert bundle["total"] == len(mine[p]) + (p == b)
            assert len(bundle["entry"]) == 2
        assert set(fhir.search_ids(f"Observation?patient={a},{b}&code=8867-4")) \
            == mine[a] | mine[b]


def test_summary_elements_total(fhir: Fhir, people: dict) -> None:
    count = fhir.get("Patient?_summary=count&_count=1")
    assert count["total"] == 3 and not count.get("entry")
    assert [link["relation"] for link in count["link"]] == ["self"]
    summary = fhir.get("Patient?_summary=true")["entry"][0]["resource"]
    assert "SUBSETTED" in [t["code"] for t in summary["meta"]["tag"]]
    assert "name" in summary
    elements = fhir.get("Patient?_elements=birthDate")["entry"][0]["resource"]
    assert set(elements) == {"resourceType", "id", "meta", "birthDate"}
    none = fhir.get("Patient?_total=none")
    assert "total" not in none and len(none["entry"]) == 3
    assert fhir.get("Patient?_total=accurate&_count=1")["total"] == 3


def test_post_search_and_system_search(fhir: Fhir, people: dict) -> None:
    r = fhir.c.post("/fhir/Patient/_search", content=b"family=berg&gender=male",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert [e["resource"]["id"] for e in r.json()["entry"]] == [people["berg"]["id"]]
    sys_search = fhir.get(f"?_id={people['berg']['id']}")
    assert [e["resource"]["id"] for e in sys_search["entry"]] == [people["berg"]["id"]]
    tagged = fhir.get("?_tag=urn:t|HTEST")
    assert [e["resource"]["id"] for e in tagged["entry"]] == [people["bergman"]["id"]]


def test_unknown_parameters_lenient_and_strict(fhir: Fhir, people: dict) -> None:
    lenient = fhir.get("Patient?shoe-size=42")
    outcomes = [e for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert "shoe-size" in outcomes[0]["resource"]["issue"][0]["diagnostics"]
    assert lenient["total"] == 3
    strict = fhir.c.get("/fhir/Patient?shoe-size=42", headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400
    assert "shoe-size" in strict.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("query", [
    "Patient?birthdate=notadate", "Patient?birthdate=2020-13-01", "Patient?_count=abc",
    "Patient?_count=-1", "Observation?value-quantity=abc", "Patient?family:nonsense=x",
    "Patient?gender:missing=maybe", "Patient?_include=nonsense", "Patient?_summary=bogus",
    "Patient?_total=lots", "Patient?identifier:of-type=onlyone", "Patient?_has:Observation",
    "Observation?subject=Patient/",
])
def test_bad_search_input_is_400(fhir: Fhir, query: str) -> None:
    outcome = fhir.get(query, status=400)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["diagnostics"]


def test_search_parameters_come_from_official_definitions(fhir: Fhir) -> None:
    from vardnav.fhir import definitions
    from vardnav.fhir.search.registry import SUPPORTED_TYPES, default_registry

    registry = default_registry()
    from vardnav.fhir.search.registry import parts_for_type

    # Every official parameter with an expression for the type (a few example-only
    # definitions in the package have none, e.g. Patient "age", and are not searchable).
    official = {(b, sp["code"]) for sp in definitions.load().search_parameters
                for b in sp.get("base", []) if sp["type"] in SUPPORTED_TYPES
                and parts_for_type(sp.get("expression") or "", b)}
    required = ["Patient", "Practitioner", "PractitionerRole", "Organization", "Location",
                "Encounter", "EpisodeOfCare", "Observation", "Condition", "Procedure",
                "AllergyIntolerance", "MedicationRequest", "Immunization", "ServiceRequest",
                "DiagnosticReport", "Specimen", "CarePlan", "CareTeam", "Goal", "Task",
                "Communication", "Consent", "Flag", "Questionnaire", "QuestionnaireResponse",
                "DocumentReference", "Composition", "AuditEvent", "Subscription",
                "PlanDefinition"]
    for rtype in required:
        expected = {code for base, code in official if base == rtype}
        indexed = {p.name for p in registry.indexed_for_type(rtype)}
        assert expected <= indexed, (rtype, expected - indexed)
    assert FHIR_JSON  # keep the shared import used


def test_composite_parameters(fhir: Fhir) -> None:
    def bp(systolic: float) -> dict[str, Any]:
        return {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
                "subject": {"reference": "Patient/p"},
                "component": [
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                     "valueQuantity": {"value": systolic, "system": "http://unitsofmeasure.org",
                                       "code": "mm[Hg]"}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
                     "valueQuantity": {"value": 80, "system": "http://unitsofmeasure.org",
                                       "code": "mm[Hg]"}}]}

    high, normal = fhir.create(bp(165)), fhir.create(bp(118))
    pulse = fhir.create(observation("Patient/p", value=72))
    q = "Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140"
    assert fhir.search_ids(q) == [high["id"]]
    # The diastolic component is 80 in both: the pair must match within one component.
    assert fhir.search_ids(
        "Observation?component-code-value-quantity=http://loinc.org|8462-4$gt140") == []
    assert fhir.search_ids("Observation?component-code-value-quantity=8480-6$lt140") == [
        normal["id"]]
    assert fhir.search_ids("Observation?code-value-quantity=http://loinc.org|8867-4$72") == [
        pulse["id"]]
    assert sorted(fhir.search_ids("Observation?combo-code-value-quantity=8480-6$ge100")) == \
        sorted([high["id"], normal["id"]])
    fhir.get("Observation?code-value-quantity=8867-4", status=400)  # no '$'
    fhir.get("Observation?_sort=code-value-quantity", status=400)


def test_oversized_searches_are_refused(fhir: Fhir) -> None:
    many = "&".join(f"family=a{i}" for i in range(51))
    outcome = fhir.get(f"Patient?{many}", status=400)
    assert outcome["issue"][0]["code"] == "too-costly"
    values = ",".join(str(i) for i in range(501))
    assert fhir.get(f"Patient?_id={values}", status=400)["issue"][0]["code"] == "too-costly"
