"""Bad input over HTTP: every refusal is a 4xx OperationOutcome, never a 500, never a write.

Each case runs against a database holding one patient (`seeded`), and afterwards the system
history must hold exactly as many versions as before: a refused request leaves no trace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from conftest import FHIR_JSON, TESTPERSONNUMMER, Fhir, observation, patient

PNR = "http://electronichealth.se/identifier/personnummer"
SNR = "http://electronichealth.se/identifier/samordningsnummer"
MAX_BODY = 1_000_000  # the test settings' max_body_bytes


# -- helpers ---------------------------------------------------------------------------------

def history_total(c: TestClient) -> int:
    r = c.get("/fhir/_history?_count=1")
    assert r.status_code == 200, r.text
    return int(r.json()["total"])


def outcome(r: Any, status: int, *, expression: str | None = None,
            text: str | None = None) -> dict[str, Any]:
    """Assert a refusal: the status, an OperationOutcome with an error, and what it names."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["content-type"].startswith("application/fhir+json")
    body = r.json()
    assert body["resourceType"] == "OperationOutcome", body
    issues = body["issue"]
    assert issues and all(i["severity"] in ("error", "fatal") for i in issues[:1]), issues
    if expression is not None:
        found = [e for i in issues for e in i.get("expression", [])]
        assert expression in found, issues
    if text is not None:
        assert any(text in i.get("diagnostics", "") for i in issues), issues
    return body


def luhn(digits: str) -> int:
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return (10 - total % 10) % 10


def with_check_digit(first_eleven: str) -> str:
    """A 12-digit number YYYYMMDDNNN + its Luhn check digit (computed on YYMMDDNNN)."""
    return first_eleven + str(luhn(first_eleven[2:]))


def official_personnummer() -> str:
    lines = TESTPERSONNUMMER.read_text().split()
    return lines[len(lines) // 2].strip()


def nested_extension(levels: int) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": "http://example.org/x", "valueString": "leaf"}
    for _ in range(levels):
        ext = {"url": "http://example.org/x", "extension": [ext]}
    return ext


@pytest.fixture
def seeded(fhir: Fhir) -> Iterator[tuple[Fhir, dict[str, Any]]]:
    p = fhir.create(patient())
    before = history_total(fhir.c)
    yield fhir, p
    # The invariant of this file: nothing a test below refuses is ever written.
    assert history_total(fhir.c) == before


# -- bodies that are not a JSON resource -----------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"resourceType": "Patient",',           # truncated
    b"{'resourceType': 'Patient'}",            # single quotes
    b'{"resourceType": "Patient"} trailing',   # trailing garbage
    b"\xef\xbb\xbf{}",                         # UTF-8 BOM
    '{"resourceType":"Patient","name":[{"family":"Åström"}]}'.encode("latin-1"),  # not UTF-8
    b'{"resourceType":"Observation","status":"final","code":{},"valueQuantity":{"value":1e999}}',
], ids=["truncated", "single-quotes", "trailing", "bom", "latin-1", "infinite-number"])
def test_malformed_json_is_400(seeded: tuple[Fhir, dict[str, Any]], raw: bytes) -> None:
    fhir, p = seeded
    outcome(fhir.c.post("/fhir/Patient", content=raw, headers=FHIR_JSON), 400,
            text="not valid JSON")
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", content=raw, headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir", content=raw, headers=FHIR_JSON), 400)


@pytest.mark.parametrize("raw", [b"[]", b'[{"resourceType": "Patient"}]', b'"Patient"', b"42",
                                 b"3.5", b"true", b"null"])
def test_json_that_is_not_an_object_is_400(seeded: tuple[Fhir, dict[str, Any]],
                                           raw: bytes) -> None:
    fhir, p = seeded
    outcome(fhir.c.post("/fhir/Patient", content=raw, headers=FHIR_JSON), 400)
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", content=raw, headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir", content=raw, headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir/Patient/$validate", content=raw, headers=FHIR_JSON), 400)


def test_missing_body_is_400(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    outcome(fhir.c.post("/fhir/Patient", headers=FHIR_JSON), 400)
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir", headers=FHIR_JSON), 400)


# -- content types and formats ---------------------------------------------------------------

@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "application/fhir+xml",
                                   "text/html; charset=utf-8", "multipart/form-data",
                                   "application/x-www-form-urlencoded", "image/png"])
