"""End to end: a real uvicorn server in a subprocess, driven over HTTP by the fhirpy client.

The server runs against the same test database as the rest of the suite (SQLite file by
default, PostgreSQL when VARDNAV_TEST_DATABASE_URL is set); each test wipes it first through
the `engine` fixture. Personnummer come from Skatteverket's official test list.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fhirpy import AsyncFHIRClient, SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, OperationOutcome, ResourceNotFound
from sqlalchemy import Engine

from conftest import REPO_ROOT, TESTPERSONNUMMER, mint_token, wipe
from vardnav.config import Settings

PNR_SYSTEM = "http://electronichealth.se/identifier/personnummer"
LOINC = "http://loinc.org"
STARTUP_TIMEOUT = 60.0


# -- the server ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _start(db_url: str, log_path: Path, key_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start uvicorn on a free port and wait for /fhir/metadata; retry if the port was taken
    between choosing it and binding it."""
    last_log = ""
    for _attempt in range(3):
        port = _free_port()
        base = f"http://127.0.0.1:{port}/fhir"
        env = {**os.environ, "VARDNAV_DATABASE_URL": db_url, "VARDNAV_BASE_URL": base,
               "VARDNAV_KEY_DIR": str(key_dir)}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "vardnav.main:create_app", "--factory",
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{base}/metadata", timeout=2).status_code == 200:
                    return proc, base
            except requests.RequestException:  # not listening yet, or not answering
                pass
            time.sleep(0.05)
        _stop(proc)
        last_log = log_path.read_text(errors="replace")
        if "address already in use" not in last_log.lower():
            break
    pytest.fail(f"uvicorn did not become ready within {STARTUP_TIMEOUT:.0f} s:\n{last_log}")


@pytest.fixture(scope="module")
def server_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-keys")


@pytest.fixture(scope="module")
def server(db_url: str, tmp_path_factory: pytest.TempPathFactory,
           server_keys: Path) -> Iterator[str]:
    proc, base = _start(db_url, tmp_path_factory.mktemp("uvicorn") / "server.log",
                        server_keys)
    try:
        yield base
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def auth(server: str, server_keys: Path) -> str:
    """The Authorization header value: a system token from the server's own keys."""
    return "Bearer " + mint_token(Settings(key_dir=server_keys, base_url=server))


@pytest.fixture
def fc(server: str, auth: str, engine: Engine) -> SyncFHIRClient:
    wipe(engine)
    return SyncFHIRClient(server, authorization=auth)


@pytest.fixture(scope="module")
def pnrs() -> list[str]:
    """Official test personnummer for people born 1940 or later (plausible patients)."""
    if not TESTPERSONNUMMER.is_file():
        pytest.skip(f"{TESTPERSONNUMMER} (Skatteverket's test personnummer) is missing")
    numbers = [n for n in TESTPERSONNUMMER.read_text(encoding="ascii").split()
               if "1940" <= n[:4] <= "2005"]
    assert len(numbers) >= 20
    return numbers[::len(numbers) // 20][:20]  # spread over the list, deterministic


# -- builders -----------------------------------------------------------------------------

def pnr_patient(client: SyncFHIRClient | AsyncFHIRClient, pnr: str, family: str = "Östlund",
                given: str = "Åsa") -> Any:
    return client.resource(
        "Patient",
        identifier=[{"system": PNR_SYSTEM, "value": pnr}],
        name=[{"use": "official", "family": family, "given": [given]}],
        # The second-last digit of a personnummer is odd for men.
        gender="male" if int(pnr[-2]) % 2 else "female",
        birthDate=f"{pnr[:4]}-{pnr[4:6]}-{pnr[6:8]}",
    )


def obs_body(subject: str, when: str, value: float = 72) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
            "subject": {"reference": subject}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "system": "http://unitsofmeasure.org",
                              "code": "/min", "unit": "/min"}}


