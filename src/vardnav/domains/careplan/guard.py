"""Keeps the plan's rules out of reach of plain REST writes (a write listener, like the bed
status guard): an interprofessional CarePlan and a risk assessment Observation are created,
changed and deleted only by the care plan operations and the ADT hooks. Otherwise a PUT could
edit a closed plan, add an intervention with no responsible profession, forge who recorded
an entry, or store a score the server never computed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from vardnav.domains.careplan.assessments import is_assessment
from vardnav.domains.careplan.plans import CAREPLAN_STEP, is_interprofessional
from vardnav.errors import Forbidden
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.storage.tables import resource_version


class CarePlanGuard:
    def written(self, conn: Connection, ctx: RequestContext, resource_type: str,
                fhir_id: str, stored: dict[str, Any] | None, custody: Custody) -> None:
        if resource_type not in ("CarePlan", "Observation") or ctx.attributes.get(
                CAREPLAN_STEP):
            return
        if self._guarded(stored) or self._guarded(self._previous(conn, resource_type, fhir_id,
                                                                 stored)):
            what = ("an interprofessional care plan" if resource_type == "CarePlan"
                    else "a risk assessment score")
            raise Forbidden(f"{resource_type}/{fhir_id} is {what}; it is changed only with "
                            "the care plan operations (see docs/careplan.md)")

    @staticmethod
    def _guarded(res: dict[str, Any] | None) -> bool:
        return is_interprofessional(res) or is_assessment(res)

    @staticmethod
    def _previous(conn: Connection, rtype: str, fhir_id: str,
                  stored: dict[str, Any] | None) -> dict[str, Any] | None:
        """The version before this write (a plain write may not turn a plan into another
        kind of CarePlan either, nor delete it)."""
        version = int(((stored or {}).get("meta") or {}).get("versionId") or 0)
        if version == 1:
            return None
        query = select(resource_version.c.content).where(
            resource_version.c.resource_type == rtype, resource_version.c.fhir_id == fhir_id)
        if version:
            query = query.where(resource_version.c.version_id == version - 1)
        # A delete's tombstone (content NULL, or JSON null) comes first: take the newest
        # version that has content.
        rows = conn.execute(query.order_by(resource_version.c.version_id.desc()).limit(2))
        return next((r for (r,) in rows if isinstance(r, dict)), None)
