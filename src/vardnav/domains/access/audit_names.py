"""Who is who in the access log: care units, providers and staff by HSA-id, and patients by
id, read straight from the resource tables on the caller's connection.

These lookups serve the log extract and the log review, which are themselves audited as one
interaction each; going through the repository would log every name lookup besides.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from vardnav.domains.access.audit_events import HSA_SYSTEM
from vardnav.fhir.search.registry import param_hash
from vardnav.fhir.storage.tables import INDEX_TABLES, resource

_CHUNK = 500


def by_hsa(conn: Connection, rtype: str, hsa_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Current resources of `rtype` (Organization, Practitioner) by their HSA-id."""
    token = INDEX_TABLES["token"]
    wanted = sorted({h for h in hsa_ids if h})
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), _CHUNK):
        stmt = (select(token.c.code, resource.c.content)
                .join(resource, token.c.rid == resource.c.rid)
                .where(token.c.param_hash == param_hash(rtype, "identifier"),
                       token.c.system == HSA_SYSTEM, token.c.code.in_(wanted[i:i + _CHUNK]),
                       resource.c.resource_type == rtype, resource.c.deleted.is_(False)))
        for row in conn.execute(stmt):
            found.setdefault(row.code, row.content)
    return found


def by_id(conn: Connection, rtype: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    wanted = sorted({i for i in ids if i})
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), _CHUNK):
        stmt = select(resource.c.fhir_id, resource.c.content).where(
            resource.c.resource_type == rtype, resource.c.fhir_id.in_(wanted[i:i + _CHUNK]),
            resource.c.deleted.is_(False))
        for row in conn.execute(stmt):
            found[row.fhir_id] = row.content
    return found


def exists(conn: Connection, rtype: str, fhir_id: str) -> bool:
    """Whether the resource was ever stored (a deleted patient still has a log)."""
    return conn.execute(select(resource.c.rid).where(
        resource.c.resource_type == rtype, resource.c.fhir_id == fhir_id)).first() is not None


def organisation_names(conn: Connection, hsa_ids: Iterable[str]) -> dict[str, str]:
    return {h: str(org.get("name") or h) for h, org in by_hsa(conn, "Organization",
                                                                hsa_ids).items()}


def person_name(content: dict[str, Any]) -> str | None:
    """A person's name for display: the official one if marked, else the first."""
    names = [n for n in content.get("name", []) if isinstance(n, dict)]
    if not names:
        return None
    name = next((n for n in names if n.get("use") == "official"), names[0])
    if name.get("text"):
        return str(name["text"])
    parts = [*(str(g) for g in name.get("given", [])), str(name.get("family") or "")]
    return " ".join(p for p in parts if p) or None


def staff_names(conn: Connection, hsa_ids: Iterable[str]) -> dict[str, str]:
    found = by_hsa(conn, "Practitioner", hsa_ids)
    return {h: name for h, p in found.items() if (name := person_name(p))}