def obs(client: SyncFHIRClient | AsyncFHIRClient, subject: str, when: str,
        value: float = 72) -> Any:
    return client.resource("Observation", **obs_body(subject, when, value))


def outcome_of(exc: Exception) -> dict[str, Any]:
    """The OperationOutcome carried by a fhirpy error (OperationOutcome keeps it as
    `.resource`; ResourceNotFound only keeps the response text)."""
    if isinstance(exc, OperationOutcome):
        return exc.resource
    body = json.loads(str(exc))
    assert body["resourceType"] == "OperationOutcome"
    return body


# -- tests --------------------------------------------------------------------------------

def test_create_read_update_patient_with_personnummer(fc: SyncFHIRClient,
                                                      pnrs: list[str]) -> None:
    pnr = pnrs[0]
    p = pnr_patient(fc, pnr)
    p.save()
    assert p.id and p.meta.versionId == "1"
    stale = fc.reference("Patient", p.id).to_resource()

    read = fc.get("Patient", p.id)
    assert read["identifier"] == [{"system": PNR_SYSTEM, "value": pnr}]
    assert read["name"][0]["family"] == "Östlund" and read["name"][0]["given"] == ["Åsa"]
    assert read["meta"]["versionId"] == "1"

    p["telecom"] = [{"system": "phone", "value": "+46 31 123 45 67", "use": "mobile"}]
    p.save()  # PUT, since the resource has an id
    assert p.meta.versionId == "2"
    assert stale.meta.versionId == "1"
    assert stale.refresh().meta.versionId == "2" and stale["telecom"] == p["telecom"]

    history = fc.execute(f"Patient/{p.id}/_history", method="get")
    assert history["type"] == "history" and history["total"] == 2
    v1 = fc.execute(f"Patient/{p.id}/_history/1", method="get")
    assert "telecom" not in v1 and v1["meta"]["versionId"] == "1"

    found = fc.resources("Patient").search(identifier=f"{PNR_SYSTEM}|{pnr}").get()
    assert found.id == p.id and found.meta.versionId == "2"
    # A resource rebuilt from a plain read, updated by id.
    updated = fc.resource("Patient", **{**read, "active": True}).update()
    assert updated.meta.versionId == "3" and updated["active"] is True


def test_family_search_is_accent_and_case_insensitive(fc: SyncFHIRClient,
                                                      pnrs: list[str]) -> None:
    ids = {}
    for pnr, family in zip(pnrs, ["Östlund", "Åberg", "Ängström", "Andersson"], strict=False):
        ids[family] = pnr_patient(fc, pnr, family=family).save().id
    patients = fc.resources("Patient")

    def families(**criteria: str) -> list[str]:
        return sorted(r["name"][0]["family"] for r in patients.search(**criteria).fetch_all())

    assert families(family="ostlund") == ["Östlund"]
    assert families(family="OSTLUND") == ["Östlund"]
    assert families(family="östl") == ["Östlund"]  # string search is a prefix match
    assert families(family="aberg") == ["Åberg"]
    assert families(family="angstrom") == ["Ängström"]
    assert families(family="a") == ["Andersson", "Ängström", "Åberg"]
    assert families(family__exact="Östlund") == ["Östlund"]
    assert families(family__exact="ostlund") == []
    assert patients.search(family="ostlund").get().id == ids["Östlund"]


