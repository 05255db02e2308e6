"""Looks up care providers and units (Organization) by HSA-id or id, straight from the
resource tables with a connection of its own: access policies use it while a request's
transaction is open, and must see the current state (options take effect at once)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.fhir.search.registry import param_hash
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

_IDENTIFIER = param_hash("Organization", "identifier")


class OrganizationDirectory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def by_hsa(self, hsa_id: str) -> dict[str, Any] | None:
        token = INDEX_TABLES["token"]
        stmt = (select(resource.c.content).join(token, token.c.rid == resource.c.rid)
                .where(token.c.param_hash == _IDENTIFIER, token.c.system == HSA_SYSTEM,
                       token.c.code == hsa_id, resource.c.resource_type == "Organization",
                       resource.c.deleted.is_(False)).limit(1))
        return self._one(stmt)

    def by_reference(self, reference: str | None) -> dict[str, Any] | None:
        if not reference or not reference.startswith("Organization/"):
            return None
        return self.by_id(reference.split("/", 1)[1])

    def by_id(self, fhir_id: str | None) -> dict[str, Any] | None:
        if not fhir_id:
            return None
        stmt = select(resource.c.content).where(
            resource.c.resource_type == "Organization", resource.c.fhir_id == fhir_id,
            resource.c.deleted.is_(False))
        return self._one(stmt)

    def _one(self, stmt: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return row.content if row is not None else None
