"""Demo sign-in accounts: every demo staff member, and a handful of demo residents, one of
them guardian of a young child (and of a teenager, to show the age limit). All share the
documented password `DEMO_PASSWORD`; never use it outside a demo.

Guardianship is added here as a RelatedPerson (GUARD) because the synthetic population has
none. Re-running finds what exists (conditional creates, existing accounts kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import display_name, hsa_of
from vardnav.domains.identity.signin.accounts import create_account, get_account, hash_password
from vardnav.domains.identity.signin.records import ROLE_CODE_SYSTEM
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository

DEMO_PASSWORD = "vardnav-demo"
OTHER_RESIDENTS = 3
HTEST = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "HTEST"}


@dataclass
class DemoAccounts:
    staff: list[str] = field(default_factory=list)  # HSA-ids
    residents: list[tuple[str, str]] = field(default_factory=list)  # (personnummer, who)
    two_assignments: str | None = None  # HSA-id of a staff member who must choose
    guardianships_created: int = 0  # RelatedPerson resources stored by this run


def _years_before(today: date, years: int) -> str:
    day = 28 if (today.month, today.day) == (2, 29) else today.day
    return date(today.year - years, today.month, day).isoformat()


def _pnr(patient: dict[str, Any]) -> str | None:
    return next((i.get("value") for i in patient.get("identifier", [])
                 if i.get("system") == PERSONNUMMER_SYSTEM), None)


class _Demo:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def search(self, rtype: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        bundle = dispatch(self.repo, FhirRequest("GET", rtype, query, {}, None)).body or {}
        return [e["resource"] for e in bundle.get("entry", [])]

    def patients_born(self, after: str, before: str, n: int) -> list[dict[str, Any]]:
        found = self.search("Patient", [("birthdate", f"gt{after}"), ("birthdate", f"lt{before}"),
                                        ("_sort", "birthdate,_id"), ("_count", str(n + 5))])
        return [p for p in found if _pnr(p)][:n]

    def guardianship(self, guardian: dict[str, Any], child: dict[str, Any]) -> bool:
        """Store the link unless it exists; True when it was created now."""
        pnr = _pnr(guardian) or ""
        link = {"resourceType": "RelatedPerson", "meta": {"tag": [HTEST]}, "active": True,
                "patient": {"reference": f"Patient/{child['id']}"},
                "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": pnr}],
                "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": "GUARD",
                                              "display": "guardian"}]}],
                "name": guardian.get("name", [])[:1]}
        exists = f"identifier={PERSONNUMMER_SYSTEM}|{pnr}&patient=Patient/{child['id']}"
        response = dispatch(self.repo, FhirRequest("POST", "RelatedPerson", [],
                                                   {"if-none-exist": exists}, link))
        if response.status >= 300:
            raise RuntimeError(f"Could not store the demo guardianship: {response.body}")
        return response.status == 201


def create_demo_accounts(settings: Settings, *, today: date | None = None) -> DemoAccounts:
    """Accounts for the demo staff and residents (see the module docstring)."""
    from vardnav.main import build_services

    today = today or date.today()
    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine)
    try:
        return run_in_transaction(engine, lambda conn: _create(conn, services, settings, today))
    finally:
        engine.dispose()


def _create(conn: Connection, services: EngineServices, settings: Settings,
            today: date) -> DemoAccounts:
    demo = _Demo(Repository(conn, services, RequestContext(
        principal=SERVER, base_url=settings.base_url.rstrip("/"))))
    result = DemoAccounts()
    staff = demo.search("Practitioner", [("_count", "1000"), ("_sort", "_id")])
    result.staff = sorted(h for p in staff if (h := hsa_of(p)))
    roles = demo.search("PractitionerRole", [("_count", "1000"), ("_elements", "practitioner")])
    per_person: dict[str, int] = {}
    for role in roles:
        ref = (role.get("practitioner") or {}).get("reference", "")
        per_person[ref] = per_person.get(ref, 0) + 1
    busy = {ref.rpartition("/")[2] for ref, n in per_person.items() if n > 1}
    result.two_assignments = next((hsa_of(p) for p in staff if p["id"] in busy), None)

    guardian = next(iter(demo.patients_born(_years_before(today, 50),
                                            _years_before(today, 30), 1)), None)
    child = next(iter(demo.patients_born(_years_before(today, 12),
                                         _years_before(today, 2), 1)), None)
    teen = next(iter(demo.patients_born(_years_before(today, 17),
                                        _years_before(today, 14), 1)), None)
    if guardian and child:
        result.guardianships_created += demo.guardianship(guardian, child)
        about = f"vårdnadshavare till {display_name(child)} (barn under 13)"
        if teen:
            result.guardianships_created += demo.guardianship(guardian, teen)
            about += f" och {display_name(teen)} (över gränsen: visas inte)"
        result.residents.append((_pnr(guardian) or "", f"{display_name(guardian)}, {about}"))
    taken = {p["id"] for p in (guardian, child, teen) if p}
    adults = [p for p in demo.patients_born(_years_before(today, 70),
                                            _years_before(today, 18), OTHER_RESIDENTS + 3)
              if p["id"] not in taken][:OTHER_RESIDENTS]
    result.residents += [(_pnr(p) or "", display_name(p)) for p in adults]

    hashed = hash_password(DEMO_PASSWORD)  # one hash for all: the password is public anyway
    for username, kind in ([(h, "staff") for h in result.staff]
                           + [(pnr, "resident") for pnr, _ in result.residents]):
        if get_account(conn, username) is None:
            create_account(conn, username=username, kind=kind, password_hash=hashed)
    return result