def test_unsupported_content_type_is_415(seeded: tuple[Fhir, dict[str, Any]],
                                         ctype: str) -> None:
    fhir, p = seeded
    body = orjson.dumps(patient())
    outcome(fhir.c.post("/fhir/Patient", content=body, headers={"content-type": ctype}), 415)
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", content=orjson.dumps(p),
                       headers={"content-type": ctype}), 415)
    outcome(fhir.c.post("/fhir", content=b'{"resourceType":"Bundle","type":"batch"}',
                        headers={"content-type": ctype}), 415)


def test_json_media_type_variants_are_accepted(fhir: Fhir) -> None:
    for ctype in ("application/fhir+json", "application/json", "application/json+fhir",
                  "application/fhir+json; charset=utf-8", "APPLICATION/FHIR+JSON"):
        r = fhir.c.post("/fhir/Patient", content=orjson.dumps(patient()),
                        headers={"content-type": ctype})
        assert r.status_code == 201, (ctype, r.text)


def test_body_without_content_type_is_415(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    r = fhir.c.post("/fhir/Patient", content=orjson.dumps(patient()))
    assert "content-type" not in r.request.headers
    outcome(r, 415, text="Content-Type is missing")
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", content=orjson.dumps(p)), 415)


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/xml", "html", "ttl"])
def test_format_other_than_json_is_415(seeded: tuple[Fhir, dict[str, Any]], fmt: str) -> None:
    fhir, p = seeded
    outcome(fhir.c.get(f"/fhir/Patient/{p['id']}", params={"_format": fmt}), 415)
    outcome(fhir.c.get("/fhir/Patient", params={"_format": fmt}), 415)
    outcome(fhir.c.get("/fhir/metadata", params={"_format": fmt}), 415)
    outcome(fhir.c.post("/fhir/Patient", params={"_format": fmt}, json=patient(),
                        headers=FHIR_JSON), 415)


def test_format_json_is_fine(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    for fmt in ("json", "application/fhir+json", "application/json"):
        assert fhir.c.get(f"/fhir/Patient/{p['id']}", params={"_format": fmt}).status_code == 200


# -- what is not there -----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["Foo", "patient", "PATIENT", "Foo/1", "Foo/1/_history",
                                  "Foo/1/_history/1", "Foo/_history", "Foo/$validate",
                                  "Resource", "DomainResource", "Element", "HumanName"])
def test_unknown_resource_type_is_404(seeded: tuple[Fhir, dict[str, Any]], path: str) -> None:
    fhir, _ = seeded
    outcome(fhir.c.get(f"/fhir/{path}"), 404)
    rtype = path.split("/")[0]
    if "/" not in path:
        outcome(fhir.c.post(f"/fhir/{path}", json={"resourceType": rtype},
                            headers=FHIR_JSON), 404)
    else:
        outcome(fhir.c.put(f"/fhir/{rtype}/1", json={"resourceType": rtype, "id": "1"},
                           headers=FHIR_JSON), 404)
        outcome(fhir.c.delete(f"/fhir/{rtype}/1"), 404)


def test_unknown_id_and_version_are_404(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    for path in ("Patient/nope", "Patient/nope/_history", "Patient/nope/_history/1",
                 f"Patient/{p['id']}/_history/2", f"Patient/{p['id']}/_history/0",
                 f"Patient/{p['id']}/_history/x", f"Patient/{p['id']}/_history/-1",
                 f"Patient/{p['id']}/_history/99999999999999999999",
                 f"Patient/{p['id']}/_history/2147483648",
                 f"Patient/{p['id']}/_history/²", "Patient/nope/$everything",
                 f"Patient/{p['id']}/_history/1/more", "Patient/$nosuchop",
                 f"Patient/{p['id']}/$nosuchop"):
        outcome(fhir.c.get(f"/fhir/{path}"), 404)
    outcome(fhir.c.delete("/fhir/Patient/nope"), 404)
    outcome(fhir.c.patch("/fhir/Patient/nope", content=b"[]",
                         headers={"content-type": "application/json-patch+json"}), 404)
    outcome(fhir.c.get("/nothing-here"), 404)


def test_deleted_is_410(fhir: Fhir) -> None:
    p = fhir.create(patient())
    assert fhir.c.delete(f"/fhir/Patient/{p['id']}").status_code == 200
    before = history_total(fhir.c)
    outcome(fhir.c.get(f"/fhir/Patient/{p['id']}"), 410)
    outcome(fhir.c.get(f"/fhir/Patient/{p['id']}/_history/2"), 410)
    outcome(fhir.c.patch(f"/fhir/Patient/{p['id']}", content=b"[]",
                         headers={"content-type": "application/json-patch+json"}), 410)
    # A stale If-Match against a deleted resource is refused, not resurrected.
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", json=p,
                       headers={**FHIR_JSON, "If-Match": 'W/"1"'}), 412)
    assert history_total(fhir.c) == before
    assert fhir.get(f"Patient/{p['id']}/_history/1")["id"] == p["id"]


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
def test_wrong_method_is_405_or_404(seeded: tuple[Fhir, dict[str, Any]], method: str) -> None:
    fhir, p = seeded
    for path in ("/fhir/metadata", "/fhir/_history", f"/fhir/Patient/{p['id']}/_history/1",
                 "/fhir/Patient/_history"):
        r = fhir.c.request(method, path, json={"resourceType": "Patient"}, headers=FHIR_JSON)
        assert r.status_code in (400, 404, 405), (method, path, r.status_code)
        assert r.json()["resourceType"] == "OperationOutcome"