def test_sorted_paging_visits_each_observation_once(fc: SyncFHIRClient) -> None:
    pid = fc.resource("Patient", name=[{"family": "Sjöberg"}]).save().id
    other = fc.resource("Patient", name=[{"family": "Öberg"}]).save().id
    # 23 observations, two per day, so the sort has ties the server must break stably.
    created = {}
    for i in range(23):
        when = f"2024-03-{1 + i // 2:02d}T08:00:00+01:00"
        created[obs(fc, f"Patient/{pid}", when, 60 + i).save().id] = when
    obs(fc, f"Patient/{other}", "2024-03-05T08:00:00Z").save()

    search = (fc.resources("Observation").search(subject=f"Patient/{pid}")
              .sort("-date").limit(5))
    first_page = search.fetch()
    assert len(first_page) == 5
    raw = search.fetch_raw()
    assert raw["total"] == 23
    assert any(link["relation"] == "next" for link in raw["link"])
    assert search.count() == 23

    seen = search.fetch_all()  # follows Bundle.link[next] across 5 pages
    ids = [o.id for o in seen]
    assert len(ids) == 23 and set(ids) == set(created)
    dates = [o["effectiveDateTime"] for o in seen]
    assert dates == sorted(dates, reverse=True)
    assert search.first().id == ids[0] == first_page[0].id
    assert [o.id for o in search] == ids  # iteration again: same order, same pages

    ascending = [o.id for o in search.sort("date").limit(7)]
    assert sorted(ascending) == sorted(ids)
    asc_dates = [created[i] for i in ascending]
    assert asc_dates == sorted(asc_dates)


def test_include_and_revinclude(fc: SyncFHIRClient) -> None:
    pid = fc.resource("Patient", name=[{"family": "Lindqvist"}]).save().id
    obs_ids = {obs(fc, f"Patient/{pid}", f"2024-01-0{d}T10:00:00Z").save().id
               for d in (1, 2)}

    search = (fc.resources("Observation").search(subject=f"Patient/{pid}")
              .include("Observation", "subject"))
    bundle = search.fetch_raw()
    modes = sorted((e["search"]["mode"], e["resource"]["resourceType"], e["resource"]["id"])
                   for e in bundle["entry"])
    assert modes == sorted([("include", "Patient", pid)]
                           + [("match", "Observation", o) for o in obs_ids])
    assert {o.id for o in search.fetch()} == obs_ids  # fhirpy keeps only the searched type

    rev = (fc.resources("Patient").search(_id=pid).revinclude("Observation", "subject")
           .fetch_raw())
    assert sorted((e["search"]["mode"], e["resource"]["id"]) for e in rev["entry"]) == sorted(
        [("match", pid)] + [("include", o) for o in obs_ids])


