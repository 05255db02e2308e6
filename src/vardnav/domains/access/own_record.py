"""Staff may not open their own record (domain.md §2): a staff member's own Patient records
are those sharing a personnummer with their Practitioner resource. Looked up with a
connection of its own and remembered for a minute per staff member, so most requests pay
nothing; a Practitioner without a personnummer has no own record here."""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM
from vardnav.fhir.search.registry import param_hash
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

TTL_SECONDS = 60.0
_PATIENT_IDENTIFIER = param_hash("Patient", "identifier")


class OwnRecords:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}

    def of(self, fhir_user: str | None) -> frozenset[str]:
        """Patient ids of the staff member's own record (empty if none is known)."""
        if not fhir_user or not fhir_user.startswith("Practitioner/"):
            return frozenset()
        hit = self._cache.get(fhir_user)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = self._lookup(fhir_user.split("/", 1)[1])
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[fhir_user] = (time.monotonic() + TTL_SECONDS, found)
        return found

    def _lookup(self, practitioner_id: str) -> frozenset[str]:
        token = INDEX_TABLES["token"]
        with self.engine.connect() as conn:
            row = conn.execute(select(resource.c.content).where(
                resource.c.resource_type == "Practitioner",
                resource.c.fhir_id == practitioner_id)).first()
            numbers = [i.get("value") for i in (row.content if row else {}).get(
                "identifier", []) if i.get("system") == PERSONNUMMER_SYSTEM and i.get("value")]
            if not numbers:
                return frozenset()
            ids = conn.execute(
                select(resource.c.fhir_id).join(token, token.c.rid == resource.c.rid).where(
                    token.c.param_hash == _PATIENT_IDENTIFIER,
                    token.c.system == PERSONNUMMER_SYSTEM, token.c.code.in_(numbers),
                    resource.c.resource_type == "Patient")).scalars().all()
        return frozenset(ids)