# -- size ------------------------------------------------------------------------------------

def test_oversized_body_with_content_length_is_413(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    big = patient(text={"status": "generated",
                        "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">"
                               + "x" * MAX_BODY + "</div>"})
    raw = orjson.dumps(big)
    r = fhir.c.post("/fhir/Patient", content=raw, headers=FHIR_JSON)
    assert r.request.headers["content-length"] == str(len(raw))
    outcome(r, 413)
    outcome(fhir.c.post("/fhir", content=raw, headers=FHIR_JSON), 413)
    outcome(fhir.c.put("/fhir/Patient/big", content=raw, headers=FHIR_JSON), 413)


def test_oversized_streamed_body_without_content_length_is_413(
        seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    sent = {"bytes": 0}

    def chunks() -> Iterator[bytes]:
        yield b'{"resourceType":"Patient","text":{"status":"generated","div":"<div>'
        for _ in range(30):
            sent["bytes"] += 64_000
            yield b"x" * 64_000
        yield b'</div>"}}'

    r = fhir.c.post("/fhir/Patient", content=chunks(), headers=FHIR_JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers.get("transfer-encoding") == "chunked"
    outcome(r, 413)


def test_body_just_under_the_limit_is_not_413(fhir: Fhir) -> None:
    div = "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + "x" * (MAX_BODY - 500) + "</div>"
    raw = orjson.dumps(patient(text={"status": "generated", "div": div}))
    assert len(raw) <= MAX_BODY
    assert fhir.c.post("/fhir/Patient", content=raw, headers=FHIR_JSON).status_code == 201


# -- resourceType and id ---------------------------------------------------------------------

def test_resource_type_mismatch_is_400(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    outcome(fhir.c.post("/fhir/Patient", json=observation(f"Patient/{p['id']}"),
                        headers=FHIR_JSON), 400, expression="resourceType")
    outcome(fhir.c.post("/fhir/Observation", json=patient(), headers=FHIR_JSON), 400,
            expression="resourceType")
    outcome(fhir.c.put(f"/fhir/Observation/{p['id']}", json=p, headers=FHIR_JSON), 400,
            expression="resourceType")
    no_type = {k: v for k, v in patient().items() if k != "resourceType"}
    outcome(fhir.c.post("/fhir/Patient", json=no_type, headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir/Patient", json={**patient(), "resourceType": 7},
                        headers=FHIR_JSON), 400)
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", json={**p, "id": "other"},
                       headers=FHIR_JSON), 400, expression="Patient.id")
    without_id = {k: v for k, v in p.items() if k != "id"}
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", json=without_id, headers=FHIR_JSON), 400)


@pytest.mark.parametrize("bad_id", ["bad_id", "a b", "a" * 65, "Åsa", "a/b", "a%2Fb",
                                    "ид", "a:b", "*", "a+b", "😀"])
def test_invalid_ids_in_the_url(seeded: tuple[Fhir, dict[str, Any]], bad_id: str) -> None:
    fhir, _ = seeded
    r = fhir.c.put(f"/fhir/Patient/{bad_id}", json=patient(id=bad_id), headers=FHIR_JSON)
    # "a/b" is another path (Patient/a/b): no interaction there. Either way: refused.
    assert r.status_code in (400, 404, 405), r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    if "/" not in bad_id and "%2F" not in bad_id:
        outcome(r, 400)
    for path in (f"Patient/{bad_id}", f"Patient/{bad_id}/_history",
                 f"Patient/{bad_id}/_history/1"):
        r = fhir.c.get(f"/fhir/{path}")
        assert r.status_code in (400, 404), r.text
        assert r.json()["resourceType"] == "OperationOutcome"
    r = fhir.c.delete(f"/fhir/Patient/{bad_id}")
    assert r.status_code in (400, 404, 405)


def test_nul_characters_are_400_everywhere(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    # PostgreSQL cannot store U+0000 in text or jsonb; FHIR strings may not hold it either.
    fhir, p = seeded
    outcome(fhir.c.post("/fhir/Patient", json=patient(family="a\x00b"), headers=FHIR_JSON), 400)
    outcome(fhir.c.post("/fhir/Patient", json={**patient(), "extension": [
        {"url": "http://x", "valueString": "\x00"}]}, headers=FHIR_JSON), 400)
    outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", json={**p, "gender": "male",
                                                          "name": [{"text": "\x00"}]},
                       headers=FHIR_JSON), 400)
    outcome(fhir.c.patch(f"/fhir/Patient/{p['id']}",
                         json=[{"op": "add", "path": "/name/0/text", "value": "x\x00"}],
                         headers={"content-type": "application/json-patch+json"}), 400)
    for path in ("Patient/%00", "Patient/a%00b/_history", f"Patient/{p['id']}/_history/%00",
                 "Patient?name=%00", "Patient?identifier=%00|x", "Patient?_id=%00",
                 "Observation?subject=Patient/%00", "Observation?subject.name=%00",
                 "Patient?_has:Observation:subject:code=%00", "Patient?_sort=%00",
                 "Patient?na%00me=x"):
        outcome(fhir.c.get(f"/fhir/{path}"), 400, text="NUL")
    outcome(fhir.c.post("/fhir/Patient", json=patient(),
                        headers={**FHIR_JSON, "If-None-Exist": "name=%00"}), 400)
    outcome(fhir.c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": "Patient?name=%00"}}]}, headers=FHIR_JSON), 400)
    # In a batch, each entry is refused on its own and the batch itself succeeds.
    r = fhir.c.post("/fhir", json={"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?name=%00"}},
        {"request": {"method": "GET", "url": f"Patient/{p['id']}"}}]}, headers=FHIR_JSON)
    assert r.status_code == 200
    statuses = [e["response"]["status"] for e in r.json()["entry"]]
    assert statuses[0].startswith("400") and statuses[1].startswith("200")


