"""Custom search parameters: active SearchParameter resources stored on this server.

They are compiled into the registry when the server starts. Resources stored before a new
parameter existed are indexed by `vardnav reindex`; new writes are indexed at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, false, select

from vardnav.fhir import definitions
from vardnav.fhir.search.registry import SearchRegistry, build_registry, default_registry
from vardnav.fhir.storage.tables import resource


def stored_parameters(engine: Engine) -> list[dict[str, Any]]:
    official = {sp.get("url") for sp in definitions.load().search_parameters}
    with engine.connect() as conn:
        rows = conn.execute(select(resource.c.content).where(
            resource.c.resource_type == "SearchParameter", resource.c.deleted == false()))
        found = [r.content for r in rows]
    return [sp for sp in found
            if sp.get("status") == "active" and sp.get("url") not in official
            and sp.get("expression") and sp.get("base") and sp.get("code")]


def registry_for(engine: Engine) -> SearchRegistry:
    """The official parameters plus this server's own active SearchParameters."""
    extra = stored_parameters(engine)
    return build_registry(extra) if extra else default_registry()
