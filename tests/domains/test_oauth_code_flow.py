"""The authorization-code flow with PKCE (SMART App Launch 2.0): a browser-like client that
follows redirects gets a code, the app exchanges it for tokens and reads FHIR data with them;
every malformed, misdirected, replayed or expired request is refused the RFC 6749 way."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_support import (
    CALLBACK,
    FORM,
    OAuth,
    Pkce,
    oauth_harness,
    redirect_query,
    resident,
    staff,
)
from sqlalchemy import Engine, update

from conftest import observation
from vardnav.config import Settings
from vardnav.domains.identity.models import oauth_authorization_code
from vardnav.domains.identity.oauth.revocation import RevocationList
from vardnav.fhir.storage.repository import EngineServices


@pytest.fixture
def oauth(engine: Engine, settings: Settings, services: EngineServices,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuth]:
    yield from oauth_harness(engine, settings, services, monkeypatch)


def test_full_flow_following_redirects_ends_in_a_fhir_read(oauth: OAuth) -> None:
    me = oauth.new_patient()
    other = oauth.new_patient(family="Berg")
    oauth.admin.post("/fhir/Observation", json=observation(f"Patient/{me}"))
    oauth.admin.post("/fhir/Observation", json=observation(f"Patient/{other}"))
    pkce = Pkce()
    params = oauth.authorize_params(pkce, scope="openid fhirUser launch/patient patient/*.rs "
                                                "offline_access")
    # Not signed in: the browser is sent to the sign-in page, which returns to authorize.
    r = oauth.c.get("/oauth/authorize", params=params, follow_redirects=False)
    assert r.status_code == 303
    login = urlsplit(r.headers["location"])
    assert login.path == "/login"
    next_url = parse_qs(login.query)["next"][0]
    assert next_url.startswith("/oauth/authorize?")
    oauth.signed_in.who = resident(me)
    # Signed in: following the redirects lands on the app's callback with code and state.
    landed = oauth.c.get(next_url, follow_redirects=True)
    assert [h.status_code for h in landed.history] == [303]
    callback = urlsplit(str(landed.url))
    assert f"{callback.scheme}://{callback.netloc}{callback.path}" == CALLBACK
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    assert query["state"] == params["state"] and query["iss"] == oauth.settings.issuer

    r = oauth.exchange(query["code"], pkce)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["token_type"] == "Bearer" and body["patient"] == me
    assert body["scope"] == "openid fhirUser launch/patient patient/*.rs offline_access"
    assert body["need_patient_banner"] is True and body["refresh_token"]
    api = {"Authorization": f"Bearer {body['access_token']}"}
    read = oauth.c.get(f"/fhir/Patient/{me}", headers=api)
    assert read.status_code == 200 and read.json()["id"] == me
    found = oauth.c.get("/fhir/Observation", headers=api).json()
    subjects = {e["resource"]["subject"]["reference"] for e in found.get("entry", [])}
    assert subjects == {f"Patient/{me}"}  # patient/ scopes: only the resident's record
    assert oauth.c.get(f"/fhir/Patient/{other}", headers=api).status_code in (403, 404)


def test_authorize_post_is_supported(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    r = oauth.c.post("/oauth/authorize", headers=FORM, data=oauth.authorize_params(pkce),
                     follow_redirects=False)
    assert r.status_code == 303 and "code" in redirect_query(r)
    assert oauth.exchange(redirect_query(r)["code"], pkce).status_code == 200


def test_pkce_is_required_and_checked(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    for overrides in ({"code_challenge": None, "code_challenge_method": None},
                      {"code_challenge_method": None},
                      {"code_challenge_method": "plain", "code_challenge": pkce.verifier},
                      {"code_challenge": "too-short"}):
        r = oauth.authorize(pkce, **overrides)
        assert r.status_code == 303, overrides
        answer = redirect_query(r)
        assert answer["error"] == "invalid_request" and "code" not in answer, overrides
        assert answer["state"].startswith("st-")
    code = oauth.code(pkce)
    wrong = oauth.exchange(code, Pkce())
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    missing = oauth.c.post("/oauth/token", headers=FORM, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK,
        "client_id": "notes-app"})
    assert missing.json()["error"] == "invalid_request"
    assert oauth.exchange(code, pkce).status_code == 200  # a failed check did not use it up


def test_unverified_client_or_redirect_gets_a_page_not_a_redirect(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    for overrides in ({"client_id": "nobody"}, {"client_id": None},
                      {"redirect_uri": "https://evil.example/cb"},
                      {"redirect_uri": CALLBACK + "/more"}, {"redirect_uri": None},
                      {"client_id": "lab-system"}):
        r = oauth.authorize(pkce, **overrides)
        assert r.status_code == 400, overrides
        assert "location" not in r.headers and r.headers["content-type"].startswith("text/html")
        assert r.headers["x-frame-options"] == "DENY"


def test_other_errors_go_back_to_the_app(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    cases = {"unsupported_response_type": {"response_type": "token"},
             "invalid_request": {"aud": "https://other.example/fhir"},
             "invalid_scope": {"scope": "system/*.rs"}}
    for error, overrides in cases.items():
        answer = redirect_query(oauth.authorize(pkce, **overrides))
        assert answer["error"] == error and answer["error_description"], overrides
    no_state = oauth.authorize(pkce, state=None)
    assert redirect_query(no_state)["error"] == "invalid_request"
    twice = oauth.c.get("/oauth/authorize?" + "&".join(
        f"{k}={v}" for k, v in oauth.authorize_params(pkce).items()) + "&scope=openid",
        follow_redirects=False)
    assert redirect_query(twice)["error"] == "invalid_request"


def test_wrong_redirect_uri_at_the_token_endpoint(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    code = oauth.code(pkce)
    r = oauth.exchange(code, pkce, redirect_uri="http://testserver/elsewhere")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_reused_code_fails_and_revokes_what_it_issued(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    code = oauth.code(pkce, scope="patient/*.rs offline_access")
    first = oauth.exchange(code, pkce).json()
    assert oauth.introspect(first["refresh_token"])["active"] is True
    again = oauth.exchange(code, pkce)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert oauth.introspect(first["refresh_token"]) == {"active": False}
    assert oauth.introspect(first["access_token"]) == {"active": False}
    assert oauth.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"
    jti = jwt.decode(first["access_token"], KeySet.import_key_set(
        oauth.c.get("/oauth/jwks").json())).claims["jti"]
    assert RevocationList(oauth.engine).is_revoked(jti)


def test_expired_code_is_refused(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    code = oauth.code(pkce)
    with oauth.engine.begin() as conn:
        conn.execute(update(oauth_authorization_code).values(expires=time.time() - 1))
    r = oauth.exchange(code, pkce)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "expired" in r.json()["error_description"]


def test_code_belongs_to_its_client(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    pkce = Pkce()
    code = oauth.code(pkce)
    r = oauth.exchange(code, pkce, client_id="portal")  # confidential: must authenticate
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    unknown = oauth.exchange("made-up", pkce)
    assert unknown.json()["error"] == "invalid_grant"


def test_staff_without_patient_context_loses_patient_scopes(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    body = oauth.tokens(scope="user/*.rs patient/*.rs")
    assert body["scope"] == "user/*.rs" and "patient" not in body
    only_patient = oauth.authorize(Pkce(), scope="patient/*.rs")
    assert redirect_query(only_patient)["error"] == "invalid_scope"


def test_resident_cannot_get_user_scopes(oauth: OAuth) -> None:
    me = oauth.new_patient()
    oauth.signed_in.who = resident(me)
    body = oauth.tokens(scope="user/*.rs patient/*.rs")
    assert body["scope"] == "patient/*.rs" and body["patient"] == me
    refused = oauth.authorize(Pkce(), scope="user/*.rs")
    assert redirect_query(refused)["error"] == "invalid_scope"
    claims = jwt.decode(body["access_token"], KeySet.import_key_set(
        oauth.c.get("/oauth/jwks").json())).claims
    assert claims["kind"] == "resident" and claims["sub"] == f"patient:{me}"
    assert claims["patient"] == me and claims["client_id"] == "notes-app"
    assert claims["aud"] == oauth.settings.base_url and claims["iss"] == oauth.settings.issuer


def test_scopes_are_limited_to_the_registration(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    body = oauth.tokens(scope="user/Patient.rs user/Observation.cruds user/Patient.cruds")
    # user/*.rs covers the first; nothing registered covers Observation writes.
    assert body["scope"] == "user/Patient.rs user/Patient.cruds"
