"""Helpers for the sign-in tests: people in the record (through the engine, as the server),
accounts, and reading the session back from a test client's cookie."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete
from starlette.requests import Request

from conftest import wipe
from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.models import login_failure, user_account
from vardnav.domains.identity.organisation.region import HSA_SYSTEM, region_bundle
from vardnav.domains.identity.signin.accounts import create_account, hash_password
from vardnav.domains.identity.signin.records import ROLE_CODE_SYSTEM
from vardnav.domains.identity.signin.session import COOKIE_NAME, SignIn, current_sign_in
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository

PASSWORD = "rätt-lösenord-1"
WRONG_MESSAGE = "Fel användarnamn eller lösenord."
FORM = {"content-type": "application/x-www-form-urlencoded"}


def personnummer(born: date, serial: int) -> str:
    """A valid 12-digit personnummer (Luhn check digit over YYMMDDNNN)."""
    nine = f"{born:%y%m%d}{serial:03d}"
    total = sum((d // 10 + d % 10) for d in (int(c) * (2 - i % 2) for i, c in enumerate(nine)))
    return f"{born:%Y}{nine[2:]}{(10 - total % 10) % 10}"


def years_ago(years: int, days: int = 0) -> date:
    today = date.today()
    born = today.replace(year=today.year - years) if (today.month, today.day) != (2, 29) \
        else date(today.year - years, 3, 1)
    return date.fromordinal(born.toordinal() - days)


@dataclass
class People:
    busy_hsa: str  # a physician with two assignments (MED1-physician)
    single_hsa: str  # a staff member with one assignment
    guardian: str  # personnummer of a parent with a Patient record
    child: str  # Patient id, 8 years old
    teen: str  # Patient id, 15 years old
    guardian_patient: str
    child_link: str  # RelatedPerson id
    lonely: str  # personnummer with an account but no Patient record
    region_hsa: str


def post(engine: Engine, services: EngineServices, settings: Settings,
         request: FhirRequest) -> Any:
    ctx = RequestContext(principal=SERVER, base_url=settings.base_url.rstrip("/"))
    response = run_in_transaction(
        engine, lambda conn: dispatch(Repository(conn, services, ctx), request))
    assert response.status < 300, response.body
    return response.body


def create(engine: Engine, services: EngineServices, settings: Settings,
           resource: dict[str, Any]) -> str:
    body = post(engine, services, settings,
                FhirRequest("POST", resource["resourceType"], [], {}, resource))
    return body["id"]


def patient_with(pnr: str, born: date, given: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "birthDate": born.isoformat(),
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": pnr}],
            "name": [{"family": "Berg", "given": [given]}]}


def guardianship(guardian_pnr: str, child_id: str) -> dict[str, Any]:
    return {"resourceType": "RelatedPerson", "active": True,
            "patient": {"reference": f"Patient/{child_id}"},
            "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": guardian_pnr}],
            "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": "GUARD"}]}],
            "name": [{"family": "Berg", "given": ["Eva"]}]}


def load_people(engine: Engine, services: EngineServices, settings: Settings) -> People:
    wipe(engine)
    post(engine, services, settings, FhirRequest("POST", "", [], {}, region_bundle()))
    bundle = region_bundle()  # a fresh copy: loading resolves its references in place
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    roles = [e["resource"] for e in bundle["entry"]
             if e["resource"]["resourceType"] == "PractitionerRole"]
    per_person = Counter(r["practitioner"]["reference"] for r in roles)
    hsa = {url: next(i["value"] for i in by_url[url]["identifier"]
                     if i["system"] == HSA_SYSTEM) for url in per_person}
    busy = next(url for url, n in per_person.items() if n == 2)
    single = next(url for url, n in per_person.items() if n == 1)
    region = next(r for r in by_url.values() if r.get("name") == "Västra Götalandsregionen")

    parent_born, child_born, teen_born = years_ago(40), years_ago(8), years_ago(15)
    guardian = personnummer(parent_born, 123)
    guardian_patient = create(engine, services, settings,
                              patient_with(guardian, parent_born, "Eva"))
    child = create(engine, services, settings,
                   patient_with(personnummer(child_born, 234), child_born, "Liv"))
    teen = create(engine, services, settings,
                  patient_with(personnummer(teen_born, 345), teen_born, "Tor"))
    child_link = create(engine, services, settings, guardianship(guardian, child))
    create(engine, services, settings, guardianship(guardian, teen))
    people = People(busy_hsa=hsa[busy], single_hsa=hsa[single], guardian=guardian,
                    child=child, teen=teen, guardian_patient=guardian_patient,
                    child_link=child_link, lonely=personnummer(years_ago(30), 456),
                    region_hsa=region["identifier"][0]["value"])
    reset_accounts(engine, people)
    return people


def reset_accounts(engine: Engine, people: People) -> None:
    hashed = hash_password(PASSWORD)

    def work(conn: Any) -> None:
        conn.execute(delete(login_failure))
        conn.execute(delete(user_account))
        for name in (people.busy_hsa, people.single_hsa):
            create_account(conn, username=name, kind="staff", password_hash=hashed)
        for name in (people.guardian, people.lonely):
            create_account(conn, username=name, kind="resident", password_hash=hashed)

    run_in_transaction(engine, work)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def login(c: TestClient, username: str, password: str = PASSWORD, next_url: str = "/app",
          token: str | None = None) -> Any:
    if token is None:
        token = csrf_of(c.get("/login", params={"next": next_url}).text)
    return c.post("/login", headers=FORM, data={"csrf": token, "username": username,
                                                "password": password, "next": next_url})


def choose(c: TestClient, choice: str) -> Any:
    token = csrf_of(c.get("/login/choose").text)
    return c.post("/login/choose", headers=FORM, data={"csrf": token, "choice": choice})


def choices_of(html: str) -> list[str]:
    return re.findall(r'name="choice" value="([^"]+)"', html)


def signed_in(c: TestClient, settings: Settings) -> SignIn | None:
    """What `current_sign_in` makes of the client's cookie."""
    cookie = c.cookies.get(COOKIE_NAME)
    headers = [(b"cookie", f"{COOKIE_NAME}={cookie}".encode())] if cookie else []
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": headers,
                       "query_string": b""})
    return current_sign_in(request, settings)
