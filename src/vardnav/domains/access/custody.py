"""Stamps who recorded a resource: the caller's care provider and unit, set by the server and
never taken from the client (client-sent custody tags are dropped). An update keeps the
custody of the version it replaces: the entry stays the recording provider's."""

from __future__ import annotations

from typing import Any

from vardnav.domains.access.profiles import CARE_PROVIDER_TAG, CARE_UNIT_TAG
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.hooks import Custody, RequestContext

# Set by trusted server code (demo loading, HL7 inbound) to record on behalf of a unit.
ON_BEHALF_OF = "vardnav.custody"


class PdlCustodian:
    def stamp(self, ctx: RequestContext, resource_type: str, resource: dict[str, Any],
              previous: Custody | None) -> tuple[dict[str, Any], Custody]:
        custody = previous if previous is not None and previous.owner else self._of(ctx)
        meta = dict(resource.get("meta") or {})
        tags = [t for t in meta.get("tag", []) if isinstance(t, dict)
                and t.get("system") not in (CARE_PROVIDER_TAG, CARE_UNIT_TAG)]
        if custody.owner:
            tags.append({"system": CARE_PROVIDER_TAG, "code": custody.owner})
        if custody.unit:
            tags.append({"system": CARE_UNIT_TAG, "code": custody.unit})
        if tags:
            meta["tag"] = tags
        else:
            meta.pop("tag", None)
        return ({**resource, "meta": meta} if meta else
                {k: v for k, v in resource.items() if k != "meta"}), custody

    @staticmethod
    def _of(ctx: RequestContext) -> Custody:
        p = ctx.principal
        if isinstance(p, Principal) and p.kind == "staff":
            return Custody(p.provider, p.unit)
        behalf = ctx.attributes.get(ON_BEHALF_OF)
        if isinstance(p, Principal) and p.kind == "system" and isinstance(behalf, Custody):
            return behalf
        return Custody()
