"""Launch context: an EHR launch hands the app the patient and encounter it was opened in;
a standalone `launch/patient` lets a resident's own record or a staff member's chosen patient
be the context."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from oauth_support import (
    FORM,
    OTHER_STAFF_HSA,
    STAFF_HSA,
    OAuth,
    Pkce,
    oauth_harness,
    redirect_query,
    resident,
    staff,
)
from sqlalchemy import Engine

from conftest import FHIR_JSON, bearer, mint_token
from vardnav.config import Settings
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.storage.repository import EngineServices

PNR = "195002031234"  # check digit need not matter for the lookup test: stored as given


@pytest.fixture
def oauth(engine: Engine, settings: Settings, services: EngineServices,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuth]:
    yield from oauth_harness(engine, settings, services, monkeypatch)


def ehr(oauth: OAuth, subject: str = STAFF_HSA, **claims: Any) -> TestClient:
    """The EHR's client: a staff member's token (as the sign-in would issue it)."""
    token = mint_token(oauth.settings, "user/*.rs", kind="staff", subject=subject,
                       unit="SE2321000131-E000000000101", role="physician", **claims)
    return TestClient(oauth.c.app, headers=bearer(token))


def encounter(oauth: OAuth, patient_id: str) -> str:
    r = oauth.admin.post("/fhir/Encounter", headers=FHIR_JSON, json={
        "resourceType": "Encounter", "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{patient_id}"}})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_ehr_launch_context_reaches_the_token_response(oauth: OAuth) -> None:
    pid = oauth.new_patient()
    eid = encounter(oauth, pid)
    r = ehr(oauth).post("/oauth/launch", json={"patient": pid, "encounter": eid})
    assert r.status_code == 200, r.text
    launch = r.json()["launch"]
    oauth.signed_in.who = staff()
    body = oauth.tokens(launch=launch, scope="launch openid fhirUser patient/*.rs user/*.rs")
    assert body["patient"] == pid and body["encounter"] == eid
    assert body["need_patient_banner"] is False
    assert body["scope"] == "launch openid fhirUser patient/*.rs user/*.rs"
    # Single use: the same launch value does not work twice.
    again = oauth.authorize(Pkce(), launch=launch, scope="launch patient/*.rs")
    assert redirect_query(again)["error"] == "invalid_request"


def test_launch_is_bound_to_the_staff_member_who_made_it(oauth: OAuth) -> None:
    pid = oauth.new_patient()
    launch = ehr(oauth).post("/oauth/launch", json={"patient": pid}).json()["launch"]
    oauth.signed_in.who = staff(OTHER_STAFF_HSA)
    r = oauth.authorize(Pkce(), launch=launch, scope="launch patient/*.rs")
    assert redirect_query(r)["error"] == "invalid_request"
    oauth.signed_in.who = resident(pid)
    assert redirect_query(oauth.authorize(Pkce(), launch=launch, scope="launch patient/*.rs")
                          )["error"] == "invalid_request"
    oauth.signed_in.who = staff()
    assert "code" in redirect_query(oauth.authorize(Pkce(), launch=launch,
                                                    scope="launch patient/*.rs"))


def test_launch_needs_the_scope_and_the_value(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    assert redirect_query(oauth.authorize(Pkce(), scope="launch user/*.rs")
                          )["error"] == "invalid_request"
    assert redirect_query(oauth.authorize(Pkce(), launch="abc", scope="user/*.rs")
                          )["error"] == "invalid_scope"


def test_launch_endpoint_checks_caller_and_context(oauth: OAuth) -> None:
    pid, other = oauth.new_patient(), oauth.new_patient(family="Berg")
    eid = encounter(oauth, other)
    assert oauth.c.post("/oauth/launch", json={"patient": pid}).status_code == 401
    system = oauth.admin.post("/oauth/launch", json={"patient": pid})
    assert system.status_code == 403  # only a staff member's EHR session launches
    client = ehr(oauth)
    for body, status in (({"patient": "no-such"}, 400), ({"patient": 12}, 400),
                         ({"patient": pid, "encounter": eid}, 400), ({}, 400)):
        r = client.post("/oauth/launch", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"] == "invalid_request"
    assert client.post("/oauth/launch", content=b"not json").status_code == 400
    no_read = ehr(oauth, patient=None)
    no_read.headers["Authorization"] = "Bearer " + mint_token(
        oauth.settings, "user/Observation.rs", kind="staff", subject=STAFF_HSA,
        unit="U", role="physician")
    assert no_read.post("/oauth/launch", json={"patient": pid}).status_code == 403


def test_resident_standalone_launch_gets_their_record(oauth: OAuth) -> None:
    me = oauth.new_patient()
    oauth.signed_in.who = resident(me, fhir_user="RelatedPerson/guardian-1")
    body = oauth.tokens(scope="launch/patient patient/*.rs openid fhirUser")
    assert body["patient"] == me and body["need_patient_banner"] is True


def _picker(oauth: OAuth, scope: str = "launch/patient patient/*.rs") -> tuple[Pkce, str]:
    pkce = Pkce()
    r = oauth.authorize(pkce, scope=scope)
    assert r.status_code == 303
    location = urlsplit(r.headers["location"])
    assert location.path == "/oauth/authorize/patient"
    page = oauth.c.get(r.headers["location"])
    assert page.status_code == 200 and "Anteckningar" in page.text
    assert page.headers["cache-control"] == "no-store"
    request_id = re.search(r'name="request" value="([^"]+)"', page.text)
    assert request_id
    return pkce, request_id.group(1)


def test_staff_standalone_launch_picks_the_patient(oauth: OAuth) -> None:
    pid = oauth.new_patient(identifier=[{"system": PERSONNUMMER_SYSTEM, "value": PNR}])
    oauth.signed_in.who = staff()
    pkce, request_id = _picker(oauth)
    unknown = oauth.c.post("/oauth/authorize/patient", headers=FORM, data={
        "request": request_id, "patient": "191212121212"})
    assert unknown.status_code == 400 and "No single patient" in unknown.text
    chosen = oauth.c.post("/oauth/authorize/patient", headers=FORM, follow_redirects=False,
                          data={"request": request_id, "patient": "19500203-1234"})
    assert chosen.status_code == 303, chosen.text
    body = oauth.exchange(redirect_query(chosen)["code"], pkce).json()
    assert body["patient"] == pid and body["need_patient_banner"] is True
    assert body["scope"] == "launch/patient patient/*.rs"
    # The request is used up.
    reuse = oauth.c.post("/oauth/authorize/patient", headers=FORM,
                         data={"request": request_id, "patient": pid})
    assert reuse.status_code == 400


def test_patient_picker_by_id_and_cancel(oauth: OAuth) -> None:
    pid = oauth.new_patient()
    oauth.signed_in.who = staff()
    pkce, request_id = _picker(oauth)
    by_id = oauth.c.post("/oauth/authorize/patient", headers=FORM, follow_redirects=False,
                         data={"request": request_id, "patient": pid})
    assert oauth.exchange(redirect_query(by_id)["code"], pkce).json()["patient"] == pid
    _, request_id = _picker(oauth)
    cancel = oauth.c.post("/oauth/authorize/patient", headers=FORM, follow_redirects=False,
                          data={"request": request_id, "action": "cancel"})
    assert redirect_query(cancel)["error"] == "access_denied"


def test_patient_picker_is_only_for_its_staff_member(oauth: OAuth) -> None:
    oauth.new_patient()
    oauth.signed_in.who = staff()
    _, request_id = _picker(oauth)
    oauth.signed_in.who = staff(OTHER_STAFF_HSA)
    r = oauth.c.post("/oauth/authorize/patient", headers=FORM,
                     data={"request": request_id, "patient": "x"})
    assert r.status_code == 400 and "not yours" in r.text
    oauth.signed_in.who = None
    page = oauth.c.get("/oauth/authorize/patient", params={"request": request_id},
                       follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
    oauth.signed_in.who = staff()
    forged = oauth.c.get("/oauth/authorize/patient", params={"request": "guess"})
    assert forged.status_code == 400
