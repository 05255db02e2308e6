"""Find the Patient a staff member names in the patient picker: by personnummer or by id.

The lookup runs as the server (principal.SERVER) through the repository, so it passes the
access-policy and audit hooks like any other read.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection

from vardnav.domains.identity.access.principal import SERVER
from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_OID, PERSONNUMMER_SYSTEM
from vardnav.errors import VardnavError
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository

_PERSONNUMMER = re.compile(r"^([0-9]{8})-?([0-9]{4})$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9.-]{1,64}$")


def find_patient(conn: Connection, services: EngineServices, text: str,
                 base_url: str) -> str | None:
    """The id of the one current Patient matching `text`, else None."""
    repo = Repository(conn, services, RequestContext(principal=SERVER, base_url=base_url))
    text = text.strip()
    number = _PERSONNUMMER.match(text)
    if number:
        date, tail = number.groups()
        values = [f"{system}|{date}{sep}{tail}" for system in (PERSONNUMMER_SYSTEM,
                                                               PERSONNUMMER_OID)
                  for sep in ("", "-")]
        found = dispatch(repo, FhirRequest("GET", "Patient", [
            ("identifier", ",".join(values)), ("_elements", "id"), ("_count", "2")]))
        entries = (found.body or {}).get("entry", [])
        matches = [e["resource"]["id"] for e in entries if e["search"]["mode"] == "match"]
        return matches[0] if len(matches) == 1 else None
    if _FHIR_ID.match(text):
        try:
            found = dispatch(repo, FhirRequest("GET", f"Patient/{text}"))
        except VardnavError:  # unknown or deleted
            return None
        return text if found.status == 200 else None
    return None
