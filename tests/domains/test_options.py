"""Municipality options are enforced on their staff at once, and changed only through the
audited $set-options operation. Staff assignments resolve unit, profession and provider."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import FHIR_JSON, Fhir, bearer, load_region, mint_token, observation, patient
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import StaffAssignment, assignments_of
from vardnav.domains.identity.organisation.region import HSA_SYSTEM, OPTION_EXTENSION
from vardnav.fhir.hooks import MemoryAuditSink, RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

SHARED_RECORD = "1407"  # Öckerö: options 1 and 3 in the demo region
SCHOOL_HEALTH = "1401"  # Härryda: options 1 and 2
ONLY_EXCHANGE = "1480"  # Göteborg: option 1 only


def municipality_hsa(code: str) -> str:
    return f"SE0000{code}0000-K{code}"


@pytest.fixture
def region(fhir: Fhir) -> Fhir:
    load_region(fhir.c.app)
    return fhir


def org_id(fhir: Fhir, hsa: str) -> str:
    return fhir.get(f"Organization?identifier={HSA_SYSTEM}|{hsa}")["entry"][0]["resource"]["id"]


def staff_token(settings: Settings, provider: str, unit: str, role: str) -> dict[str, str]:
    return bearer(mint_token(settings, "user/*.cruds", kind="staff", subject="SE2321000131-PX",
                             unit=unit, provider=provider, role=role))


def set_options(client: TestClient, org: str, options: list[str],
                headers: dict[str, str] | None = None) -> Any:
    body = {"resourceType": "Parameters",
            "parameter": [{"name": "option", "valueCode": o} for o in options]}
    return client.post(f"/fhir/Organization/{org}/$set-options", json=body,
                       headers={**FHIR_JSON, **(headers or {})})


def admin(settings: Settings) -> dict[str, str]:
    return staff_token(settings, "SE2321000131-E000000000001", "SE2321000131-E000000000001",
                       "administrator")


def test_home_care_documents_only_while_option_3_is_chosen(
        region: Fhir, client: TestClient, settings: Settings) -> None:
    hsa = municipality_hsa(SHARED_RECORD)
    nurse = staff_token(settings, hsa, f"{hsa}-HSV", "registered-nurse")
    pid = region.create(patient())["id"]
    ok = client.post("/fhir/Observation", json=observation(f"Patient/{pid}"),
                     headers={**FHIR_JSON, **nurse})
    assert ok.status_code == 201, ok.text

    org = org_id(region, hsa)
    assert set_options(client, org, ["1"], admin(settings)).status_code == 200
    refused = client.post("/fhir/Observation", json=observation(f"Patient/{pid}"),
                          headers={**FHIR_JSON, **nurse})
    assert refused.status_code == 403
    assert "option 3" in refused.json()["issue"][0]["diagnostics"]
    # Option 1 still allows information exchange and reading.
    task = {"resourceType": "Task", "status": "requested", "intent": "order",
            "for": {"reference": f"Patient/{pid}"}}
    assert client.post("/fhir/Task", json=task, headers={**FHIR_JSON, **nurse}).status_code \
        == 201
    assert client.get(f"/fhir/Patient/{pid}", headers=nurse).status_code == 200

    assert set_options(client, org, ["1", "3"], admin(settings)).status_code == 200
    again = client.post("/fhir/Observation", json=observation(f"Patient/{pid}"),
                        headers={**FHIR_JSON, **nurse})
    assert again.status_code == 201  # at once, no restart


def test_school_health_exists_only_with_option_2(region: Fhir, client: TestClient,
                                                 settings: Settings) -> None:
    hsa = municipality_hsa(SCHOOL_HEALTH)
    school_nurse = staff_token(settings, f"{hsa}-EH", f"{hsa}-EH", "school-nurse")
    pid = region.create(patient(birth="2014-05-06"))["id"]
    assert client.get(f"/fhir/Patient/{pid}", headers=school_nurse).status_code == 200
    assert set_options(client, org_id(region, hsa), ["1"], admin(settings)).status_code == 200
    r = client.get(f"/fhir/Patient/{pid}", headers=school_nurse)
    assert r.status_code == 403 and "option 2" in r.json()["issue"][0]["diagnostics"]


def test_municipality_without_option_1_has_no_access(region: Fhir, client: TestClient,
                                                     settings: Settings) -> None:
    hsa = municipality_hsa(ONLY_EXCHANGE)
    social_worker = staff_token(settings, hsa, hsa, "social-worker")
    assert client.get("/fhir/Patient", headers=social_worker).status_code == 200
    assert set_options(client, org_id(region, hsa), [], admin(settings)).status_code == 200
    assert client.get("/fhir/Patient", headers=social_worker).status_code == 403


def test_option_changes_are_audited_and_only_through_the_operation(
        region: Fhir, client: TestClient, settings: Settings, audit: MemoryAuditSink) -> None:
    hsa = municipality_hsa(ONLY_EXCHANGE)
    org = org_id(region, hsa)
    nurse = staff_token(settings, municipality_hsa(SHARED_RECORD),
                        f"{municipality_hsa(SHARED_RECORD)}-HSV", "registered-nurse")
    assert set_options(client, org, ["1", "3"], nurse).status_code == 403
    bad = set_options(client, org, ["4"], admin(settings))
    assert bad.status_code == 400 and "Unknown option" in bad.text

    r = set_options(client, org, ["3", "1"], admin(settings))
    assert r.status_code == 200
    assert [e["valueCode"] for e in r.json()["extension"] if e["url"] == OPTION_EXTENSION] \
        == ["1", "3"]
    changes = [(ctx, ev) for ctx, ev in audit.records if ev.interaction == "set-options"]
    assert len(changes) == 1
    ctx, event = changes[0]
    assert event.resource_ids == [org]
    assert event.detail == {"municipality": "Göteborg", "before": ["1"], "after": ["1", "3"]}
    assert ctx.principal.role == "administrator"

    current = region.get(f"Organization/{org}")
    sneaky = {**current, "extension": [{"url": OPTION_EXTENSION, "valueCode": "1"}]}
    put = client.put(f"/fhir/Organization/{org}", json=sneaky, headers=FHIR_JSON)
    assert put.status_code == 403 and "$set-options" in put.text
    renamed = {**current, "alias": ["Göteborgs Stad"]}  # other edits are fine
    assert client.put(f"/fhir/Organization/{org}", json=renamed,
                      headers=FHIR_JSON).status_code == 200


def _assignments(engine: Engine, services: EngineServices, hsa: str) -> list[StaffAssignment]:
    ctx = RequestContext(principal=SERVER, base_url="http://testserver/fhir")
    return run_in_transaction(engine,
                              lambda conn: assignments_of(Repository(conn, services, ctx), hsa))


def _practitioner_hsa(fhir: Fhir, unit_hsa: str, profession: str) -> str:
    roles = fhir.get(f"PractitionerRole?organization.identifier={HSA_SYSTEM}|{unit_hsa}"
                     f"&role={profession}&_include=PractitionerRole:practitioner")
    people = [e["resource"] for e in roles["entry"]
              if e["resource"]["resourceType"] == "Practitioner"]
    return people[0]["identifier"][0]["value"]


def test_assignments_resolve_unit_profession_and_provider(
        region: Fhir, engine: Engine, services: EngineServices) -> None:
    hsa = municipality_hsa(SHARED_RECORD)
    nurse = _practitioner_hsa(region, f"{hsa}-HSV", "registered-nurse")
    [a] = _assignments(engine, services, nurse)
    assert (a.unit_hsa, a.profession, a.provider_hsa, a.provider_type) == (
        f"{hsa}-HSV", "registered-nurse", hsa, "municipality")
    school = municipality_hsa(SCHOOL_HEALTH)
    school_nurse = _practitioner_hsa(region, f"{school}-EH", "school-nurse")
    [s] = _assignments(engine, services, school_nurse)
    assert (s.provider_hsa, s.provider_type) == (f"{school}-EH", "school-health")
    assert _assignments(engine, services, "SE2321000131-NOBODY") == []


def test_a_physician_with_two_assignments_gets_both(region: Fhir, engine: Engine,
                                                    services: EngineServices) -> None:
    roles = region.get("PractitionerRole?role=physician&_count=200")["entry"]
    by_person: dict[str, int] = {}
    for e in roles:
        ref = e["resource"]["practitioner"]["reference"]
        by_person[ref] = by_person.get(ref, 0) + 1
    [twice] = [ref for ref, n in by_person.items() if n == 2]
    hsa = region.get(twice)["identifier"][0]["value"]
    found = _assignments(engine, services, hsa)
    assert len(found) == 2 and len({a.unit_hsa for a in found}) == 2
    assert {a.provider_type for a in found} == {"region"}
    assert {a.profession for a in found} == {"physician"}


def test_private_provider_staff_belong_to_their_own_provider(
        region: Fhir, engine: Engine, services: EngineServices) -> None:
    unit = "SE0000PV010000-PPV01-VC"
    physician = _practitioner_hsa(region, unit, "physician")
    [a] = _assignments(engine, services, physician)
    assert (a.provider_hsa, a.provider_type, a.provider_name) == (
        "SE0000PV010000-PPV01", "private", "Kvarnbyns Läkarhus AB")
