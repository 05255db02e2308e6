"""The demo region: Västra Götaland's 49 municipalities with their options, hospitals with
wards, rooms and beds, loaded through the FHIR engine and searchable."""

from __future__ import annotations

from collections import Counter

from conftest import FHIR_JSON, Fhir
from vardnav.domains.identity.organisation.region import (
    HSA_SYSTEM,
    MUNICIPALITY_CODE_SYSTEM,
    OPTION_EXTENSION,
    options_for,
    region_bundle,
)
from vardnav.domains.identity.organisation.region_data import MUNICIPALITIES


def test_region_has_49_municipalities_with_programme_proportions() -> None:
    assert len(MUNICIPALITIES) == 49
    assert len({code for code, _ in MUNICIPALITIES}) == 49
    assert all(code.startswith("14") for code, _ in MUNICIPALITIES)
    counts = Counter(o for code, _ in MUNICIPALITIES for o in options_for(code))
    assert counts == {"1": 49, "2": 14, "3": 9}
    assert ("1480", "Göteborg") in MUNICIPALITIES


def test_every_unit_has_an_hsa_id_and_the_bundle_is_valid(fhir: Fhir) -> None:
    bundle = region_bundle()
    hsa_ids = [i["value"] for e in bundle["entry"] for i in e["resource"]["identifier"]
               if i["system"] == HSA_SYSTEM]
    assert len(hsa_ids) == len(bundle["entry"]) == len(set(hsa_ids))
    for entry in bundle["entry"]:
        res = entry["resource"]
        r = fhir.c.post(f"/fhir/{res['resourceType']}/$validate", json=res, headers=FHIR_JSON)
        assert r.json()["issue"][0]["severity"] == "information", r.text
    loaded = fhir.transaction(bundle["entry"])
    assert {e["response"]["status"] for e in loaded["entry"]} == {"201"}
    again = fhir.transaction(region_bundle()["entry"])  # conditional creates: idempotent
    assert {e["response"]["status"] for e in again["entry"]} == {"200"}


def test_region_is_searchable(fhir: Fhir) -> None:
    fhir.transaction(region_bundle()["entry"])
    goteborg = fhir.get(f"Organization?identifier={MUNICIPALITY_CODE_SYSTEM}|1480")
    org = goteborg["entry"][0]["resource"]
    assert org["name"] == "Göteborg"
    assert [x["valueCode"] for x in org["extension"] if x["url"] == OPTION_EXTENSION] == ["1"]
    assert fhir.get("Organization?name=elevhalsan&_summary=count")["total"] == 14
    beds = fhir.get("Location?partof:Location.partof:Location.name=medicinavdelning 1"
                    "&_summary=count")
    assert beds["total"] == 8
    ward = fhir.get("Location?name:exact=Medicinavdelning 1&_revinclude=Location:partof")
    rooms = [e for e in ward["entry"] if e["search"]["mode"] == "include"]
    assert len(rooms) == 4


def test_staff_for_every_role_with_assignments(fhir: Fhir) -> None:
    from vardnav.domains.identity.organisation.staff import PROFESSION_SYSTEM, PROFESSIONS

    fhir.transaction(region_bundle()["entry"])
    for profession in PROFESSIONS:
        found = fhir.get(f"PractitionerRole?role={PROFESSION_SYSTEM}|{profession}"
                         "&_summary=count")
        assert found["total"] >= 1, profession
    roles = fhir.get("PractitionerRole?_count=500")["entry"]
    assert all(e["resource"]["period"]["start"] == "2020-01-01" for e in roles)
    by_person = Counter(e["resource"]["practitioner"]["reference"] for e in roles)
    (busy, n), = [(p, n) for p, n in by_person.items() if n > 1]
    assert n == 2  # the physician working on two wards chooses an assignment at sign-in
    both = fhir.get(f"PractitionerRole?practitioner={busy}&_include=PractitionerRole:"
                    "organization")
    units = {e["resource"]["name"] for e in both["entry"]
             if e["resource"]["resourceType"] == "Organization"}
    assert units == {"Medicinavdelning 1", "Geriatrisk avdelning 2"}
    school = fhir.get("PractitionerRole?organization.name=elevhalsan&_summary=count")
    assert school["total"] == 28  # a school nurse and a school physician in each of 14
