"""REST interactions: read, vread, create, update, patch, delete, conditional ones, history."""

from __future__ import annotations

from conftest import FHIR_JSON, Fhir, observation, patient


def test_create_sets_id_version_and_location(fhir: Fhir) -> None:
    r = fhir.c.post("/fhir/Patient", json=patient(id="client-chosen"), headers=FHIR_JSON)
    assert r.status_code == 201
    body = r.json()
    assert body["id"] != "client-chosen"  # POST ignores a client id
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert r.headers["etag"] == 'W/"1"'
    assert r.headers["location"].endswith(f"/fhir/Patient/{body['id']}/_history/1")


def test_read_vread_and_etag(fhir: Fhir) -> None:
    p = fhir.create(patient())
    r = fhir.c.get(f"/fhir/Patient/{p['id']}")
    assert r.status_code == 200 and r.headers["etag"] == 'W/"1"'
    assert r.headers["content-type"].startswith("application/fhir+json")
    fhir.put({**p, "gender": "male"})
    assert fhir.get(f"Patient/{p['id']}/_history/1")["gender"] == "female"
    assert fhir.get(f"Patient/{p['id']}/_history/2")["gender"] == "male"
    fhir.get(f"Patient/{p['id']}/_history/9", status=404)
    r = fhir.c.get(f"/fhir/Patient/{p['id']}", headers={"If-None-Match": 'W/"2"'})
    assert r.status_code == 304


def test_update_as_create_with_client_id(fhir: Fhir) -> None:
    r = fhir.put({**patient(), "id": "pat-1"}, status=201)
    assert r.json()["meta"]["versionId"] == "1"
    r = fhir.put({**patient(), "id": "pat-1", "gender": "male"}, status=200)
    assert r.json()["meta"]["versionId"] == "2"


def test_update_id_mismatch_and_bad_id(fhir: Fhir) -> None:
    r = fhir.c.put("/fhir/Patient/a", json={**patient(), "id": "b"}, headers=FHIR_JSON)
    assert r.status_code == 400 and r.json()["issue"][0]["expression"] == ["Patient.id"]
    r = fhir.c.put("/fhir/Patient/bad_id!", json={**patient(), "id": "bad_id!"},
                   headers=FHIR_JSON)
    assert r.status_code == 400


def test_if_match_stale_version_is_412(fhir: Fhir) -> None:
    p = fhir.create(patient())
    fhir.put({**p, "gender": "male"}, **{"If-Match": 'W/"1"'})
    r = fhir.c.put(f"/fhir/Patient/{p['id']}", json={**p, "gender": "other"},
                   headers={**FHIR_JSON, "If-Match": 'W/"1"'})
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"
    assert fhir.get(f"Patient/{p['id']}")["gender"] == "male"


def test_delete_is_a_versioned_tombstone(fhir: Fhir) -> None:
    p = fhir.create(patient())
    assert fhir.c.delete(f"/fhir/Patient/{p['id']}").status_code == 200
    gone = fhir.get(f"Patient/{p['id']}", status=410)
    assert gone["issue"][0]["code"] == "deleted"
    hist = fhir.get(f"Patient/{p['id']}/_history")
    assert hist["total"] == 2
    assert hist["entry"][0]["request"]["method"] == "DELETE"
    assert "resource" not in hist["entry"][0]
    assert fhir.search_ids("Patient") == []
    # Re-creating after delete continues the version sequence.
    r = fhir.put({**p, "meta": {}}, status=201)
    assert r.json()["meta"]["versionId"] == "3"


def test_unknown_ids_and_types(fhir: Fhir) -> None:
    assert fhir.get("Patient/nope", status=404)["issue"][0]["code"] == "not-found"
    assert fhir.get("Nonsense/1", status=404)["resourceType"] == "OperationOutcome"
    assert fhir.c.delete("/fhir/Patient/nope").status_code == 404


