"""Helpers for the OAuth / SMART App Launch tests: registered apps, a signed-in user, PKCE,
and driving authorize and the token endpoint."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import Engine, delete

from conftest import FHIR_JSON, bearer, mint_token, patient, wipe
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity import models, signin
from vardnav.domains.identity.oauth import grant_checks
from vardnav.domains.identity.oauth.apps import register_app
from vardnav.domains.identity.oauth.pkce import s256
from vardnav.domains.identity.signin import SignIn
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app

FORM = {"content-type": "application/x-www-form-urlencoded"}
CALLBACK = "http://testserver/app/callback"  # on the test server: redirects can be followed
SECRET = "portal-secret-" + "x" * 32
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APP_SCOPES = ("openid fhirUser launch launch/patient offline_access online_access "
              "patient/*.rs user/*.rs user/Patient.cruds system/*.rs")
STAFF_HSA = "SE2321000131-E000000000001"
OTHER_STAFF_HSA = "SE2321000131-E000000000002"
OAUTH_TABLES = (models.oauth_launch, models.oauth_pending_authorization,
                models.oauth_authorization_code, models.oauth_refresh_token,
                models.revoked_token, models.used_assertion, models.oauth_client)


def staff(subject: str = STAFF_HSA, role: str = "physician") -> SignIn:
    return SignIn(kind="staff", subject=subject, display_name="Doktor Test", method="password",
                  auth_time=int(time.time()), unit="SE2321000131-E000000000101",
                  provider="SE2321000131-E000000000100", role=role, assignment="role-1",
                  fhir_user="Practitioner/prac-1")


def resident(patient_id: str, fhir_user: str | None = None) -> SignIn:
    return SignIn(kind="resident", subject="195002031234", display_name="Anna Andersson",
                  method="password", auth_time=int(time.time()), patient=patient_id,
                  fhir_user=fhir_user or f"Patient/{patient_id}")


@dataclass
class SignedIn:
    """Who `current_sign_in` says is signed in (None: nobody)."""

    who: SignIn | None = None


@dataclass
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


@dataclass
class OAuth:
    c: TestClient
    settings: Settings
    engine: Engine
    signed_in: SignedIn
    client_key: RSAKey
    admin: TestClient  # sends a system token with full scopes (creates test data)

    def authorize_params(self, pkce: Pkce, **overrides: str | None) -> dict[str, str]:
        params = {"response_type": "code", "client_id": "notes-app",
                  "redirect_uri": CALLBACK, "scope": "openid fhirUser patient/*.rs",
                  "state": "st-" + secrets.token_hex(4), "aud": self.settings.base_url,
                  "code_challenge": pkce.challenge, "code_challenge_method": "S256"}
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, pkce: Pkce, **overrides: str | None) -> Any:
        return self.c.get("/oauth/authorize", params=self.authorize_params(pkce, **overrides),
                          follow_redirects=False)

    def code(self, pkce: Pkce, **overrides: str | None) -> str:
        r = self.authorize(pkce, **overrides)
        assert r.status_code == 303, r.text
        query = redirect_query(r)
        assert "code" in query, query
        return query["code"]

    def exchange(self, code: str, pkce: Pkce, client_id: str = "notes-app",
                 auth: tuple[str, str] | None = None, **extra: str) -> Any:
        data = {"grant_type": "authorization_code", "code": code,
                "code_verifier": pkce.verifier, "redirect_uri": CALLBACK, **extra}
        if auth is None:
            data["client_id"] = client_id
        return self.c.post("/oauth/token", headers=FORM, data=data, auth=auth)

    def tokens(self, pkce: Pkce | None = None, **overrides: str | None) -> dict[str, Any]:
        pkce = pkce or Pkce()
        r = self.exchange(self.code(pkce, **overrides), pkce)
        assert r.status_code == 200, r.text
        return r.json()

    def refresh(self, refresh_token: str, client_id: str = "notes-app", **extra: str) -> Any:
        return self.c.post("/oauth/token", headers=FORM, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": client_id, **extra})

    def introspect(self, token: str) -> dict[str, Any]:
        r = self.c.post("/oauth/introspect", headers=FORM, data={"token": token},
                        auth=("portal", SECRET))
        assert r.status_code == 200, r.text
        return r.json()

    def assertion(self, client_id: str = "jwt-app") -> str:
        now = int(time.time())
        return jwt.encode({"alg": "RS384", "kid": self.client_key.kid},
                          {"iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
                           "aud": self.settings.issuer.rstrip("/") + "/oauth/token",
                           "exp": now + 120}, self.client_key, algorithms=["RS384"])

    def new_patient(self, **extra: Any) -> str:
        r = self.admin.post("/fhir/Patient", json=patient(**extra), headers=FHIR_JSON)
        assert r.status_code == 201, r.text
        return r.json()["id"]


def redirect_query(response: Any) -> dict[str, str]:
    location = response.headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def register_apps(engine: Engine, client_key: RSAKey) -> None:
    jwks = {"keys": [client_key.as_dict(private=False)]}

    def work(conn: Any) -> None:
        for table in OAUTH_TABLES:
            conn.execute(delete(table))
        register_app(conn, client_id="notes-app", name="Anteckningar", kind="public",
                     scopes=APP_SCOPES.split(), redirect_uris=[CALLBACK])
        register_app(conn, client_id="portal", name="Portalen", kind="confidential",
                     scopes=APP_SCOPES.split(), redirect_uris=[CALLBACK],
                     client_secret=SECRET)
        register_app(conn, client_id="jwt-app", name="Nyckelappen", kind="confidential",
                     scopes=APP_SCOPES.split(), redirect_uris=[CALLBACK], jwks=jwks)
        register_app(conn, client_id="lab-system", name="Labb", kind="backend",
                     scopes=["system/*.rs"], jwks=jwks)

    run_in_transaction(engine, work)


def oauth_harness(engine: Engine, settings: Settings, services: EngineServices,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuth]:
    """Registered apps and a server whose sign-in is whatever `signed_in.who` says (each test
    module wraps this in its `oauth` fixture)."""
    wipe(engine)
    key = RSAKey.generate_key(2048, parameters={"kid": "app-1", "alg": "RS384"})
    register_apps(engine, key)
    signed_in = SignedIn()
    monkeypatch.setattr(signin, "current_sign_in", lambda _request, _settings: signed_in.who)
    # The made-up people above are not in the record; test_oauth_signin_flow checks the real
    # entitlement check with real people.
    monkeypatch.setattr(grant_checks, "still_entitled", lambda *_args: True)
    app = create_app(settings, services=services, engine=engine)
    with TestClient(app) as c, TestClient(app, headers=bearer(mint_token(settings))) as admin:
        yield OAuth(c, settings, engine, signed_in, key, admin)
