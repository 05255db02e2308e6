"""Before a refresh: is the person still entitled to what the grant says? A refresh token
outlives the sign-in (up to 30 days with offline_access), so the sign-in's checks are made
again: the account is not disabled, a staff member's assignment is still current, and a
resident may still open the record (their own, or a child's under the guardian age limit).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from vardnav.config import Settings
from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.organisation.assignments import assignments_of
from vardnav.domains.identity.signin.accounts import get_account
from vardnav.domains.identity.signin.records import resident_records
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository


def still_entitled(conn: Connection, services: EngineServices, settings: Settings,
                   sign_in: dict[str, Any]) -> bool:
    subject = sign_in.get("subject")
    if not isinstance(subject, str) or not subject:
        return False
    account = get_account(conn, subject)
    if account is not None and account.disabled:
        return False  # (people signed in through the external IdP have no local account)
    repo = Repository(conn, services, RequestContext(
        principal=SERVER, base_url=settings.base_url.rstrip("/")))
    if sign_in.get("kind") == "staff":
        return any(a.assignment_id == sign_in.get("assignment")
                   for a in assignments_of(repo, subject))
    records = resident_records(repo, subject, max_child_age=settings.guardian_access_max_age)
    return any(c.patient == sign_in.get("patient") and c.fhir_user == sign_in.get("fhir_user")
               for c in records.choices)