def test_every_r4_resource_type_supports_crud(fhir: Fhir) -> None:
    from vardnav.fhir import definitions

    types = definitions.resource_types()
    assert len(types) >= 145 and "MedicinalProduct" in types
    for rtype in ("MedicinalProduct", "Basic", "Linkage", "Flag"):
        minimal = {"Basic": {"code": {"text": "x"}},
                   "Flag": {"status": "active", "code": {"text": "x"},
                            "subject": {"reference": "Patient/1"}},
                   "Linkage": {"item": [{"type": "source",
                                         "resource": {"reference": "Patient/1"}}]},
                   "MedicinalProduct": {"name": [{"productName": "Alvedon"}]}}[rtype]
        created = fhir.create({"resourceType": rtype, **minimal})
        assert fhir.get(f"{rtype}/{created['id']}")["id"] == created["id"]


def test_patch_json_patch(fhir: Fhir) -> None:
    p = fhir.create(patient())
    r = fhir.c.patch(f"/fhir/Patient/{p['id']}",
                     content=b'[{"op": "replace", "path": "/gender", "value": "male"}]',
                     headers={"content-type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["gender"] == "male"
    assert r.json()["meta"]["versionId"] == "2"
    bad = fhir.c.patch(f"/fhir/Patient/{p['id']}",
                       content=b'[{"op": "replace", "path": "/gender", "value": "x"}]',
                       headers={"content-type": "application/json-patch+json"})
    assert bad.status_code == 400  # the patched resource is validated too
    missing = fhir.c.patch(f"/fhir/Patient/{p['id']}",
                           content=b'[{"op": "remove", "path": "/nothere"}]',
                           headers={"content-type": "application/json-patch+json"})
    assert missing.status_code == 400
    assert fhir.get(f"Patient/{p['id']}")["meta"]["versionId"] == "2"


def test_conditional_create(fhir: Fhir) -> None:
    ident = {"system": "urn:x", "value": "42"}
    first = fhir.c.post("/fhir/Patient", json=patient(identifier=[ident]),
                        headers={**FHIR_JSON, "If-None-Exist": "identifier=urn:x|42"})
    assert first.status_code == 201
    again = fhir.c.post("/fhir/Patient", json=patient(identifier=[ident]),
                        headers={**FHIR_JSON, "If-None-Exist": "identifier=urn:x|42"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    fhir.create(patient(identifier=[ident]))  # an unconditional duplicate
    dup = fhir.c.post("/fhir/Patient", json=patient(identifier=[ident]),
                      headers={**FHIR_JSON, "If-None-Exist": "identifier=urn:x|42"})
    assert dup.status_code == 412


def test_conditional_update_and_delete(fhir: Fhir) -> None:
    ident = [{"system": "urn:x", "value": "7"}]
    r = fhir.c.put("/fhir/Patient?identifier=urn:x|7", json=patient(identifier=ident),
                   headers=FHIR_JSON)
    assert r.status_code == 201
    pid = r.json()["id"]
    r = fhir.c.put("/fhir/Patient?identifier=urn:x|7",
                   json=patient(identifier=ident, gender="male"), headers=FHIR_JSON)
    assert r.status_code == 200 and r.json()["id"] == pid and r.json()["gender"] == "male"
    assert fhir.c.delete("/fhir/Patient?identifier=urn:x|7").status_code == 200
    fhir.get(f"Patient/{pid}", status=410)
    assert fhir.c.delete("/fhir/Patient?identifier=urn:x|7").status_code == 204
    assert fhir.c.delete("/fhir/Patient").status_code == 400  # no criteria


def test_prefer_return(fhir: Fhir) -> None:
    minimal = fhir.c.post("/fhir/Patient", json=patient(),
                          headers={**FHIR_JSON, "Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b""
    assert minimal.headers["location"]
    oo = fhir.c.post("/fhir/Patient", json=patient(),
                     headers={**FHIR_JSON, "Prefer": "return=OperationOutcome"})
    assert oo.json()["resourceType"] == "OperationOutcome"
    rep = fhir.c.post("/fhir/Patient", json=patient(),
                      headers={**FHIR_JSON, "Prefer": "return=representation"})
    assert rep.json()["resourceType"] == "Patient"


def test_history_levels_since_and_count(fhir: Fhir) -> None:
    p = fhir.create(patient())
    for g in ("male", "other", "unknown"):
        fhir.put({**p, "gender": g})
    o = fhir.create(observation(f"Patient/{p['id']}"))
    inst = fhir.get(f"Patient/{p['id']}/_history")
    assert inst["type"] == "history" and inst["total"] == 4
    assert [e["resource"]["meta"]["versionId"] for e in inst["entry"]] == ["4", "3", "2", "1"]
    assert fhir.get("Patient/_history")["total"] == 4
    assert fhir.get("_history")["total"] == 5
    page = fhir.get("_history?_count=2")
    assert len(page["entry"]) == 2
    assert any(link["relation"] == "next" for link in page["link"])
    since = o["meta"]["lastUpdated"]
    recent = fhir.get(f"_history?_since={since}")
    assert [e["resource"]["id"] for e in recent["entry"]] == [o["id"]]
    fhir.get("_history?_since=notadate", status=400)


def test_validate_operation(fhir: Fhir) -> None:
    ok = fhir.c.post("/fhir/Patient/$validate", json=patient(), headers=FHIR_JSON)
    assert ok.status_code == 200
    assert ok.json()["issue"][0]["severity"] == "information"
    bad = fhir.c.post("/fhir/Patient/$validate", json=patient(gender="x"), headers=FHIR_JSON)
    assert bad.status_code == 200
    assert any(i["severity"] == "error" for i in bad.json()["issue"])
    assert fhir.search_ids("Patient") == []  # nothing stored


def test_patient_everything(fhir: Fhir) -> None:
    p = fhir.create(patient())
    other = fhir.create(patient(family="Berg"))
    o = fhir.create(observation(f"Patient/{p['id']}"))
    fhir.create(observation(f"Patient/{other['id']}"))
    cond = fhir.create({"resourceType": "Condition", "subject": {"reference":
                                                                f"Patient/{p['id']}"},
                        "code": {"text": "Hypertoni"}})
    bundle = fhir.get(f"Patient/{p['id']}/$everything")
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert ids == {p["id"], o["id"], cond["id"]}
    only = fhir.get(f"Patient/{p['id']}/$everything?_type=Condition")
    assert {e["resource"]["id"] for e in only["entry"]} == {cond["id"]}
    first = fhir.get(f"Patient/{p['id']}/$everything?_count=2")
    assert first["total"] == 3 and len(first["entry"]) == 2
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    rest = fhir.get(nxt.split("/fhir/", 1)[1])
    assert {e["resource"]["id"] for e in first["entry"] + rest["entry"]} == ids
    fhir.get("Patient/nope/$everything", status=404)
    fhir.get("Observation/x/$everything", status=404)


def test_capability_statement_lists_what_is_supported(fhir: Fhir) -> None:
    cs = fhir.get("metadata")
    assert cs["fhirVersion"] == "4.0.1"
    by_type = {r["type"]: r for r in cs["rest"][0]["resource"]}
    obs = by_type["Observation"]
    names = {p["name"]: p["type"] for p in obs["searchParam"]}
    assert names["code"] == "token" and names["subject"] == "reference"
    assert names["combo-code-value-quantity"] == "composite"
    seq = {p["name"] for p in by_type["MolecularSequence"]["searchParam"]}
    assert "chromosome-variant-coordinate" not in seq  # 3-component composite: unsupported
    assert {"read", "vread", "update", "patch", "delete", "create", "search-type"} <= {
        i["code"] for i in obs["interaction"]}
    # The engine's own operations, and exactly those the domains registered for Patient.
    from vardnav.fhir.operations.registry import OPERATIONS

    listed = {o["name"] for o in by_type["Patient"]["operation"]}
    assert {"validate", "everything"} <= listed
    assert listed == {op.name for op in OPERATIONS.values()
                      if op.types is None or "Patient" in op.types}
    assert {i["code"] for i in cs["rest"][0]["interaction"]} >= {"transaction", "batch"}
