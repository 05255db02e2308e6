"""Batch and transaction bundles: atomicity, urn:uuid and conditional references."""

from __future__ import annotations

from typing import Any

from conftest import FHIR_JSON, Fhir, observation, patient


def _post(resource: dict[str, Any], full_url: str | None = None, **request: str) -> dict:
    entry: dict[str, Any] = {"resource": resource,
                             "request": {"method": "POST", "url": resource["resourceType"],
                                         **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def test_transaction_resolves_urn_uuid_references(fhir: Fhir) -> None:
    pat = "urn:uuid:11111111-1111-4111-8111-111111111111"
    result = fhir.transaction([
        _post(observation(pat), "urn:uuid:22222222-2222-4222-8222-222222222222"),
        _post(patient(), pat),
    ])
    assert result["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201", "201"]
    patient_loc = result["entry"][1]["response"]["location"]
    pid = patient_loc.split("/")[1]
    obs = fhir.get("Observation?subject=Patient/" + pid)
    assert obs["total"] == 1
    assert obs["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{pid}"


def test_transaction_is_atomic(fhir: Fhir) -> None:
    r = fhir.c.post("/fhir", headers=FHIR_JSON, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            _post(patient(family="Atomisk")),
            _post(patient(family="Atomisk", gender="nonsense")),
        ]})
    assert r.status_code == 400
    diag = r.json()["issue"][0]["diagnostics"]
    assert "Bundle.entry[1]" in diag
    assert fhir.search_ids("Patient?family=atomisk") == []
    assert fhir.get("_history")["total"] == 0


def test_transaction_conditional_create_and_reference(fhir: Fhir) -> None:
    ident = [{"system": "urn:pnr", "value": "191212121212"}]
    existing = fhir.create(patient(identifier=ident))
    result = fhir.transaction([
        _post(patient(identifier=ident), "urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa",
              ifNoneExist="identifier=urn:pnr|191212121212"),
        _post(observation("urn:uuid:aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa")),
        _post(observation("Patient?identifier=urn:pnr|191212121212", code="29463-7")),
    ])
    assert result["entry"][0]["response"]["status"] == "200"
    assert fhir.search_ids("Patient") == [existing["id"]]
    assert fhir.get(f"Observation?subject=Patient/{existing['id']}")["total"] == 2
    bad = fhir.c.post("/fhir", headers=FHIR_JSON, json={
        "resourceType": "Bundle", "type": "transaction",
        "entry": [_post(observation("Patient?identifier=urn:pnr|none"))]})
    assert bad.status_code == 400 and "matched 0" in bad.json()["issue"][0]["diagnostics"]


def test_transaction_update_delete_and_read_entries(fhir: Fhir) -> None:
    p = fhir.create(patient())
    gone = fhir.create(patient(family="Borta"))
    result = fhir.transaction([
        {"resource": {**p, "gender": "male"},
         "request": {"method": "PUT", "url": f"Patient/{p['id']}", "ifMatch": 'W/"1"'}},
        {"request": {"method": "DELETE", "url": f"Patient/{gone['id']}"}},
        {"request": {"method": "GET", "url": f"Patient/{p['id']}"}},
    ])
    assert [e["response"]["status"] for e in result["entry"]] == ["200", "200", "200"]
    assert result["entry"][2]["resource"]["gender"] == "male"  # GET runs after PUT
    fhir.get(f"Patient/{gone['id']}", status=410)
    stale = fhir.c.post("/fhir", headers=FHIR_JSON, json={
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {**p, "gender": "other"},
             "request": {"method": "PUT", "url": f"Patient/{p['id']}", "ifMatch": 'W/"1"'}}]})
    assert stale.status_code == 412


def test_batch_reports_each_entry(fhir: Fhir) -> None:
    result = fhir.transaction([
        _post(patient(family="Batch")),
        _post(patient(family="Batch", gender="bad")),
        {"request": {"method": "GET", "url": "Patient/nope"}},
    ], kind="batch")
    assert result["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in result["entry"]]
    assert statuses == ["201", "400", "404"]
    assert result["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert len(fhir.search_ids("Patient?family=batch")) == 1


def test_bad_bundles_are_400(fhir: Fhir) -> None:
    for body in ({"resourceType": "Bundle", "type": "collection"},
                 {"resourceType": "Patient"},
                 {"resourceType": "Bundle", "type": "transaction", "entry": "x"},
                 {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"request": {"method": "POST", "url": "Patient"}}]},
                 {"resourceType": "Bundle", "type": "transaction",
                  "entry": [{"resource": patient(), "request": {"method": "BREW"}}]},
                 {"resourceType": "Bundle", "type": "transaction",
                  "entry": [_post(observation("urn:uuid:nowhere"))]}):
        r = fhir.c.post("/fhir", json=body, headers=FHIR_JSON)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["resourceType"] == "OperationOutcome"
    assert fhir.get("_history")["total"] == 0