def test_escaped_backslash_u0000_is_ordinary_text(fhir: Fhir) -> None:
    # Six characters, backslash u 0 0 0 0: not a NUL, so stored as given.
    created = fhir.create(patient(family="C:\\u0000dir"))
    assert fhir.get(f"Patient/{created['id']}")["name"][0]["family"] == "C:\\u0000dir"
    assert fhir.search_ids("Patient?family=C:\\u0000dir") == [created["id"]]


# -- invalid resources: 400 with the element named -------------------------------------------

@pytest.mark.parametrize(("resource", "expression", "text"), [
    (patient(gender="bogus"), "Patient.gender", "not a valid code"),
    (patient(gender="Female"), "Patient.gender", "not a valid code"),
    (patient(birth="2021-02-30"), "Patient.birthDate", "no such calendar date"),
    (patient(birth="03/02/1950"), "Patient.birthDate", "expected a date"),
    (patient(birth="1950-02-03T10:00:00Z"), "Patient.birthDate", "expected a date"),
    ({**patient(), "foo": 1}, "Patient.foo", "Unknown element"),
    ({**patient(), "Gender": "male"}, "Patient.Gender", "Unknown element"),
    ({**patient(), "name": {"family": "x"}}, "Patient.name", "array"),
    ({**patient(), "active": "yes"}, "Patient.active", "boolean"),
    ({**patient(), "multipleBirthInteger": 2**40}, "Patient.multipleBirthInteger", "range"),
    ({**observation("Patient/x"), "status": None}, "Observation.status", "required"),
    ({k: v for k, v in observation("Patient/x").items() if k != "code"}, "Observation.code",
     "required"),
    ({**observation("Patient/x"), "effectiveDateTime": "2024-01-02T10:00"},
     "Observation.effectiveDateTime", "dateTime"),
    ({**observation("Patient/x"), "valueString": "x"}, None, None),  # two value[x] types
])
def test_invalid_resource_is_400_naming_the_element(
        seeded: tuple[Fhir, dict[str, Any]], resource: dict[str, Any], expression: str | None,
        text: str | None) -> None:
    fhir, p = seeded
    resource = {k: v for k, v in resource.items() if v is not None}
    rtype = resource["resourceType"]
    outcome(fhir.c.post(f"/fhir/{rtype}", json=resource, headers=FHIR_JSON), 400,
            expression=expression, text=text)
    outcome(fhir.c.put(f"/fhir/{rtype}/new-id", json={**resource, "id": "new-id"},
                       headers=FHIR_JSON), 400, expression=expression)
    if rtype == "Patient":
        outcome(fhir.c.put(f"/fhir/Patient/{p['id']}", json={**resource, "id": p["id"]},
                           headers=FHIR_JSON), 400, expression=expression)
    # $validate reports the same problem without storing anything (200 + the issues).
    r = fhir.c.post(f"/fhir/{rtype}/$validate", json=resource, headers=FHIR_JSON)
    assert r.status_code == 200
    assert any(i["severity"] == "error" for i in r.json()["issue"])


