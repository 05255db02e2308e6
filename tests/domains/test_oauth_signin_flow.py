"""The whole SMART standalone launch through the real sign-in pages: a browser-like client
that follows redirects goes from the app's authorize request to the login form, signs in
(choosing a record when there is a choice), lands on the app's callback with a code, and the
app reads FHIR data with the token it exchanges the code for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_support import CALLBACK, FORM, Pkce, register_apps
from signin_support import PASSWORD, People, choose, csrf_of, load_people, reset_accounts
from sqlalchemy import Engine, update

from vardnav.config import Settings
from vardnav.domains.identity.models import user_account
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app


@pytest.fixture(scope="module")
def people(engine: Engine, shared_services: EngineServices, db_url: str) -> People:
    settings = Settings(database_url=db_url, base_url="http://testserver/fhir")
    return load_people(engine, shared_services, settings)


@pytest.fixture
def browser(engine: Engine, settings: Settings, services: EngineServices,
            people: People) -> Iterator[TestClient]:
    from joserfc.jwk import RSAKey

    reset_accounts(engine, people)
    register_apps(engine, RSAKey.generate_key(2048, parameters={"kid": "k", "alg": "RS384"}))
    app = create_app(settings, services=services, engine=engine)
    with TestClient(app, follow_redirects=True) as client:
        yield client


def authorize_params(settings: Settings, pkce: Pkce, scope: str) -> dict[str, str]:
    return {"response_type": "code", "client_id": "notes-app", "redirect_uri": CALLBACK,
            "scope": scope, "state": "xyz", "aud": settings.base_url, "nonce": "n-1",
            "code_challenge": pkce.challenge, "code_challenge_method": "S256"}


def sign_in_through_pages(browser: TestClient, settings: Settings, pkce: Pkce, scope: str,
                          username: str) -> Any:
    """From the app's authorize URL to wherever the sign-in lands (followed)."""
    login_page = browser.get("/oauth/authorize", params=authorize_params(settings, pkce, scope))
    assert urlsplit(str(login_page.url)).path == "/login", login_page.url
    next_url = parse_qs(urlsplit(str(login_page.url)).query)["next"][0]
    return browser.post("/login", headers=FORM, data={
        "csrf": csrf_of(login_page.text), "username": username, "password": PASSWORD,
        "next": next_url})


def code_from(landed: Any) -> str:
    url = urlsplit(str(landed.url))
    assert f"{url.scheme}://{url.netloc}{url.path}" == CALLBACK, landed.url
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert query["state"] == "xyz"
    return query["code"]


def exchange(browser: TestClient, code: str, pkce: Pkce) -> dict[str, Any]:
    r = browser.post("/oauth/token", headers=FORM, data={
        "grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier,
        "redirect_uri": CALLBACK, "client_id": "notes-app"})
    assert r.status_code == 200, r.text
    return r.json()


def test_staff_member_signs_in_and_the_app_reads_fhir(browser: TestClient, settings: Settings,
                                                      people: People) -> None:
    pkce = Pkce()
    landed = sign_in_through_pages(browser, settings, pkce, "openid fhirUser user/*.rs",
                                   people.single_hsa)
    body = exchange(browser, code_from(landed), pkce)
    assert body["scope"] == "openid fhirUser user/*.rs"
    keys = KeySet.import_key_set(browser.get("/oauth/jwks").json())
    claims = jwt.decode(body["access_token"], keys).claims
    assert claims["kind"] == "staff" and claims["sub"] == people.single_hsa
    assert claims["unit"] and claims["role"] and claims["assignment"] and claims["provider"]
    identity = jwt.decode(body["id_token"], keys).claims
    assert identity["aud"] == "notes-app" and identity["nonce"] == "n-1"
    practitioner = identity["fhirUser"].removeprefix(settings.base_url + "/")
    api = {"Authorization": f"Bearer {body['access_token']}"}
    me = browser.get(f"/fhir/{practitioner}", headers=api)
    assert me.status_code == 200, me.text
    assert me.json()["resourceType"] == "Practitioner"
    # Still signed in: the next app authorization goes straight to the callback.
    again = Pkce()
    landed = browser.get("/oauth/authorize",
                         params=authorize_params(settings, again, "user/*.rs"))
    assert exchange(browser, code_from(landed), again)["scope"] == "user/*.rs"


def test_guardian_signs_in_for_a_child(browser: TestClient, settings: Settings,
                                       people: People) -> None:
    pkce = Pkce()
    choice = sign_in_through_pages(browser, settings, pkce,
                                   "launch/patient patient/*.rs openid fhirUser",
                                   people.guardian)
    assert urlsplit(str(choice.url)).path == "/login/choose"
    landed = choose(browser, f"RelatedPerson/{people.child_link}")
    body = exchange(browser, code_from(landed), pkce)
    assert body["patient"] == people.child
    api = {"Authorization": f"Bearer {body['access_token']}"}
    child = browser.get(f"/fhir/Patient/{people.child}", headers=api)
    assert child.status_code == 200, child.text
    assert browser.get(f"/fhir/Patient/{people.teen}", headers=api).status_code in (403, 404)
    identity = jwt.decode(body["id_token"], KeySet.import_key_set(
        browser.get("/oauth/jwks").json())).claims
    assert identity["fhirUser"].endswith(f"/RelatedPerson/{people.child_link}")


def refresh(browser: TestClient, token: str) -> Any:
    return browser.post("/oauth/token", headers=FORM, data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": "notes-app"})


def test_refresh_checks_the_person_is_still_entitled(browser: TestClient, settings: Settings,
                                                     engine: Engine, people: People) -> None:
    pkce = Pkce()
    sign_in_through_pages(browser, settings, pkce, "patient/*.rs offline_access",
                          people.guardian)
    body = exchange(browser, code_from(choose(browser, f"Patient/{people.guardian_patient}")),
                    pkce)
    renewed = refresh(browser, body["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    with engine.begin() as conn:
        conn.execute(update(user_account).where(user_account.c.username == people.guardian)
                     .values(disabled=True))
    ended = refresh(browser, renewed.json()["refresh_token"])
    assert ended.status_code == 400 and ended.json()["error"] == "invalid_grant"
    api = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert browser.get(f"/fhir/Patient/{people.guardian_patient}", headers=api
                       ).status_code == 401  # the grant's access tokens were revoked too


def test_staff_entitlement_follows_the_assignment(engine: Engine, services: EngineServices,
                                                  settings: Settings, people: People) -> None:
    from vardnav.domains.identity.oauth.grant_checks import still_entitled

    def check(sign_in: dict[str, Any]) -> bool:
        with engine.connect() as conn:
            return still_entitled(conn, services, settings, sign_in)

    with engine.connect() as conn:
        from vardnav.domains.identity.access.principal import SERVER
        from vardnav.domains.identity.organisation.assignments import assignments_of
        from vardnav.fhir.hooks import RequestContext
        from vardnav.fhir.storage.repository import Repository

        repo = Repository(conn, services, RequestContext(principal=SERVER,
                                                         base_url=settings.base_url))
        current = assignments_of(repo, people.single_hsa)[0].assignment_id
    staff = {"kind": "staff", "subject": people.single_hsa, "assignment": current}
    assert check(staff)
    assert not check({**staff, "assignment": "PractitionerRole-that-ended"})
    assert not check({**staff, "subject": "SE2321000131-P99999"})
    assert not check({"kind": "resident", "subject": people.lonely, "patient": "x",
                      "fhir_user": "Patient/x"})
