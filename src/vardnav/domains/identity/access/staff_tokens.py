"""Tokens minted on the server host (`vardnav token`): the staff member's assignment is read
from the record, so the token carries the same unit, provider and role a sign-in would."""

from __future__ import annotations

from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import StaffAssignment, assignments_of
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import Repository


class AssignmentError(ValueError):
    """The user has no assignment matching the request; the message says which exist."""


def choose_assignment(found: list[StaffAssignment], user: str,
                      unit: str | None) -> StaffAssignment:
    if not found:
        raise AssignmentError(f"{user} has no current assignment (Practitioner with that "
                              "HSA-id and an active PractitionerRole); load the demo region?")
    matching = [a for a in found if unit is None or a.unit_hsa == unit]
    if len(matching) == 1:
        return matching[0]
    listing = "; ".join(f"{a.unit_hsa} ({a.unit_name}, {a.profession})" for a in found)
    if not matching:
        raise AssignmentError(f"{user} has no assignment at {unit}. Assignments: {listing}")
    raise AssignmentError(f"{user} has several assignments: choose one with --unit. "
                          f"Assignments: {listing}")


def staff_assignment(settings: Settings, user: str, unit: str | None) -> StaffAssignment:
    from vardnav.main import build_services

    engine = make_engine(settings.database_url)
    try:
        services = build_services(settings, engine=engine)
        ctx = RequestContext(principal=SERVER, base_url=settings.base_url.rstrip("/"))
        found = run_in_transaction(
            engine, lambda conn: assignments_of(Repository(conn, services, ctx), user))
    finally:
        engine.dispose()
    return choose_assignment(found, user, unit)