def test_invalid_entry_fails_the_whole_transaction(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    entries = [
        {"fullUrl": "urn:uuid:0b0e4d1c-8a43-4b4c-9d0a-3f1e8e0b9c01", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {**p, "gender": "male"},
         "request": {"method": "PUT", "url": f"Patient/{p['id']}"}},
        {"resource": observation("urn:uuid:0b0e4d1c-8a43-4b4c-9d0a-3f1e8e0b9c01"),
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": patient(gender="bogus"), "request": {"method": "POST", "url": "Patient"}},
    ]
    body = outcome(fhir.c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                              "entry": entries}, headers=FHIR_JSON), 400)
    assert "Bundle.entry[3]" in body["issue"][0]["diagnostics"]
    assert fhir.get(f"Patient/{p['id']}")["gender"] == p["gender"]
    assert fhir.get("Observation")["total"] == 0


@pytest.mark.parametrize("bundle", [
    {"resourceType": "Bundle", "type": "collection", "entry": []},
    {"resourceType": "Bundle", "type": "transaction", "entry": {"request": {}}},
    {"resourceType": "Bundle", "type": "transaction", "entry": [1]},
    {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]},
    {"resourceType": "Bundle", "type": "transaction",
     "entry": [{"request": {"method": "FETCH", "url": "Patient"}}]},
    {"resourceType": "Bundle", "type": "transaction",
     "entry": [{"request": {"method": "POST", "url": "Patient"}}]},
    {"resourceType": "Bundle", "type": "transaction",
     "entry": [{"request": {"method": "POST", "url": "Nope"},
                "resource": {"resourceType": "Nope"}}]},
    {"resourceType": "Bundle", "type": "transaction",
     "entry": [{"request": {"method": "POST", "url": "Patient"},
                "resource": {"resourceType": "Patient",
                             "managingOrganization": {"reference": "urn:uuid:missing"}}}]},
    {"resourceType": "Patient"},
])
def test_bad_bundles_are_4xx(seeded: tuple[Fhir, dict[str, Any]], bundle: dict[str, Any]) -> None:
    fhir, _ = seeded
    r = fhir.c.post("/fhir", json=bundle, headers=FHIR_JSON)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["resourceType"] == "OperationOutcome"


# -- Swedish identity numbers ----------------------------------------------------------------

def test_personnummer_with_wrong_check_digit_is_400(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    good = official_personnummer()
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    for value in (bad, f"{bad[:8]}-{bad[8:]}"):
        outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
            {"system": PNR, "value": value}]), headers=FHIR_JSON), 400,
            expression="Patient.identifier[0].value", text="check digit")
    # The OID form of the system is checked the same way.
    outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
        {"system": "urn:oid:1.2.752.129.2.1.3.1", "value": bad}]), headers=FHIR_JSON), 400,
        text="check digit")
    # Malformed numbers: 10 digits, letters, an impossible date.
    for value, text in ((good[2:], "10 digits"), ("19121212-121X", "form"),
                        (with_check_digit("19901332123"), "impossible date")):
        outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
            {"system": PNR, "value": value}]), headers=FHIR_JSON), 400, text=text)


