"""Discovery documents advertise what is built; apps are registered by administrators through
the admin API or `vardnav client add`, confidential ones getting a secret shown once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey
from oauth_support import FORM, OAuth, Pkce, oauth_harness, staff
from sqlalchemy import Engine
from typer.testing import CliRunner

from conftest import bearer, mint_token
from vardnav.cli import app as cli
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.migrate import upgrade
from vardnav.domains.identity.oauth.apps import get_app
from vardnav.domains.identity.oauth.client_secrets import verify_secret
from vardnav.fhir.storage.repository import EngineServices


@pytest.fixture
def oauth(engine: Engine, settings: Settings, services: EngineServices,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuth]:
    yield from oauth_harness(engine, settings, services, monkeypatch)


def test_smart_configuration(oauth: OAuth) -> None:
    root = oauth.settings.issuer.rstrip("/")
    for path in ("/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"):
        conf = oauth.c.get(path).json()
        assert conf["authorization_endpoint"] == f"{root}/oauth/authorize"
        assert conf["token_endpoint"] == f"{root}/oauth/token"
        assert conf["introspection_endpoint"] == f"{root}/oauth/introspect"
        assert conf["revocation_endpoint"] == f"{root}/oauth/revoke"
        assert conf["code_challenge_methods_supported"] == ["S256"]
        assert set(conf["grant_types_supported"]) == {
            "authorization_code", "refresh_token", "client_credentials"}
        assert {"launch-ehr", "launch-standalone", "client-public",
                "client-confidential-symmetric", "client-confidential-asymmetric",
                "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient",
                "permission-offline", "permission-online", "permission-patient",
                "permission-user", "permission-v1", "permission-v2", "sso-openid-connect",
                "authorize-post"} <= set(conf["capabilities"])
        keys = oauth.c.get(conf["jwks_uri"].replace(root, "")).json()["keys"]
        assert keys and all("d" not in k for k in keys)


def test_openid_configuration(oauth: OAuth) -> None:
    conf = oauth.c.get("/.well-known/openid-configuration").json()
    assert conf["issuer"] == oauth.settings.issuer
    assert conf["response_types_supported"] == ["code"]
    assert conf["subject_types_supported"] == ["public"]
    assert conf["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "openid" in conf["scopes_supported"]
    assert set(conf["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "private_key_jwt"}
    assert conf["code_challenge_methods_supported"] == ["S256"]
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert conf[name].startswith(oauth.settings.issuer.rstrip("/"))


def _as(oauth: OAuth, scopes: str, **claims: object) -> TestClient:
    return TestClient(oauth.c.app, headers=bearer(mint_token(oauth.settings, scopes, **claims)))


def _staff(oauth: OAuth, role: str) -> TestClient:
    return _as(oauth, "user/*.rs", kind="staff", subject="SE2321000131-E000000000009",
               unit="U", role=role)


def test_admin_api_needs_an_administrator(oauth: OAuth) -> None:
    anonymous = oauth.c.get("/admin/clients")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_token"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert _staff(oauth, "physician").get("/admin/clients").status_code == 403
    assert _as(oauth, "system/*.rs").get("/admin/clients").status_code == 403
    assert _staff(oauth, "administrator").get("/admin/clients").status_code == 200
    listed = oauth.admin.get("/admin/clients").json()["clients"]  # system/*.cruds
    by_id = {c["client_id"]: c for c in listed}
    assert by_id["portal"]["client_secret"] is True and by_id["notes-app"]["kind"] == "public"
    assert all("hash" not in json.dumps(c) for c in listed)


def test_admin_api_registers_a_confidential_app(oauth: OAuth) -> None:
    admin = _staff(oauth, "administrator")
    r = admin.post("/admin/clients", json={
        "client_id": "journal-viewer", "name": "Journalvisaren", "kind": "confidential",
        "scope": "openid fhirUser user/*.rs", "redirect_uris": ["http://testserver/app/callback"]})
    assert r.status_code == 201, r.text
    secret = r.json()["client_secret"]
    assert len(secret) >= 32
    with oauth.engine.connect() as conn:
        stored = get_app(conn, "journal-viewer")
    assert stored is not None and stored.secret_hash and secret not in stored.secret_hash
    assert verify_secret(secret, stored.secret_hash)
    # The new app works at once: the whole flow with its secret.
    oauth.signed_in.who = staff()
    pkce = Pkce()
    code = oauth.code(pkce, client_id="journal-viewer", scope="user/*.rs")
    assert oauth.exchange(code, pkce, auth=("journal-viewer", secret)).status_code == 200
    again = admin.post("/admin/clients", json={
        "client_id": "journal-viewer", "name": "x", "kind": "public", "scopes": ["user/*.rs"],
        "redirect_uris": ["http://testserver/cb"]})
    assert again.status_code == 409
    for bad in ({"client_id": "x1"}, [], {"client_id": "ok-id", "name": "n", "kind": "public",
                                          "scopes": "user/*.rs", "redirect_uris": []},
                {"client_id": "ok-id", "name": "n", "kind": "public", "scopes": "user/*.rs",
                 "redirect_uris": ["https://app.example/cb#fragment"]}):
        r = admin.post("/admin/clients", json=bad)
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", bad
    assert admin.post("/admin/clients", content=b"{").status_code == 400


def test_cli_adds_and_lists_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade(url)
    monkeypatch.setenv("VARDNAV_DATABASE_URL", url)
    runner = CliRunner()
    out = runner.invoke(cli, ["client", "add", "--client-id", "portal", "--name", "Portalen",
                              "--kind", "confidential", "--scope", "openid user/*.rs",
                              "--redirect-uri", "https://portal.example/cb"])
    assert out.exit_code == 0, out.output
    secret = out.output.strip().splitlines()[-1]
    public = runner.invoke(cli, ["client", "add", "--client-id", "notes", "--name", "Notes",
                                 "--kind", "public", "--scope", "patient/*.rs",
                                 "--redirect-uri", "https://notes.example/cb"])
    assert public.exit_code == 0 and "secret" not in public.output.lower()
    own = runner.invoke(cli, ["client", "add", "--client-id", "own", "--name", "Own",
                              "--kind", "confidential", "--scope", "user/*.rs",
                              "--redirect-uri", "https://own.example/cb", "--secret-stdin"],
                        input="s" * 40 + "\n")
    assert own.exit_code == 0 and "s" * 40 not in own.output
    short = runner.invoke(cli, ["client", "add", "--client-id", "short", "--name", "Short",
                                "--kind", "confidential", "--scope", "user/*.rs",
                                "--redirect-uri", "https://x.example/cb", "--secret-stdin"],
                          input="tooshort\n")
    assert short.exit_code == 1
    key = RSAKey.generate_key(2048, parameters={"kid": "k", "alg": "RS384"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    alias = runner.invoke(cli, ["app", "register", "--client-id", "lab", "--name", "Labb",
                                "--scope", "system/*.rs", "--jwks-file", str(jwks)])
    assert alias.exit_code == 0, alias.output
    engine = make_engine(url)
    with engine.connect() as conn:
        portal, own_app = get_app(conn, "portal"), get_app(conn, "own")
    engine.dispose()
    assert portal is not None and verify_secret(secret, portal.secret_hash)
    assert own_app is not None and verify_secret("s" * 40, own_app.secret_hash)
    listing = runner.invoke(cli, ["client", "list"])
    assert listing.exit_code == 0
    for client_id in ("portal", "notes", "own", "lab"):
        assert client_id in listing.output
    assert "client_secret_basic" in listing.output and secret not in listing.output


def test_duplicate_form_parameters_are_refused(oauth: OAuth) -> None:
    r = oauth.c.post("/oauth/token", headers=FORM,
                     content=b"grant_type=refresh_token&grant_type=authorization_code")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
