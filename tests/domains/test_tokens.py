"""Access tokens: minted and validated with the server's rotating RSA keys; every forged,
expired or misdirected token is refused with 401 (Unauthorized), never a crash."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vardnav.cli import app as cli
from vardnav.domains.identity.keys import KeyStore
from vardnav.domains.identity.tokens import mint, validate
from vardnav.errors import Unauthorized

ISS, AUD = "https://vardnav.test", "https://vardnav.test/fhir"


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return KeyStore(tmp_path / "keys")


def _token(store: KeyStore, **kw: object) -> str:
    args = {"issuer": ISS, "audience": AUD, "subject": "SE2321000131-P00001",
            "scopes": ["user/*.rs"], "ttl_seconds": 300, "claims": {"unit": "U1"}}
    args.update(kw)
    return mint(store, **args)  # type: ignore[arg-type]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_round_trip_carries_who_where_and_scopes(store: KeyStore) -> None:
    claims = validate(store, _token(store), issuer=ISS, audience=AUD)
    assert claims["sub"] == "SE2321000131-P00001"
    assert claims["unit"] == "U1" and claims["scope"] == "user/*.rs"
    assert claims["exp"] - claims["iat"] == 300


@pytest.mark.parametrize("change", ["expired", "future", "issuer", "audience"])
def test_misdirected_or_stale_tokens_are_refused(store: KeyStore, change: str) -> None:
    now = time.time()
    kwargs = {"expired": {"now": now - 3600}, "future": {"now": now + 3600},
              "issuer": {"issuer": "https://evil.test"},
              "audience": {"audience": "https://other.test/fhir"}}[change]
    with pytest.raises(Unauthorized):
        validate(store, _token(store, **kwargs), issuer=ISS, audience=AUD)


def test_forged_tokens_are_refused(store: KeyStore, tmp_path: Path) -> None:
    good = _token(store)
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = ".".join([header, _b64({**claims, "scope": "user/*.cruds"}), signature])
    alg_none = ".".join([_b64({"alg": "none", "typ": "JWT"}), payload, ""])
    other_key = _token(KeyStore(tmp_path / "other"))
    for bad in (tampered, alg_none, other_key, "", "not.a.token", "a.b", good + "x"):
        with pytest.raises(Unauthorized):
            validate(store, bad, issuer=ISS, audience=AUD)


def test_rotation_keeps_old_tokens_valid_and_keys_persist(store: KeyStore) -> None:
    old = _token(store)
    store.rotate()
    new = _token(store)
    assert validate(store, old, issuer=ISS, audience=AUD)
    assert validate(store, new, issuer=ISS, audience=AUD)
    reopened = KeyStore(store.key_dir)  # a restart reads the same keys
    assert validate(reopened, old, issuer=ISS, audience=AUD)
    jwks = reopened.jwks()["keys"]
    assert len(jwks) == 2 and all("d" not in k and k["alg"] == "RS256" for k in jwks)
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in store.key_dir.glob("*.pem"))


def test_jwks_endpoint_serves_public_keys(client) -> None:
    keys = client.get("/oauth/jwks").json()["keys"]
    assert keys and all("d" not in k and "p" not in k for k in keys)


def test_cli_mints_a_token_on_the_last_line(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VARDNAV_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("VARDNAV_ISSUER", ISS)
    monkeypatch.setenv("VARDNAV_BASE_URL", AUD)
    runner = CliRunner()
    out = runner.invoke(cli, ["token", "--user", "SE2321000131-P00002", "--unit", "U9",
                              "--scope", "user/Patient.rs user/Observation.rs"])
    assert out.exit_code == 0, out.output
    claims = validate(KeyStore(tmp_path / "keys"), out.output.strip().splitlines()[-1],
                      issuer=ISS, audience=AUD)
    assert claims["unit"] == "U9" and claims["scope"] == "user/Patient.rs user/Observation.rs"
    system = runner.invoke(cli, ["token", "--system", "--scope", "system/*.rs"])
    assert validate(KeyStore(tmp_path / "keys"), system.output.strip().splitlines()[-1],
                    issuer=ISS, audience=AUD)["sub"] == "system:vardnav-cli"
    both = runner.invoke(cli, ["token", "--system", "--user", "x", "--scope", "a"])
    assert both.exit_code != 0