def test_official_test_personnummer_is_accepted(fhir: Fhir) -> None:
    good = official_personnummer()
    for value in (good, f"{good[:8]}-{good[8:]}"):
        created = fhir.create(patient(identifier=[{"system": PNR, "value": value}]))
        assert created["identifier"][0]["value"] == value


def test_samordningsnummer_rules(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    snr = with_check_digit("19900161238")  # born 1990-01-01: day 01 + 60
    wrong = snr[:-1] + str((int(snr[-1]) + 1) % 10)
    outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
        {"system": SNR, "value": wrong}]), headers=FHIR_JSON), 400, text="check digit")
    # A personnummer is not a samordningsnummer, and the other way round.
    outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
        {"system": SNR, "value": official_personnummer()}]), headers=FHIR_JSON), 400,
        text="not a samordningsnummer")
    outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
        {"system": PNR, "value": snr}]), headers=FHIR_JSON), 400, text="is a samordningsnummer")
    # Second identifier is the bad one: the expression says which.
    outcome(fhir.c.post("/fhir/Patient", json=patient(identifier=[
        {"system": "http://example.org/mrn", "value": "x"},
        {"system": SNR, "value": wrong}]), headers=FHIR_JSON), 400,
        expression="Patient.identifier[1].value")


def test_valid_samordningsnummer_is_accepted(fhir: Fhir) -> None:
    snr = with_check_digit("19900161238")
    created = fhir.create(patient(identifier=[{"system": SNR, "value": snr}]))
    assert created["identifier"][0]["value"] == snr


# -- nesting ---------------------------------------------------------------------------------

def test_deeply_nested_json_is_400(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    # Deeper than the JSON parser reads at all.
    outcome(fhir.c.post("/fhir/Patient", content=b"[" * 5000 + b"]" * 5000,
                        headers=FHIR_JSON), 400)
    # Readable, but deeper than any resource may be: refused before any recursive walk.
    # 121 levels fit the parser's 255 but not a resource's 240 (room for a Bundle around it).
    for levels in (121, 130, 300, 500):
        ext = orjson.dumps(nested_extension(60)).decode()  # built as text: too deep for dumps
        text = '{"url":"http://x","extension":[' * (levels - 60) + ext + "]}" * (levels - 60)
        resource = '{"resourceType":"Patient","extension":[' + text + "]}"
        outcome(fhir.c.post("/fhir/Patient", content=resource.encode(), headers=FHIR_JSON), 400,
                text="nested too deeply")
        for kind in ("transaction", "batch"):
            bundle = ('{"resourceType":"Bundle","type":"' + kind + '","entry":[{"request":'
                      '{"method":"POST","url":"Patient"},"resource":' + resource + "}]}")
            r = fhir.c.post("/fhir", content=bundle.encode(), headers=FHIR_JSON)
            if r.status_code == 200:  # a batch refuses the entry, not the bundle
                assert kind == "batch"
                assert r.json()["entry"][0]["response"]["status"].startswith("400")
            else:
                outcome(r, 400, text="nested too deeply")
        if levels > 121:
            outcome(fhir.c.post("/fhir/Patient/_search", content=resource.encode(),
                                headers=FHIR_JSON), 400)
        outcome(fhir.c.post("/fhir/Patient/$validate", content=resource.encode(),
                            headers=FHIR_JSON) if levels > 121 else
                fhir.c.post("/fhir/Patient", content=resource.encode(), headers=FHIR_JSON),
                400, text="nested too deeply")


def test_the_deepest_accepted_resource_can_be_read_back_everywhere(fhir: Fhir) -> None:
    # Regression: a resource just under the validator's depth limit used to be stored, and
    # then every search, history page and bundle response holding it failed with a 500.
    levels = 130
    while True:
        r = fhir.c.post("/fhir/Patient", json=patient(extension=[nested_extension(levels)]),
                        headers=FHIR_JSON)
        if r.status_code == 201:
            break
        outcome(r, 400, text="nested too deeply")
        levels -= 1
    pid = r.json()["id"]
    assert levels > 50
    assert fhir.c.get(f"/fhir/Patient/{pid}").status_code == 200
    assert fhir.c.get("/fhir/Patient").json()["total"] == 1
    assert fhir.c.get("/fhir/_history").status_code == 200
    assert fhir.c.get(f"/fhir/Patient/{pid}/_history").status_code == 200
    assert fhir.c.get(f"/fhir/Patient/{pid}/$everything").status_code == 200
    deep = patient(extension=[nested_extension(levels)])
    for kind in ("transaction", "batch"):
        out = fhir.transaction([{"resource": deep, "request": {"method": "POST",
                                                               "url": "Patient"}}], kind=kind)
        assert out["entry"][0]["response"]["status"].startswith("201")
    contained = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                 "contained": [{**deep, "id": "p"}], "subject": {"reference": "#p"}}
    r = fhir.c.post("/fhir/Observation", json=contained, headers=FHIR_JSON)
    assert r.status_code in (201, 400), r.text
    assert fhir.c.get("/fhir/Observation?_include=Observation:subject").status_code == 200