def test_transaction_bundle(fc: SyncFHIRClient, pnrs: list[str]) -> None:
    pnr = pnrs[1]
    patient_url, obs_url = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    bundle = fc.resource("Bundle", type="transaction", entry=[
        {"fullUrl": patient_url, "resource": pnr_patient(fc, pnr, family="Bäckström").serialize(),
         "request": {"method": "POST", "url": "Patient",
                     "ifNoneExist": f"identifier={PNR_SYSTEM}|{pnr}"}},
        {"fullUrl": obs_url, "resource": obs_body(patient_url, "2024-05-01T09:30:00+02:00"),
         "request": {"method": "POST", "url": "Observation"}},
    ])
    response = fc.execute("", data=bundle.serialize())
    assert response["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in response["entry"]]
    assert [s.split()[0] for s in statuses] == ["201", "201"]
    locations = [e["response"]["location"] for e in response["entry"]]
    pid = locations[0].split("Patient/", 1)[1].split("/")[0]
    oid = locations[1].split("Observation/", 1)[1].split("/")[0]
    assert fc.get("Observation", oid)["subject"]["reference"] == f"Patient/{pid}"

    # Again: the conditional Patient entry matches the existing one, the Observation is new
    # and points at that existing Patient.
    again = fc.execute("", data=bundle.serialize())
    assert [e["response"]["status"].split()[0] for e in again["entry"]] == ["200", "201"]
    oid2 = again["entry"][1]["response"]["location"].split("Observation/", 1)[1].split("/")[0]
    assert oid2 != oid
    assert fc.get("Observation", oid2)["subject"]["reference"] == f"Patient/{pid}"
    assert fc.resources("Patient").count() == 1

    # A transaction with one bad entry changes nothing.
    broken = fc.resource("Bundle", type="transaction", entry=[
        {"resource": {"resourceType": "Patient", "name": [{"family": "Nyström"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "no-such-status",
                      "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}},
    ])
    with pytest.raises(OperationOutcome) as err:
        fc.execute("", data=broken.serialize())
    assert err.value.resource["issue"][0]["severity"] in ("error", "fatal")
    assert fc.resources("Patient").count() == 1
    assert fc.resources("Observation").count() == 2


def test_conditional_create(fc: SyncFHIRClient, server: str, auth: str, pnrs: list[str]) -> None:
    pnr = pnrs[2]
    cond = SyncFHIRClient(server, authorization=auth,
                          extra_headers={"If-None-Exist": f"identifier={PNR_SYSTEM}|{pnr}"})
    # Resources built by `cond` are saved through it, so each POST carries the header.
    first = pnr_patient(cond, pnr, family="Hägglund").save()
    assert first.meta.versionId == "1"
    second = pnr_patient(cond, pnr, family="Annat").save()
    assert second.id == first.id
    assert second["name"][0]["family"] == "Hägglund" and second.meta.versionId == "1"
    assert fc.resources("Patient").search(identifier=f"{PNR_SYSTEM}|{pnr}").count() == 1

    # Two matches: 412, which fhirpy reports as MultipleResourcesFound.
    for given in ("Nils", "Olle"):
        fc.resource("Patient", name=[{"family": "Dubbel", "given": [given]}]).save()
    ambiguous = SyncFHIRClient(server, authorization=auth,
                               extra_headers={"If-None-Exist": "family=Dubbel"})
    with pytest.raises(MultipleResourcesFound) as err:
        ambiguous.resource("Patient", name=[{"family": "Dubbel"}]).save()
    assert json.loads(str(err.value))["issue"][0]["code"] == "multiple-matches"
    assert fc.resources("Patient").search(family="dubbel").count() == 2


# fhirpy's get_or_create() sends its criteria as query parameters on the POST
# (POST /Patient?identifier=...), not as If-None-Exist; the server honours both.
def test_fhirpy_get_or_create_does_not_duplicate(fc: SyncFHIRClient,
                                                 pnrs: list[str]) -> None:
    pnr = pnrs[3]
    search = fc.resources("Patient").search(identifier=f"{PNR_SYSTEM}|{pnr}")
    first, created = search.get_or_create(pnr_patient(fc, pnr))
    assert created
    second, created_again = search.get_or_create(pnr_patient(fc, pnr))
    assert (second.id, created_again) == (first.id, False)


def test_delete_then_read_is_resource_not_found(fc: SyncFHIRClient, server: str,
                                                auth: str) -> None:
    p = fc.resource("Patient", name=[{"family": "Strömberg"}]).save()
    deleted = p.delete()
    assert deleted["resourceType"] == "OperationOutcome"

    with pytest.raises(ResourceNotFound) as gone:
        fc.get("Patient", p.id)
    assert outcome_of(gone.value)["issue"][0]["code"] == "deleted"
    gone_status = requests.get(f"{server}/Patient/{p.id}", timeout=10,
                               headers={"Authorization": auth}).status_code
    assert gone_status == 410
    with pytest.raises(ResourceNotFound):
        fc.reference("Patient", p.id).to_resource()
    assert fc.resources("Patient").search(family="stromberg").fetch() == []
    with pytest.raises(ResourceNotFound):
        fc.resources("Patient").search(_id=p.id).get()  # fhirpy: no match
    assert fc.delete("Patient", p.id) is None  # deleting again: 204, nothing to return

    with pytest.raises(ResourceNotFound) as missing:
        fc.get("Patient", "does-not-exist")
    assert outcome_of(missing.value)["issue"][0]["code"] == "not-found"
    with pytest.raises(ResourceNotFound) as unknown_type:  # 404: type not supported
        fc.get("NoSuchType", "x")
    assert "NoSuchType" in outcome_of(unknown_type.value)["issue"][0]["diagnostics"]


def test_validation_errors_are_operation_outcomes(fc: SyncFHIRClient, server: str,
                                                  auth: str, pnrs: list[str]) -> None:
    pnr = pnrs[4]
    bad_check_digit = pnr[:-1] + str((int(pnr[-1]) + 1) % 10)
    with pytest.raises(OperationOutcome) as err:
        pnr_patient(fc, bad_check_digit).save()
    issue = err.value.resource["issue"][0]
    assert issue["severity"] == "error" and issue["code"] == "value"
    assert issue["expression"] == ["Patient.identifier[0].value"]
    assert "check digit" in issue["diagnostics"]

    ten_digits = pnr[2:8] + "-" + pnr[8:]  # century missing
    with pytest.raises(OperationOutcome) as err:
        fc.resource("Patient", identifier=[{"system": PNR_SYSTEM, "value": ten_digits}]).save()
    assert "10 digits" in err.value.resource["issue"][0]["diagnostics"]

    with pytest.raises(OperationOutcome) as err:
        fc.resource("Patient", birthDate="1950-02-30", favouriteColour="blå").save()
    expressions = {e for i in err.value.resource["issue"] for e in i.get("expression", [])}
    assert any("birthDate" in e for e in expressions), err.value.resource
    assert any("favouriteColour" in e for e in expressions), err.value.resource

    # The same over plain HTTP: 400 with an OperationOutcome body.
    r = requests.post(f"{server}/Patient", timeout=10,
                      json={"resourceType": "Patient",
                            "identifier": [{"system": PNR_SYSTEM, "value": bad_check_digit}]},
                      headers={"Content-Type": "application/fhir+json", "Authorization": auth})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/fhir+json")
    assert r.json()["resourceType"] == "OperationOutcome"

    assert pnr_patient(fc, pnr).is_valid() is True  # $validate
    assert pnr_patient(fc, bad_check_digit).is_valid() is False
    with pytest.raises(OperationOutcome):
        pnr_patient(fc, bad_check_digit).is_valid(raise_exception=True)
    assert fc.resources("Patient").count() == 0  # nothing invalid was stored


def test_async_client(server: str, auth: str, engine: Engine, pnrs: list[str]) -> None:
    wipe(engine)

    async def scenario() -> None:
        ac = AsyncFHIRClient(server, authorization=auth)
        # Concurrent writes: the server must serialise them (SQLite has one writer).
        patients = await asyncio.gather(*(
            pnr_patient(ac, pnr, family=f"Åkesson{i}").save()
            for i, pnr in enumerate(pnrs[5:15])))
        assert len({p.id for p in patients}) == 10
        p = patients[0]
        assert (await ac.get("Patient", p.id))["identifier"][0]["value"] == pnrs[5]

        p["active"] = True
        await p.save()
        assert p.meta.versionId == "2"

        found = await ac.resources("Patient").search(family="akesson").limit(3).fetch_all()
        assert len(found) == 10 and len({f.id for f in found}) == 10
        assert await ac.resources("Patient").search(family="akesson0").count() == 1

        await asyncio.gather(*(
            obs(ac, f"Patient/{p.id}", f"2024-02-{d:02d}T12:00:00Z").save()
            for d in range(1, 8)))
        search = (ac.resources("Observation").search(subject=f"Patient/{p.id}")
                  .sort("-date").limit(3))
        dates = [o["effectiveDateTime"] async for o in search]
        assert dates == [f"2024-02-{d:02d}T12:00:00Z" for d in range(7, 0, -1)]

        await p.delete()
        with pytest.raises(ResourceNotFound):
            await ac.get("Patient", p.id)
        with pytest.raises(OperationOutcome) as err:
            await pnr_patient(ac, pnrs[5][:-1] + "0" if pnrs[5][-1] != "0"
                              else pnrs[5][:-1] + "1").save()
        assert err.value.resource["issue"][0]["code"] == "value"

    asyncio.run(scenario())
