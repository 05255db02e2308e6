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
from vardnav.domains.identity.access.keys import KeyStore
from vardnav.domains.identity.access.tokens import mint, validate
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


def test_a_key_rotated_by_another_process_is_learned(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from vardnav.domains.identity.access import keys

    server_a, server_b = KeyStore(tmp_path / "shared"), KeyStore(tmp_path / "shared")
    assert [k.kid for k in server_a._keys] == [k.kid for k in server_b._keys]  # one first key
    server_b.rotate()
    token = _token(server_b)
    monkeypatch.setattr(keys, "RELOAD_SECONDS", 0.0)
    assert validate(server_a, token, issuer=ISS, audience=AUD)["sub"]
    monkeypatch.setattr(keys, "RELOAD_SECONDS", 3600.0)
    with pytest.raises(Unauthorized):  # unknown key ids do not make every request read disk
        validate(server_a, _token(KeyStore(tmp_path / "elsewhere")), issuer=ISS, audience=AUD)


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: KeyStore(tmp_path / "fresh"), range(4)))
    assert len({tuple(k.kid for k in s._keys) for s in stores}) == 1
    assert len(list((tmp_path / "fresh").glob("*.pem"))) == 1


def test_jwks_endpoint_serves_public_keys(client) -> None:
    keys = client.get("/oauth/jwks").json()["keys"]
    assert keys and all("d" not in k and "p" not in k for k in keys)


def _two_assignment_physician() -> tuple[str, list[str], str]:
    """(HSA-id, unit HSA-ids, region HSA-id) of the demo physician with two assignments."""
    from vardnav.domains.identity.organisation.region import HSA_SYSTEM, region_bundle
    from vardnav.domains.identity.organisation.region_data import REGION_HSA

    entries = {e["fullUrl"]: e["resource"] for e in region_bundle()["entry"]}

    def hsa(url: str) -> str:
        return next(i["value"] for i in entries[url]["identifier"]
                    if i["system"] == HSA_SYSTEM)

    units: dict[str, list[str]] = {}
    for r in entries.values():
        if r["resourceType"] == "PractitionerRole":
            units.setdefault(r["practitioner"]["reference"], []).append(
                hsa(r["organization"]["reference"]))
    person, held = next((p, u) for p, u in units.items() if len(u) == 2)
    return hsa(person), held, REGION_HSA


def test_cli_mints_a_token_on_the_last_line(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from vardnav.config import Settings
    from vardnav.db.migrate import upgrade
    from vardnav.demo.loader import load_region

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VARDNAV_DATABASE_URL", url)
    monkeypatch.setenv("VARDNAV_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("VARDNAV_ISSUER", ISS)
    monkeypatch.setenv("VARDNAV_BASE_URL", AUD)
    upgrade(url)
    load_region(Settings())
    physician, units, region = _two_assignment_physician()
    runner = CliRunner()
    scope = ["--scope", "user/Patient.rs user/Observation.rs"]
    ambiguous = runner.invoke(cli, ["token", "--user", physician, *scope])
    assert ambiguous.exit_code == 1 and "several assignments" in ambiguous.output
    assert all(u in ambiguous.output.replace("\n", "") for u in units)
    out = runner.invoke(cli, ["token", "--user", physician, "--unit", units[1], *scope])
    assert out.exit_code == 0, out.output
    claims = validate(KeyStore(tmp_path / "keys"), out.output.strip().splitlines()[-1],
                      issuer=ISS, audience=AUD)
    assert (claims["kind"], claims["unit"], claims["provider"], claims["role"]) == (
        "staff", units[1], region, "physician")
    assert claims["scope"] == "user/Patient.rs user/Observation.rs"
    assert claims["fhirUser"].startswith("Practitioner/")
    unknown = runner.invoke(cli, ["token", "--user", "SE2321000131-NOBODY", *scope])
    assert unknown.exit_code == 1 and "no current assignment" in unknown.output
    system = runner.invoke(cli, ["token", "--system", "--scope", "system/*.rs"])
    system_claims = validate(KeyStore(tmp_path / "keys"), system.output.strip().splitlines()[-1],
                             issuer=ISS, audience=AUD)
    assert (system_claims["sub"], system_claims["kind"]) == ("system:vardnav-cli", "system")
    both = runner.invoke(cli, ["token", "--system", "--user", "x", "--scope", "a"])
    assert both.exit_code != 0
