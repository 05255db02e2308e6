"""Sign-in through an external OpenID Connect IdP, against a fake IdP (discovery, authorize,
token with PKCE and client_secret_basic, JWKS) served in-process through httpx's
ASGITransport. Forged signatures, wrong nonces and foreign states are refused."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from signin_support import People, choices_of, load_people, reset_accounts, signed_in
from sqlalchemy import Engine, update

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.models import user_account
from vardnav.domains.identity.signin.oidc import OidcProvider, claims_problem
from vardnav.domains.identity.signin.router import build_signin_router
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app

ISSUER = "https://idp.test"
CLIENT_ID = "vardnav"
CLIENT_SECRET = "idp-secret:with/odd+chars"
CALLBACK = "http://127.0.0.1:8080/login/oidc/callback"


class FakeIdp:
    """The IdP: remembers each authorization and answers the token request for it."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "idp-1", "alg": "RS256"})
        self.signing_key = self.key  # tests swap in a stranger's key
        self.hsa = ""
        self.nonce: str | None = None  # None: echo the nonce the client sent
        self.codes: dict[str, dict[str, str]] = {}
        self.app = self._build()

    def authorize(self, url: str) -> dict[str, str]:
        """The person signs in at the IdP: returns the callback's query parameters."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        code = secrets.token_urlsafe(16)
        self.codes[code] = query
        return {"code": code, "state": query["state"]}

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"]}

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.post("/token")
        async def token(request: Request) -> Any:
            form = dict(parse_qsl((await request.body()).decode()))
            grant_type, code = form.get("grant_type"), form.get("code", "")
            redirect_uri, code_verifier = form.get("redirect_uri"), form.get("code_verifier", "")
            expected = "Basic " + base64.b64encode(
                f"{CLIENT_ID}:{CLIENT_SECRET.replace(':', '%3A').replace('/', '%2F')}"
                .replace("+", "%2B").encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, 401)
            sent = self.codes.pop(code, None)
            challenge = base64.urlsafe_b64encode(
                hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if (sent is None or grant_type != "authorization_code"
                    or redirect_uri != sent["redirect_uri"]
                    or sent["code_challenge_method"] != "S256"
                    or challenge != sent["code_challenge"]):
                return JSONResponse({"error": "invalid_grant"}, 400)
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "idp-user-1", "iat": now,
                      "exp": now + 300, "nonce": self.nonce or sent["nonce"],
                      "hsa_id": self.hsa, "name": "Extern Användare"}
            signed = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims, self.signing_key)
            return {"access_token": "opaque", "token_type": "Bearer", "id_token": signed}

        return app


@pytest.fixture(scope="module")
def people(engine: Engine, shared_services: EngineServices, db_url: str) -> People:
    return load_people(engine, shared_services,
                       Settings(database_url=db_url, base_url="http://testserver/fhir"))


@pytest.fixture
def idp() -> FakeIdp:
    return FakeIdp()


@pytest.fixture
def oidc_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "oidc_issuer": ISSUER, "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET, "issuer": "http://127.0.0.1:8080"})


@pytest.fixture
def c(engine: Engine, services: EngineServices, oidc_settings: Settings, idp: FakeIdp,
      people: People) -> Iterator[TestClient]:
    reset_accounts(engine, people)
    provider = OidcProvider.from_settings(oidc_settings,
                                          transport=httpx.ASGITransport(app=idp.app))
    app = FastAPI()
    app.state.settings = oidc_settings
    app.include_router(build_signin_router(engine, services, oidc_settings,
                                           identity_provider=provider))
    with TestClient(app, follow_redirects=False) as client:
        yield client


def start(c: TestClient, next_url: str = "/app") -> str:
    r = c.get("/login/oidc", params={"next": next_url})
    assert r.status_code == 303, r.text
    return r.headers["location"]


def test_login_page_offers_the_external_idp(engine: Engine, services: EngineServices,
                                            oidc_settings: Settings) -> None:
    app = create_app(oidc_settings, services=services, engine=engine)
    page = TestClient(app).get("/login", params={"next": "/a?b=1"}).text
    assert "Logga in med SITHS (extern IdP)" in page
    assert 'href="/login/oidc?next=/a%3Fb%3D1"' in page


def test_authorization_request_uses_pkce_state_and_nonce(c: TestClient) -> None:
    url = start(c)
    assert url.startswith(f"{ISSUER}/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK and "openid" in query["scope"].split()
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32


def test_staff_sign_in_end_to_end(c: TestClient, idp: FakeIdp, people: People) -> None:
    idp.hsa = people.single_hsa
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c, "/app?x=1")))
    assert r.status_code == 303 and r.headers["location"] == "/app?x=1"
    done = signed_in(c, c.app.state.settings)
    assert done is not None and done.method == "oidc" and done.subject == people.single_hsa
    assert done.unit and done.assignment and done.fhir_user
    assert "via extern IdP" in c.get("/login").text


def test_two_assignments_are_chosen_after_the_idp(c: TestClient, idp: FakeIdp,
                                                  people: People) -> None:
    idp.hsa = people.busy_hsa
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c)))
    assert r.headers["location"] == "/login/choose"
    assert len(choices_of(c.get("/login/choose").text)) == 2
    assert signed_in(c, c.app.state.settings) is None


def test_a_forged_signature_is_refused(c: TestClient, idp: FakeIdp, people: People) -> None:
    idp.hsa = people.single_hsa
    idp.signing_key = RSAKey.generate_key(2048, parameters={"kid": "idp-1"})
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c)))
    assert r.status_code == 403 and "signatur" in r.text
    assert signed_in(c, c.app.state.settings) is None


def test_a_wrong_nonce_is_refused(c: TestClient, idp: FakeIdp, people: People) -> None:
    idp.hsa, idp.nonce = people.single_hsa, "someone-elses-nonce"
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c)))
    assert r.status_code == 403 and "nonce" in r.text
    assert signed_in(c, c.app.state.settings) is None


def test_a_foreign_state_is_refused(c: TestClient, idp: FakeIdp, people: People) -> None:
    idp.hsa = people.single_hsa
    params = idp.authorize(start(c))
    r = c.get("/login/oidc/callback", params={**params, "state": "attackers-state"})
    assert r.status_code == 403 and signed_in(c, c.app.state.settings) is None


def test_a_callback_without_a_start_is_refused(c: TestClient) -> None:
    r = c.get("/login/oidc/callback", params={"code": "x", "state": "y"})
    assert r.status_code == 400


def test_a_code_is_bound_to_its_verifier(c: TestClient, idp: FakeIdp, people: People) -> None:
    idp.hsa = people.single_hsa
    first = idp.authorize(start(c))
    second = idp.authorize(start(c))  # a new start: the first verifier is gone
    r = c.get("/login/oidc/callback", params={**first, "state": second["state"]})
    assert r.status_code == 403 and signed_in(c, c.app.state.settings) is None


def test_unknown_hsa_id_has_no_assignment(c: TestClient, idp: FakeIdp) -> None:
    idp.hsa = "SE2321000131-P99999"
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c)))
    assert r.status_code == 403 and "inget aktuellt uppdrag" in r.text


def test_a_disabled_account_is_refused_at_the_idp_too(c: TestClient, idp: FakeIdp,
                                                      engine: Engine, people: People) -> None:
    run_in_transaction(engine, lambda conn: conn.execute(
        update(user_account).where(user_account.c.username == people.single_hsa)
        .values(disabled=True)))
    idp.hsa = people.single_hsa
    r = c.get("/login/oidc/callback", params=idp.authorize(start(c)))
    assert r.status_code == 403 and signed_in(c, c.app.state.settings) is None


def test_idp_errors_are_shown(c: TestClient) -> None:
    url = start(c)
    state = parse_qs(urlsplit(url).query)["state"][0]
    r = c.get("/login/oidc/callback", params={"error": "access_denied", "state": state})
    assert r.status_code == 403 and "access_denied" in r.text


@pytest.mark.parametrize(("change", "problem"), [
    ({"iss": "https://other.test"}, "fel utfärdare"),
    ({"aud": "another-client"}, "inte utfärdad till"),
    ({"aud": [CLIENT_ID, "other"]}, "inte utfärdad till"),
    ({"exp": 1000}, "gått ut"),
    ({"nonce": "n2"}, "nonce"),
])
def test_id_token_claims_are_checked(change: dict[str, Any], problem: str) -> None:
    now = time.time()
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "exp": now + 60, "iat": now, "nonce": "n1",
              **change}
    found = claims_problem(claims, issuer=ISSUER, client_id=CLIENT_ID, nonce="n1", now=now)
    assert found and problem in found


def test_without_configuration_there_is_no_external_idp(c: TestClient, engine: Engine,
                                                        services: EngineServices,
                                                        settings: Settings) -> None:
    plain = TestClient(create_app(settings, services=services, engine=engine))
    assert plain.get("/login/oidc").status_code == 404
