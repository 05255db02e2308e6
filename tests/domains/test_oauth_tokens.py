"""Tokens after the code: refresh rotation and family revocation, scope narrowing, confidential
clients (client_secret_basic, private_key_jwt), introspection, revocation and the id_token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from oauth_support import (
    ASSERTION_TYPE,
    FORM,
    SECRET,
    OAuth,
    Pkce,
    oauth_harness,
    resident,
    staff,
)
from sqlalchemy import Engine

from vardnav.config import Settings
from vardnav.domains.identity.oauth.revocation import RevocationList
from vardnav.fhir.storage.repository import EngineServices


@pytest.fixture
def oauth(engine: Engine, settings: Settings, services: EngineServices,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuth]:
    yield from oauth_harness(engine, settings, services, monkeypatch)


def claims_of(oauth: OAuth, token: str) -> dict:
    return jwt.decode(token, KeySet.import_key_set(oauth.c.get("/oauth/jwks").json())).claims


def test_refresh_rotates_and_a_replay_revokes_the_family(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    first = oauth.tokens(scope="patient/*.rs offline_access")
    second = oauth.refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["scope"] == "patient/*.rs offline_access" and body["patient"]
    assert second.headers["cache-control"] == "no-store"
    assert oauth.introspect(first["refresh_token"]) == {"active": False}  # rotated
    third = oauth.refresh(body["refresh_token"]).json()
    # The retired first token comes back: someone copied it. Everything of the grant dies.
    replay = oauth.refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert oauth.refresh(third["refresh_token"]).json()["error"] == "invalid_grant"
    for token in (first["access_token"], body["access_token"], third["access_token"],
                  third["refresh_token"]):
        assert oauth.introspect(token) == {"active": False}
    revocations = RevocationList(oauth.engine)
    assert revocations.is_revoked(claims_of(oauth, third["access_token"])["jti"])
    api = {"Authorization": f"Bearer {third['access_token']}"}
    assert oauth.c.get("/fhir/Patient", headers=api).status_code == 401


def test_refresh_needs_offline_or_online_access(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    assert "refresh_token" not in oauth.tokens(scope="patient/*.rs")
    online = oauth.tokens(scope="patient/*.rs online_access")
    assert online["refresh_token"]
    assert oauth.introspect(online["refresh_token"])["exp"] <= \
        oauth.signed_in.who.auth_time + 8 * 3600  # ends with the sign-in session


def test_scope_may_narrow_but_not_widen(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    first = oauth.tokens(scope="user/*.rs user/Patient.cruds offline_access")
    wider = oauth.refresh(first["refresh_token"], scope="user/*.cruds")
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    # A refused request does not use the token up.
    narrow = oauth.refresh(first["refresh_token"], scope="user/Observation.rs")
    assert narrow.status_code == 200, narrow.text
    assert narrow.json()["scope"] == "user/Observation.rs"
    assert claims_of(oauth, narrow.json()["access_token"])["scope"] == "user/Observation.rs"
    # The next refresh token still carries the whole grant.
    again = oauth.refresh(narrow.json()["refresh_token"]).json()
    assert again["scope"] == "user/*.rs user/Patient.cruds offline_access"


def test_refresh_token_belongs_to_its_client(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    first = oauth.tokens(scope="patient/*.rs offline_access")
    r = oauth.c.post("/oauth/token", headers=FORM, auth=("portal", SECRET), data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert oauth.refresh(first["refresh_token"]).status_code == 200


def test_confidential_client_with_a_secret(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    pkce = Pkce()
    code = oauth.code(pkce, client_id="portal", scope="user/*.rs")
    wrong = oauth.exchange(code, pkce, auth=("portal", "wrong-" + SECRET))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    only_id = oauth.exchange(code, pkce, client_id="portal")
    assert only_id.status_code == 401
    in_body = oauth.exchange(code, pkce, client_id="portal", client_secret=SECRET)
    assert in_body.status_code == 401  # only client_secret_basic is offered
    right = oauth.exchange(code, pkce, auth=("portal", SECRET))
    assert right.status_code == 200, right.text
    assert claims_of(oauth, right.json()["access_token"])["client_id"] == "portal"
    garbled = oauth.c.post("/oauth/token", headers={**FORM, "Authorization": "Basic %%%"},
                           data={"grant_type": "authorization_code", "code": code})
    assert garbled.status_code == 401


def test_confidential_client_with_private_key_jwt(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    pkce = Pkce()
    code = oauth.code(pkce, client_id="jwt-app", scope="user/*.rs")
    data = {"grant_type": "authorization_code", "code": code, "code_verifier": pkce.verifier,
            "redirect_uri": "http://testserver/app/callback",
            "client_assertion_type": ASSERTION_TYPE}
    forged = oauth.c.post("/oauth/token", headers=FORM, data={
        **data, "client_assertion": oauth.assertion("portal")})
    assert forged.status_code == 401
    r = oauth.c.post("/oauth/token", headers=FORM, data={
        **data, "client_assertion": oauth.assertion()})
    assert r.status_code == 200, r.text


def test_backend_clients_cannot_use_user_grants(oauth: OAuth) -> None:
    r = oauth.c.post("/oauth/token", headers=FORM, data={
        "grant_type": "refresh_token", "refresh_token": "x",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": oauth.assertion("lab-system")})
    assert r.status_code == 400 and r.json()["error"] == "unauthorized_client"


def test_introspection(oauth: OAuth) -> None:
    me = oauth.new_patient()
    oauth.signed_in.who = resident(me)
    body = oauth.tokens(scope="openid fhirUser patient/*.rs offline_access")
    active = oauth.introspect(body["access_token"])
    assert active["active"] is True and active["scope"] == body["scope"]
    assert active["client_id"] == "notes-app" and active["sub"] == f"patient:{me}"
    assert active["kind"] == "resident" and active["patient"] == me
    assert active["fhirUser"] == f"Patient/{me}" and active["exp"] > active["iat"]
    refresh = oauth.introspect(body["refresh_token"])
    assert refresh["active"] is True and refresh["token_type"] == "refresh_token"
    assert refresh["patient"] == me and refresh["client_id"] == "notes-app"
    for junk in ("", "junk", "a.b.c", body["access_token"] + "x"):
        assert oauth.introspect(junk) == {"active": False}


def test_introspection_callers(oauth: OAuth) -> None:
    oauth.signed_in.who = staff()
    token = oauth.tokens(scope="user/*.rs")["access_token"]
    anonymous = oauth.c.post("/oauth/introspect", headers=FORM, data={"token": token})
    assert anonymous.status_code == 401
    public = oauth.c.post("/oauth/introspect", headers=FORM,
                          data={"token": token, "client_id": "notes-app"})
    assert public.status_code == 401
    user_token = oauth.c.post("/oauth/introspect", data={"token": token},
                              headers={**FORM, "Authorization": f"Bearer {token}"})
    assert user_token.status_code == 401  # a user's token is no system token
    system = oauth.c.post("/oauth/introspect", data={"token": token}, headers={
        **FORM, "Authorization": oauth.admin.headers["Authorization"]})
    assert system.status_code == 200 and system.json()["active"] is True
    backend = oauth.c.post("/oauth/introspect", headers=FORM, data={
        "token": token, "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": oauth.assertion("lab-system")})
    assert backend.status_code == 200 and backend.json()["kind"] == "staff"
    assert backend.json()["role"] == "physician" and backend.json()["unit"]


def test_revoking_an_access_token(oauth: OAuth) -> None:
    me = oauth.new_patient()
    oauth.signed_in.who = resident(me)
    body = oauth.tokens(scope="patient/*.rs")
    jti = claims_of(oauth, body["access_token"])["jti"]
    api = {"Authorization": f"Bearer {body['access_token']}"}
    assert oauth.c.get(f"/fhir/Patient/{me}", headers=api).status_code == 200
    not_yours = oauth.c.post("/oauth/revoke", headers=FORM, auth=("portal", SECRET),
                             data={"token": body["access_token"]})
    assert not_yours.status_code == 200
    assert oauth.introspect(body["access_token"])["active"] is True
    r = oauth.c.post("/oauth/revoke", headers=FORM,
                     data={"token": body["access_token"], "client_id": "notes-app"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert oauth.introspect(body["access_token"]) == {"active": False}
    assert RevocationList(oauth.engine).is_revoked(jti)
    assert not RevocationList(oauth.engine).is_revoked("some-other-id")
    # The API shares the endpoint's list (app.state.revocations): refused at once.
    refused = oauth.c.get(f"/fhir/Patient/{me}", headers=api)
    assert refused.status_code == 401 and "revoked" in refused.text
    again = oauth.c.post("/oauth/revoke", headers=FORM,
                         data={"token": body["access_token"], "client_id": "notes-app"})
    assert again.status_code == 200  # idempotent
    unknown = oauth.c.post("/oauth/revoke", headers=FORM,
                           data={"token": "never-issued", "client_id": "notes-app"})
    assert unknown.status_code == 200
    wrong_secret = oauth.c.post("/oauth/revoke", headers=FORM, auth=("portal", "nope" * 9),
                                data={"token": "x"})
    assert wrong_secret.status_code == 401


def test_revoking_a_refresh_token_ends_its_grant(oauth: OAuth) -> None:
    oauth.signed_in.who = resident(oauth.new_patient())
    body = oauth.tokens(scope="patient/*.rs offline_access")
    r = oauth.c.post("/oauth/revoke", headers=FORM, data={
        "token": body["refresh_token"], "token_type_hint": "refresh_token",
        "client_id": "notes-app"})
    assert r.status_code == 200
    assert oauth.refresh(body["refresh_token"]).json()["error"] == "invalid_grant"
    assert oauth.introspect(body["access_token"]) == {"active": False}


def test_revocation_list_caches_briefly(oauth: OAuth) -> None:
    from vardnav.domains.identity.oauth.revocation import revoke_jti

    slow = RevocationList(oauth.engine, refresh_seconds=3600)
    assert not slow.is_revoked("jti-1")  # loads the (empty) set
    with oauth.engine.begin() as conn:
        revoke_jti(conn, "jti-1", 2e9)
    assert not slow.is_revoked("jti-1")  # not reloaded yet
    assert RevocationList(oauth.engine, refresh_seconds=0).is_revoked("jti-1")
    slow.added("jti-1")
    assert slow.is_revoked("jti-1")


def test_openid_id_token(oauth: OAuth) -> None:
    me = oauth.new_patient()
    oauth.signed_in.who = resident(me)
    body = oauth.tokens(scope="openid fhirUser patient/*.rs", nonce="n-0S6_WzA2Mj")
    keys = KeySet.import_key_set(oauth.c.get("/oauth/jwks").json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    claims = token.claims
    assert token.header["alg"] == "RS256"
    assert claims["aud"] == "notes-app" and claims["iss"] == oauth.settings.issuer
    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["sub"] == f"patient:{me}"
    assert claims["fhirUser"] == f"{oauth.settings.base_url}/Patient/{me}"
    assert claims["exp"] > claims["iat"] and claims["auth_time"]
    assert "id_token" not in oauth.tokens(scope="fhirUser patient/*.rs")
    without_fhir_user = oauth.tokens(scope="openid patient/*.rs")
    assert "fhirUser" not in claims_of(oauth, without_fhir_user["id_token"])
