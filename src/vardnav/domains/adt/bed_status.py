"""Bed status (Location.operationalStatus, HL7 v2 table 0116): changed only by ADT steps and
by the audited `Location/{id}/$set-bed-status` operation.

- U unoccupied (free, clean), O occupied (set by admission and transfer only), H housekeeping
  (being cleaned: a discharge or transfer leaves the bed so), C closed.
- `$set-bed-status` (Parameters: `status` C, H or U; optional `reason`): staff and system
  integrations; refused for an occupied bed (the patient must leave it first) and for O.
- `BedStatusGuard` (a write listener) refuses a plain PUT/PATCH that changes a bed's status,
  so every change leaves an ADT or set-bed-status trace in the access log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from vardnav.errors import BadRequest, BusinessRuleViolation, Conflict, Forbidden
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.storage.tables import resource_version

# Set in the request context while an ADT step or $set-bed-status writes a bed's status.
BED_STATUS_STEP = "vardnav.adt.bed-status"


class BedStatusGuard:
    def written(self, conn: Connection, ctx: RequestContext, resource_type: str,
                fhir_id: str, stored: dict[str, Any] | None, custody: Custody) -> None:
        if resource_type != "Location" or stored is None or ctx.attributes.get(BED_STATUS_STEP):
            return
        version = int((stored.get("meta") or {}).get("versionId") or 1)
        if version <= 1:
            return
        previous = conn.execute(select(resource_version.c.content).where(
            resource_version.c.resource_type == "Location",
            resource_version.c.fhir_id == fhir_id,
            resource_version.c.version_id == version - 1)).scalar()
        if previous is not None and previous.get("operationalStatus") != stored.get(
                "operationalStatus"):
            raise Forbidden("A bed's status changes only with Location/{id}/$set-bed-status "
                            "or through an ADT step (admission, transfer, discharge)")


def check_new_status(code: Any, occupied: bool, name: str) -> str:
    """The status asked for, if a person may set it on this bed now."""
    if code == "O":
        raise BusinessRuleViolation("A bed becomes occupied only by an admission or transfer")
    if code not in ("C", "H", "U"):
        raise BadRequest("status must be C (closed), H (housekeeping) or U (unoccupied)")
    if occupied:
        raise Conflict(f"Bed {name} is occupied; transfer or discharge the patient first")
    return str(code)
