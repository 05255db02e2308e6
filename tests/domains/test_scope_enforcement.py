"""SMART scopes are enforced on every interaction: single requests, every entry of a batch or
transaction, _include/_revinclude, chains, _has, history, counts and $everything. A patient/
scope confines the caller to the patient in context's compartment."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import FHIR_JSON, Fhir, bearer, mint_token, observation, patient
from vardnav.config import Settings


class Caller:
    """Requests with one particular token."""

    def __init__(self, client: TestClient, token: str) -> None:
        self.c, self.h = client, bearer(token)

    def get(self, path: str) -> Any:
        return self.c.get(f"/fhir/{path}", headers=self.h)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.c.post(f"/fhir/{path}", json=body, headers={**FHIR_JSON, **self.h})

    def put(self, body: dict[str, Any]) -> Any:
        return self.c.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body,
                          headers={**FHIR_JSON, **self.h})

    def ids(self, query: str, mode: str | None = None) -> set[str]:
        r = self.get(query)
        assert r.status_code == 200, r.text
        return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in r.json().get("entry", [])
                if mode is None or e["search"]["mode"] == mode}


@pytest.fixture
def world(fhir: Fhir) -> dict[str, str]:
    a = fhir.create(patient("Ahlström", "Anna"))["id"]
    b = fhir.create(patient("Berg", "Bo"))["id"]
    return {"a": a, "b": b,
            "obs_a": fhir.create(observation(f"Patient/{a}", value=70))["id"],
            "obs_b": fhir.create(observation(f"Patient/{b}", value=90))["id"]}


def staff(client: TestClient, settings: Settings, scopes: str) -> Caller:
    return Caller(client, mint_token(settings, scopes, kind="staff",
                                     subject="SE2321000131-P00001", unit="SE2321000131-E1",
                                     role="registered-nurse"))


def resident(client: TestClient, settings: Settings, patient_id: str,
             scopes: str = "patient/*.rs") -> Caller:
    return Caller(client, mint_token(settings, scopes, kind="resident",
                                     subject=f"patient:{patient_id}", patient=patient_id))


def test_insufficient_scope_is_403_operation_outcome(client: TestClient, settings: Settings,
                                                    world: dict[str, str]) -> None:
    nurse = staff(client, settings, "user/Observation.rs")
    assert nurse.get(f"Observation/{world['obs_a']}").status_code == 200
    for r in (nurse.get(f"Patient/{world['a']}"), nurse.post("Patient", patient()),
              nurse.get("Patient?family=Berg")):
        assert r.status_code == 403, r.text
        issue = r.json()["issue"][0]
        assert issue["code"] == "forbidden" and "user/Observation.rs" in issue["diagnostics"]
    # Read without search, search without read, v1 forms.
    read_only = staff(client, settings, "user/Observation.r")
    assert read_only.get(f"Observation/{world['obs_a']}").status_code == 200
    assert read_only.get("Observation").status_code == 403
    v1 = staff(client, settings, "user/*.read")
    assert v1.get("Observation").status_code == 200
    assert v1.post("Patient", patient()).status_code == 403


def test_include_never_adds_types_the_token_may_not_read(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    nurse = staff(client, settings, "user/Observation.rs")
    found = nurse.ids("Observation?_include=Observation:subject")
    assert found == {f"Observation/{world['obs_a']}", f"Observation/{world['obs_b']}"}
    # _revinclude from a type it may not read adds nothing either.
    both = staff(client, settings, "user/Patient.rs")
    assert both.ids(f"Patient?_id={world['a']}&_revinclude=Observation:subject") == {
        f"Patient/{world['a']}"}


def test_batch_and_transaction_entries_are_each_checked(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    nurse = staff(client, settings, "user/Observation.cruds user/Patient.rs")
    batch = nurse.post("", {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{world['a']}"}},
        {"resource": patient("Ny"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": observation(f"Patient/{world['a']}"),
         "request": {"method": "POST", "url": "Observation"}},
    ]})
    assert batch.status_code == 200, batch.text
    statuses = [e["response"]["status"][:3] for e in batch.json()["entry"]]
    assert statuses == ["200", "403", "201"]
    forbidden = batch.json()["entry"][1]["response"]["outcome"]["issue"][0]
    assert forbidden["code"] == "forbidden"

    before = client.get("/fhir/Observation?_summary=count").json()["total"]
    tx = nurse.post("", {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": observation(f"Patient/{world['a']}"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": patient("Ny"), "request": {"method": "POST", "url": "Patient"}},
    ]})
    assert tx.status_code == 403, tx.text
    assert client.get("/fhir/Observation?_summary=count").json()["total"] == before


def test_patient_scope_sees_only_the_patients_compartment(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    a, b = world["a"], world["b"]
    me = resident(client, settings, a)
    assert me.get(f"Patient/{a}").status_code == 200
    assert me.get(f"Observation/{world['obs_a']}").status_code == 200
    # Another patient's data does not exist for this token (404, not 403: no existence leak).
    for path in (f"Patient/{b}", f"Observation/{world['obs_b']}",
                 f"Observation/{world['obs_b']}/_history", f"Observation/{world['obs_b']}/"
                 "_history/1", f"Patient/{b}/$everything"):
        assert me.get(path).status_code == 404, path
    assert me.ids("Observation") == {f"Observation/{world['obs_a']}"}
    assert me.ids("Patient") == {f"Patient/{a}"}
    assert me.get("Observation?_summary=count").json()["total"] == 1
    assert me.get("Observation?_total=accurate&value-quantity=gt80").json()["total"] == 0
    assert me.ids(f"Observation?subject=Patient/{b}") == set()
    assert me.ids("Observation?subject.family=Berg") == set()
    assert me.ids("Patient?_has:Observation:subject:value-quantity=gt80") == set()
    assert me.ids("Patient?_revinclude=Observation:subject") == {
        f"Patient/{a}", f"Observation/{world['obs_a']}"}
    assert me.ids("Observation?_include=Observation:subject") == {
        f"Observation/{world['obs_a']}", f"Patient/{a}"}
    history = me.get("_history").json()
    assert {e["fullUrl"].split("/fhir/")[1].rsplit("/_history", 1)[0]
            for e in history.get("entry", [])} <= {f"Patient/{a}",
                                                   f"Observation/{world['obs_a']}"}
    everything = me.ids(f"Patient/{a}/$everything")
    assert everything == {f"Patient/{a}", f"Observation/{world['obs_a']}"}


def test_patient_scope_writes_stay_in_the_compartment(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    a, b = world["a"], world["b"]
    me = resident(client, settings, a, "patient/Observation.cruds patient/Patient.r")
    mine = me.post("Observation", observation(f"Patient/{a}"))
    assert mine.status_code == 201, mine.text
    theirs = me.post("Observation", observation(f"Patient/{b}"))
    assert theirs.status_code == 403 and "Patient/" + a in theirs.text
    moved = {**mine.json(), "subject": {"reference": f"Patient/{b}"}}
    assert me.put(moved).status_code == 403
    other = {**client.get(f"/fhir/Observation/{world['obs_b']}").json(),
             "subject": {"reference": f"Patient/{a}"}}
    assert me.put(other).status_code == 404  # cannot take over another patient's entry
    assert client.get(f"/fhir/Observation/{world['obs_b']}").json()["subject"] == {
        "reference": f"Patient/{b}"}
    gone = client.delete(f"/fhir/Observation/{world['obs_b']}", headers=me.h)
    assert gone.status_code == 404


def test_staff_patient_scope_without_patient_context_grants_nothing(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    nurse = staff(client, settings, "patient/*.rs")
    assert nurse.get(f"Patient/{world['a']}").status_code == 404
    assert nurse.ids("Observation") == set()
    with_patient = Caller(client, mint_token(
        settings, "patient/*.rs", kind="staff", subject="SE2321000131-P00001",
        unit="SE2321000131-E1", role="registered-nurse", patient=world["b"]))
    assert with_patient.ids("Observation") == {f"Observation/{world['obs_b']}"}


def test_scopes_with_search_constraints_fail_closed(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    narrowed = staff(client, settings, "user/Observation.rs?category=laboratory")
    assert narrowed.get(f"Observation/{world['obs_a']}").status_code == 403


def test_a_resident_token_never_reaches_beyond_the_patient(
        client: TestClient, settings: Settings, world: dict[str, str]) -> None:
    # The authorisation server never grants residents user/ scopes; if a token said so anyway,
    # the API still confines it to the patient in context.
    odd = resident(client, settings, world["a"], "user/*.cruds patient/*.rs")
    assert odd.ids("Observation") == {f"Observation/{world['obs_a']}"}
    assert odd.get(f"Patient/{world['b']}").status_code == 404
    assert odd.post("Patient", patient()).status_code == 403
