"""The FHIR API answers patient data only to a caller with a valid access token: anything
else is 401 with a WWW-Authenticate challenge and an OperationOutcome, never data."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import Fhir, bearer, mint_token, patient
from vardnav.config import Settings
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.principal import principal_claims
from vardnav.domains.identity.access.tokens import mint


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _anonymous(client: TestClient, path: str, **headers: str):
    """The request without the fixture's default token."""
    saved = client.headers.pop("Authorization", None)
    try:
        return client.get(path, headers=headers)
    finally:
        if saved is not None:
            client.headers["Authorization"] = saved


def _assert_401(response, *, with_error: bool) -> None:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "login"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="vardnav"')
    assert ('error="invalid_token"' in challenge) is with_error


@pytest.fixture
def stored(fhir: Fhir) -> str:
    return fhir.create(patient())["id"]


def test_no_token_is_401_with_challenge(client: TestClient, stored: str) -> None:
    for path in (f"/fhir/Patient/{stored}", "/fhir/Patient", "/fhir/_history",
                 f"/fhir/Patient/{stored}/$everything"):
        _assert_401(_anonymous(client, path), with_error=False)
    r = _anonymous(client, "/fhir/Patient", Authorization="Basic dXNlcjpwYXNz")
    _assert_401(r, with_error=True)


def test_capability_statement_is_public(client: TestClient) -> None:
    r = _anonymous(client, "/fhir/metadata")
    assert r.status_code == 200 and r.json()["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize("case", ["expired", "wrong_audience", "wrong_issuer", "other_key",
                                  "alg_none", "tampered", "garbage", "no_kind"])
def test_bad_tokens_are_refused(client: TestClient, settings: Settings, tmp_path: Path,
                                stored: str, case: str) -> None:
    store = KeyStore(settings.key_dir)
    good = mint_token(settings, "user/*.rs", kind="staff", subject="SE2321000131-P00001")
    claims = principal_claims(kind="system", client_id="x")
    token = {
        "expired": lambda: mint_token(settings, ttl=-120),
        "wrong_audience": lambda: mint(store, issuer=settings.issuer, audience="https://else",
                                       subject="s", scopes=["system/*.rs"], ttl_seconds=60,
                                       claims=claims),
        "wrong_issuer": lambda: mint(store, issuer="https://evil", audience=settings.base_url,
                                     subject="s", scopes=["system/*.rs"], ttl_seconds=60,
                                     claims=claims),
        "other_key": lambda: mint(KeyStore(tmp_path / "other"), issuer=settings.issuer,
                                  audience=settings.base_url, subject="s",
                                  scopes=["system/*.rs"], ttl_seconds=60, claims=claims),
        "alg_none": lambda: ".".join([_b64({"alg": "none", "typ": "JWT"}),
                                      good.split(".")[1], ""]),
        "tampered": lambda: ".".join([good.split(".")[0], _b64({
            **json.loads(base64.urlsafe_b64decode(good.split(".")[1] + "==")),
            "scope": "system/*.cruds"}), good.split(".")[2]]),
        "garbage": lambda: "not.a.token",
        "no_kind": lambda: mint(store, issuer=settings.issuer, audience=settings.base_url,
                                subject="s", scopes=["system/*.rs"], ttl_seconds=60),
    }[case]()
    r = client.get(f"/fhir/Patient/{stored}", headers=bearer(token))
    _assert_401(r, with_error=True)
    assert "Andersson" not in r.text


def test_valid_token_reads(client: TestClient, settings: Settings, stored: str) -> None:
    token = mint_token(settings, "user/Patient.rs", kind="staff", subject="SE2321000131-P1",
                       unit="SE2321000131-E1", role="physician")
    r = client.get(f"/fhir/Patient/{stored}", headers=bearer(token))
    assert r.status_code == 200 and r.json()["id"] == stored


def test_a_verified_token_is_remembered_only_until_it_expires(settings: Settings) -> None:
    from vardnav.domains.identity.access.bearer import BearerAuthenticator
    from vardnav.errors import Unauthorized

    now = [1_900_000_000.0]
    auth = BearerAuthenticator(KeyStore(settings.key_dir), issuer=settings.issuer,
                               audience=settings.base_url, clock=lambda: now[0],
                               is_revoked=lambda jti: jti == "revoked-id")
    store = KeyStore(settings.key_dir)
    token = mint(store, issuer=settings.issuer, audience=settings.base_url, subject="s",
                 scopes=["system/*.rs"], ttl_seconds=60, now=now[0],
                 claims=principal_claims(kind="system", client_id="c"))
    assert auth.principal(f"Bearer {token}").kind == "system"
    now[0] += 30
    assert auth.principal(f"Bearer {token}").kind == "system"  # from the cache
    now[0] += 120  # past exp and the clock skew allowance
    with pytest.raises(Unauthorized, match="expired"):
        auth.principal(f"Bearer {token}")
    revoked = mint(store, issuer=settings.issuer, audience=settings.base_url, subject="s",
                   scopes=["system/*.rs"], ttl_seconds=60, now=now[0],
                   claims={**principal_claims(kind="system", client_id="c"),
                           "jti": "revoked-id"})
    with pytest.raises(Unauthorized, match="revoked"):
        auth.principal(f"Bearer {revoked}")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "bearer x.y.z", "Bearer a.b",
                                    "Bearer " + "A" * 20000, "Bearer e30.e30.", "Token abc",
                                    "Bearer \u00e5\u00e4\u00f6", "Bearer ..", "Bearer a b c"])
def test_malformed_authorization_headers_are_401_never_500(
        client: TestClient, header: str) -> None:
    saved = client.headers.pop("Authorization", None)
    try:
        # Non-ASCII bytes as sent by a broken client (httpx sends bytes unchanged).
        r = client.get("/fhir/Patient",
                       headers={"Authorization": header.encode()} if header else {})
    finally:
        if saved is not None:
            client.headers["Authorization"] = saved
    assert r.status_code == 401, r.text
    assert r.json()["resourceType"] == "OperationOutcome"
    assert r.headers["www-authenticate"].startswith("Bearer")
