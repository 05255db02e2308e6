"""SMART Backend Services: a registered integration gets a system token with a signed JWT
assertion; every forged, replayed, misdirected or over-asking request gets an RFC 6749 error."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import Engine

from conftest import wipe
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.tokens import validate
from vardnav.domains.identity.models import oauth_client, used_assertion
from vardnav.domains.identity.oauth.apps import register_app
from vardnav.errors import BadRequest
from vardnav.main import create_app

FORM = {"content-type": "application/x-www-form-urlencoded"}
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "lab-1", "alg": "RS384"})


@pytest.fixture
def oauth(engine: Engine, settings: Settings, client_key: RSAKey) -> TestClient:
    wipe(engine)
    with engine.begin() as conn:
        conn.execute(used_assertion.delete())
        conn.execute(oauth_client.delete())
    run_in_transaction(engine, lambda conn: register_app(
        conn, client_id="lab-system", name="Labbsystemet", kind="backend",
        scopes=["system/Observation.cruds", "system/Patient.rs"],
        jwks={"keys": [client_key.as_dict(private=False)]}))
    return TestClient(create_app(settings, engine=engine))


def assertion(key: RSAKey, settings: Settings, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "lab-system", "sub": "lab-system", "jti": str(uuid.uuid4()),
            "aud": settings.issuer.rstrip("/") + "/oauth/token", "exp": now + 240, **claims}
    return jwt.encode({"alg": "RS384", "kid": key.kid}, body, key, algorithms=["RS384"])


def ask(c: TestClient, signed: str, scope: str = "system/Observation.cruds") -> Any:
    return c.post("/oauth/token", headers=FORM, data={
        "grant_type": "client_credentials", "client_assertion_type": TYPE,
        "client_assertion": signed, "scope": scope})


def test_backend_client_gets_a_system_token(oauth: TestClient, client_key: RSAKey,
                                            settings: Settings) -> None:
    r = ask(oauth, assertion(client_key, settings), "system/Observation.cruds system/Patient.rs")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] <= 300
    assert body["scope"] == "system/Observation.cruds system/Patient.rs"
    assert r.headers["cache-control"] == "no-store"
    claims = validate(KeyStore(settings.key_dir), body["access_token"],
                      issuer=settings.issuer, audience=settings.base_url)
    assert claims["sub"] == "system:lab-system" and claims["client_id"] == "lab-system"


def test_refusals_follow_rfc_6749(oauth: TestClient, client_key: RSAKey,
                                  settings: Settings) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "lab-1", "alg": "RS384"})
    cases = {
        "invalid_client": [
            assertion(stranger, settings),  # signed with a key that is not registered
            assertion(client_key, settings, iss="nobody", sub="nobody"),
            assertion(client_key, settings, sub="someone-else"),
            assertion(client_key, settings, aud="https://elsewhere/token"),
            assertion(client_key, settings, exp=int(time.time()) - 10),
            assertion(client_key, settings, exp=int(time.time()) + 3600),
            "not-a-jwt",
        ],
    }
    for signed in cases["invalid_client"]:
        r = ask(oauth, signed)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    replayed = assertion(client_key, settings)
    assert ask(oauth, replayed).status_code == 200
    again = ask(oauth, replayed)
    assert again.status_code == 401 and "already used" in again.json()["error_description"]
    over = ask(oauth, assertion(client_key, settings), "system/*.cruds")
    assert over.status_code == 400 and over.json()["error"] == "invalid_scope"
    user_scope = ask(oauth, assertion(client_key, settings), "user/Patient.rs")
    assert user_scope.json()["error"] == "invalid_scope"
    wrong_grant = oauth.post("/oauth/token", headers=FORM, data={"grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    missing = oauth.post("/oauth/token", headers=FORM, data={
        "grant_type": "client_credentials"})
    assert missing.json()["error"] == "invalid_request"
    as_json = oauth.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"


def test_registration_rules(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(oauth_client.delete())
        for kwargs in ({"client_id": "x", "kind": "backend"},
                       {"client_id": "lab", "kind": "robot"},
                       {"client_id": "lab", "kind": "backend"},  # no JWKS
                       {"client_id": "app", "kind": "public"}):  # no redirect URI
            with pytest.raises(BadRequest):
                register_app(conn, name="n", scopes=["system/*.rs"], **kwargs)


def test_cli_registers_an_app(tmp_path, monkeypatch, client_key: RSAKey) -> None:
    import json

    from typer.testing import CliRunner

    from vardnav.cli import app as cli
    from vardnav.db.engine import make_engine
    from vardnav.db.migrate import upgrade
    from vardnav.domains.identity.oauth.apps import get_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("VARDNAV_DATABASE_URL", url)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [client_key.as_dict(private=False)]}))
    out = CliRunner().invoke(cli, ["app", "register", "--client-id", "pharmacy", "--name",
                                   "Apoteket", "--scope", "system/MedicationRequest.rs",
                                   "--jwks-file", str(jwks)])
    assert out.exit_code == 0, out.output
    engine = make_engine(url)
    with engine.connect() as conn:
        registered = get_app(conn, "pharmacy")
    engine.dispose()
    assert registered is not None and registered.scopes == ["system/MedicationRequest.rs"]
    assert registered.jwks == {"keys": [client_key.as_dict(private=False)]}


def test_smart_configuration_advertises_backend_services(oauth: TestClient,
                                                         settings: Settings) -> None:
    for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        conf = oauth.get(path).json()
        assert conf["token_endpoint"] == settings.issuer.rstrip("/") + "/oauth/token"
        assert "client_credentials" in conf["grant_types_supported"]
        assert "private_key_jwt" in conf["token_endpoint_auth_methods_supported"]
        assert oauth.get(conf["jwks_uri"].replace(settings.issuer.rstrip("/"), "")).json()[
            "keys"]