# -- query strings ---------------------------------------------------------------------------

def test_huge_query_strings_do_not_500(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    t0 = time.monotonic()
    # One very long value (httpx refuses URLs over 64 KiB, so stay just under).
    r = fhir.c.get("/fhir/Patient", params={"name": "x" * 60_000})
    assert r.status_code == 200 and r.json()["total"] == 0
    # Too many parameters or values: refused quickly rather than planned for minutes.
    many = "&".join(f"name=x{i}" for i in range(3000))
    outcome(fhir.c.get(f"/fhir/Patient?{many}"), 400)
    outcome(fhir.c.get("/fhir/Patient?name=" + ",".join(f"x{i}" for i in range(5000))), 400)
    outcome(fhir.c.get("/fhir/Patient?identifier=" + ",".join(f"s|{i}" for i in range(3000))),
            400)
    outcome(fhir.c.post("/fhir/Patient/_search", content=many.encode(),
                        headers={"content-type": "application/x-www-form-urlencoded"}), 400)
    outcome(fhir.c.post("/fhir/Patient", json=patient(),
                        headers={**FHIR_JSON, "If-None-Exist": many}), 400)
    # Lots of control parameters are fine.
    r = fhir.c.get("/fhir/Patient?" + "&".join(["_include=Patient:organization"] * 200)
                   + "&_sort=" + ",".join(["name", "-birthdate", "_id"] * 50)
                   + "&_elements=" + ",".join(f"e{i}" for i in range(2000)))
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("query", [
    "_count=abc", "_count=-1", "_offset=x", "_sort=nonsense", "_summary=bogus",
    "_total=maybe", "_include=Patient", "_include=Nope:subject", "_include=Patient:name",
    "_revinclude=::::", "_sort=-", "birthdate=notadate", "birthdate=ge99999-01-01",
    "birthdate=gt9999-12-31T23:59:59Z", "birthdate=0000-01-01", "_lastUpdated=lt",
    "gender:missing=maybe", "name:bogus=x", "organization.name.x.y=x",
    "_has:Observation:patient", "_has:Nope:subject:code=x", "_has:Observation:code:code=x",
    "general-practitioner:Nope.name=x", "organization=Patient/",
])
def test_bad_search_parameters_are_400(seeded: tuple[Fhir, dict[str, Any]], query: str) -> None:
    fhir, _ = seeded
    outcome(fhir.c.get(f"/fhir/Patient?{query}"), 400)


def test_unknown_search_parameter_is_ignored_unless_strict(
        seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, _ = seeded
    assert fhir.c.get("/fhir/Patient?nonsense=1").status_code == 200
    outcome(fhir.c.get("/fhir/Patient?nonsense=1", headers={"Prefer": "handling=strict"}), 400)


@pytest.mark.parametrize("query", ["_count=99999999999999999999", "_offset=99999999999999999999",
                                   "_since=9999-12-31T23:59:59Z", "_since=garbage"])
def test_history_parameters(seeded: tuple[Fhir, dict[str, Any]], query: str) -> None:
    fhir, _ = seeded
    r = fhir.c.get(f"/fhir/_history?{query}")
    assert r.status_code in (200, 400), r.text
    assert r.json()["resourceType"] in ("Bundle", "OperationOutcome")


def test_conditional_interactions_with_bad_criteria(fhir: Fhir) -> None:
    before = history_total(fhir.c)
    for header in ("", "?", "nonsense=1", "_count=abc", "name:bogus=x"):
        outcome(fhir.c.post("/fhir/Patient", json=patient(),
                            headers={**FHIR_JSON, "If-None-Exist": header}), 400)
    outcome(fhir.c.put("/fhir/Patient", json=patient(), headers=FHIR_JSON), 400)
    outcome(fhir.c.put("/fhir/Patient?nonsense=1", json=patient(), headers=FHIR_JSON), 400)
    outcome(fhir.c.delete("/fhir/Patient"), 400)
    outcome(fhir.c.delete("/fhir/Patient?nonsense=1"), 400)
    assert history_total(fhir.c) == before
    # Matching more than one is a 412, and writes nothing.
    fhir.create(patient(family="Twin"))
    fhir.create(patient(family="Twin"))
    before = history_total(fhir.c)
    outcome(fhir.c.post("/fhir/Patient", json=patient(family="Twin"),
                        headers={**FHIR_JSON, "If-None-Exist": "family=Twin"}), 412)
    outcome(fhir.c.put("/fhir/Patient?family=Twin", json=patient(family="Twin"),
                       headers=FHIR_JSON), 412)
    outcome(fhir.c.delete("/fhir/Patient?family=Twin"), 412)
    assert history_total(fhir.c) == before


# -- PATCH -----------------------------------------------------------------------------------

JSON_PATCH = {"content-type": "application/json-patch+json"}


def test_patch_refusals(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    fhir, p = seeded
    url = f"/fhir/Patient/{p['id']}"
    ops = orjson.dumps([{"op": "replace", "path": "/gender", "value": "male"}])
    outcome(fhir.c.patch(url, content=ops, headers={"content-type": "text/plain"}), 415)
    outcome(fhir.c.patch(url, content=ops, headers={"content-type": "application/xml"}), 415)
    outcome(fhir.c.patch(url, content=ops), 415)
    for body in ({"op": "replace"}, "replace", 5, None, {"resourceType": "Patient"}):
        outcome(fhir.c.patch(url, content=orjson.dumps(body), headers=JSON_PATCH), 400)
    outcome(fhir.c.patch(url, content=b"[{", headers=JSON_PATCH), 400)
    for patch in (
        [{"op": "replace", "path": "/nope/x", "value": 1}],
        [{"op": "remove", "path": "/name/7"}],
        [{"op": "test", "path": "/gender", "value": "male"}],
        [{"op": "frobnicate", "path": "/gender"}],
        [{"path": "/gender"}],
        [{"op": "replace", "path": "gender", "value": "male"}],
        [{"op": "replace", "path": "/gender", "value": "bogus"}],      # invalid result
        [{"op": "replace", "path": "/id", "value": "other"}],          # id change
        [{"op": "replace", "path": "/resourceType", "value": "Group"}],
        [{"op": "replace", "path": "", "value": [1]}],
        [{"op": "move", "from": "/name", "path": "/name/0"}],
        [{"op": "copy", "from": "/nope", "path": "/x"}],
        [1, 2],
        [{"op": "add", "path": "/foo", "value": 1}],                   # unknown element
    ):
        outcome(fhir.c.patch(url, json=patch, headers=JSON_PATCH), 400)
    outcome(fhir.c.patch(url, json=[], headers={**JSON_PATCH, "If-Match": 'W/"7"'}), 412)
    outcome(fhir.c.patch("/fhir/Patient", json=[], headers=JSON_PATCH), 405)
    assert fhir.get(f"Patient/{p['id']}")["meta"]["versionId"] == "1"


def test_json_array_is_not_a_search_form(seeded: tuple[Fhir, dict[str, Any]]) -> None:
    # Regression (found by the fuzz test): a JSON array reached the search parser as if it
    # were the parsed form body of POST _search, and crashed it.
    fhir, _ = seeded
    for raw in (b"[null]", b'[["name", "x"]]', b"[1, 2]"):
        outcome(fhir.c.post("/fhir/Patient/_search", content=raw, headers=FHIR_JSON), 400)
    entry = {"request": {"method": "GET", "url": "Patient"}, "resource": [None]}
    outcome(fhir.c.post("/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                       "entry": [entry]}, headers=FHIR_JSON), 400)
    r = fhir.c.post("/fhir", json={"resourceType": "Bundle", "type": "batch",
                                   "entry": [entry]}, headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["entry"][0]["response"]["status"].startswith("400")
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert fhir.c.post("/fhir/Patient/_search", content=b"name=Andersson",
                       headers=form).json()["total"] == 1
