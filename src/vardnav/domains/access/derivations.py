"""Keeps the PDL tables in step with the resources they derive from, in the write's own
transaction (an engine write listener):

- care relationships from Encounter (serviceProvider), EpisodeOfCare (managingOrganization),
  CareTeam (participant and managing organisations), Task (owner) and ServiceRequest
  (performer) — open while the source is active, and for `window` seconds after a finished
  encounter or episode ends;
- consents and blocks from Consent resources (profiles.py);
- which care providers do not share their data (from Organization: type and options).

A source's rows are replaced on every write of it, and removed when it is deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, false, insert, select

from vardnav.db.direct import Direct
from vardnav.domains.access.blocked_patients import BlockedPatients
from vardnav.domains.access.pdl_tables import block, care_relationship, consent, not_sharing
from vardnav.domains.access.profiles import (
    BLOCK_EXEMPTS_ATTENTION,
    BLOCK_KIND,
    consent_category,
    extension_value,
)
from vardnav.domains.identity.organisation.assignments import org_type
from vardnav.domains.identity.organisation.options import options_of
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.swedish_time import SWEDEN as LOCAL
from vardnav.errors import Forbidden
from vardnav.fhir.datetimes import DateFormatError, now, parse_range
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.storage.tables import resource

OPEN = {
    "Encounter": {"planned", "arrived", "triaged", "in-progress", "onleave"},
    "EpisodeOfCare": {"planned", "waitlist", "active", "onhold"},
    "CareTeam": {"proposed", "active", "suspended"},
    "Task": {"requested", "received", "accepted", "ready", "in-progress", "on-hold"},
    "ServiceRequest": {"active", "on-hold"},
}
ENDED = {"Encounter": "finished", "EpisodeOfCare": "finished"}
# Set in the request context by the block operations while they write the block's Consent.
BLOCK_OPERATION = "vardnav.block-operation"


class PdlDerivations:
    def __init__(self, window_seconds: float, blocked: BlockedPatients | None = None) -> None:
        self.window = window_seconds
        # Told of every block row written here, before commit (blocked_patients.py).
        self.blocked = blocked or BlockedPatients()

    def written(self, conn: Connection, ctx: RequestContext, resource_type: str,
                fhir_id: str, stored: dict[str, Any] | None, custody: Custody) -> None:
        ref = f"{resource_type}/{fhir_id}"
        if resource_type in OPEN:
            _DELETE_RELATIONSHIPS(conn, {"ref": ref})
            if stored is not None:
                self._relationships(conn, resource_type, ref, stored, custody)
        elif resource_type == "Organization":
            self._sharing(conn, stored)
        elif resource_type == "Consent":
            self._guard_blocks(conn, ctx, ref, stored)
            conn.execute(delete(consent).where(consent.c.source_ref == ref))
            conn.execute(delete(block).where(block.c.source_ref == ref))
            if stored is not None:
                self._consent(conn, ref, stored)

    # -- care relationships ---------------------------------------------------------------

    def _relationships(self, conn: Connection, rtype: str, ref: str, res: dict[str, Any],
                       custody: Custody) -> None:
        patient = _patient_id(res, "subject" if rtype in ("Encounter", "CareTeam") else
                              "patient" if rtype == "EpisodeOfCare" else
                              "for" if rtype == "Task" else "subject")
        status = res.get("status")
        if not patient or status not in OPEN[rtype] | {ENDED.get(rtype)}:
            return
        start, end = _period(res.get("period") or res.get("executionPeriod") or {})
        start = start if start is not None else now()
        # A finished encounter or episode keeps the relationship for the window.
        end = None if status in OPEN[rtype] else (end if end is not None else now()) + self.window
        units = {u for u in (_hsa_of(conn, r) for r in _unit_refs(rtype, res)) if u}
        if not units and custody.unit:
            units = {custody.unit}
        ends = dict.fromkeys(units, end)
        if rtype == "Encounter":
            # A ward the patient was transferred away from keeps the relationship for the
            # window after the patient left it (Encounter.location, completed, by its Location's
            # managingOrganization).
            for unit, left in _former_units(conn, res):
                if unit not in units and left is not None:
                    ends[unit] = max(ends.get(unit) or 0.0, left + self.window)
        if ends:
            _INSERT_RELATIONSHIP.many(conn, [
                {"patient_id": patient, "unit": unit, "source": rtype.lower()[:16],
                 "source_ref": ref, "start": start, "end": ends[unit]} for unit in sorted(ends)])

    # -- which providers share ---------------------------------------------------------

    @staticmethod
    def _sharing(conn: Connection, org: dict[str, Any] | None) -> None:
        hsa = next((i.get("value") for i in (org or {}).get("identifier", [])
                    if i.get("system") == HSA_SYSTEM), None)
        if not hsa:
            return
        conn.execute(delete(not_sharing).where(not_sharing.c.provider == hsa))
        kind = org_type(org or {})
        if kind == "school-health" or (kind == "municipality" and "1" not in options_of(org)):
            conn.execute(insert(not_sharing).values(provider=hsa))

    # -- consent and blocks ---------------------------------------------------------------

    @staticmethod
    def _guard_blocks(conn: Connection, ctx: RequestContext, ref: str,
                      stored: dict[str, Any] | None) -> None:
        """Blocks change only through $block, $lift-block and $void-block (audited; a wrong
        block is voided, never edited or deleted)."""
        if ctx.attributes.get(BLOCK_OPERATION):
            return
        was_block = conn.execute(select(block.c.id).where(block.c.source_ref == ref)).first()
        if was_block is not None or (stored is not None and consent_category(stored) == "block"):
            raise Forbidden("Blocks are registered with Patient/{id}/$block and changed only "
                            "with Consent/{id}/$lift-block or $void-block")

    def _consent(self, conn: Connection, ref: str, res: dict[str, Any]) -> None:
        patient = _patient_id(res, "patient")
        category = consent_category(res)
        provision = res.get("provision") or {}
        actors = [a.get("reference") for a in provision.get("actor", [])]
        targets = [h for h in (_hsa_of(conn, a) for a in actors) if h]
        if not patient or not targets:
            return
        if category == "sjf-consent" and res.get("status") == "active":
            start, end = _period(provision.get("period") or {})
            for provider in targets:
                conn.execute(insert(consent).values(
                    patient_id=patient, provider=provider, start=start or 0.0, end=end,
                    source_ref=ref))
        elif category == "block":
            kind = extension_value(res, BLOCK_KIND)
            data_from, data_to = _period(provision.get("dataPeriod") or {})
            self.blocked.add(patient)
            for target in targets:
                conn.execute(insert(block).values(
                    patient_id=patient, kind=kind if kind in ("inner", "outer") else "outer",
                    provider=target if kind != "inner" else None,
                    unit=target if kind == "inner" else None,
                    data_from=data_from, data_to=data_to,
                    exempt_attention=bool(extension_value(res, BLOCK_EXEMPTS_ATTENTION)),
                    active=res.get("status") == "active", source_ref=ref))


def _patient_id(res: dict[str, Any], field: str) -> str | None:
    reference = (res.get(field) or {}).get("reference") or ""
    kind, _, pid = reference.rpartition("/")
    return pid if kind.endswith("Patient") and pid else None


def _unit_refs(rtype: str, res: dict[str, Any]) -> list[dict[str, Any]]:
    if rtype == "Encounter":
        return [res.get("serviceProvider") or {}]
    if rtype == "EpisodeOfCare":
        return [res.get("managingOrganization") or {}]
    if rtype == "CareTeam":
        refs = list(res.get("managingOrganization", []))
        for p in res.get("participant", []):
            refs += [p.get("member") or {}, p.get("onBehalfOf") or {}]
        return refs
    if rtype == "Task":
        return [res.get("owner") or {}]
    return list(res.get("performer", []))


def _former_units(conn: Connection, res: dict[str, Any]) -> list[tuple[str, float | None]]:
    """(unit HSA-id, when the patient left) for each completed Encounter.location."""
    left: dict[str, float | None] = {}
    for entry in res.get("location", []):
        kind, _, loc_id = ((entry.get("location") or {}).get("reference") or "").rpartition("/")
        if entry.get("status") == "completed" and kind.endswith("Location") and loc_id:
            end, before = _period(entry.get("period") or {})[1], left.get(loc_id)
            left[loc_id] = end if before is None or end is None else max(before, end)
    if not left:
        return []
    rows = (_LOCATION(conn, {"id": next(iter(left))}).all() if len(left) == 1 else
            conn.execute(_LOCATIONS, {"ids": sorted(left)}).all())
    units: dict[str, str | None] = {}  # one lookup per managing organisation
    out = []
    for row in rows:
        org = row.content.get("managingOrganization") or {}
        key = org.get("reference") or str(org.get("identifier"))
        if key not in units:
            units[key] = _hsa_of(conn, org)
        if units[key]:
            out.append((str(units[key]), left[row.fhir_id]))
    return out


def _hsa_of(conn: Connection, reference: dict[str, Any] | None) -> str | None:
    """The HSA-id of a referenced Organization (by identifier or by stored resource)."""
    if not reference:
        return None
    ident = reference.get("identifier") or {}
    if ident.get("system") == HSA_SYSTEM and ident.get("value"):
        return ident["value"]
    ref = reference.get("reference") or ""
    kind, _, org_id = ref.rpartition("/")
    if not kind.endswith("Organization") or not org_id:
        return None
    row = _ORGANIZATION(conn, {"org_id": org_id}).first()
    if row is None:
        return None
    return next((i.get("value") for i in row.content.get("identifier", [])
                 if i.get("system") == HSA_SYSTEM), None)


# Built once, so SQLAlchemy reuses their compiled form: they run on every Encounter write
# (each ADT step), where building them again cost more than running them; on SQLite the
# Direct ones run on the driver directly (db/direct.py).
_DELETE_RELATIONSHIPS = Direct(delete(care_relationship).where(
    care_relationship.c.source_ref == bindparam("ref")))
_INSERT_RELATIONSHIP = Direct(insert(care_relationship))
_LOCATIONS = select(resource.c.fhir_id, resource.c.content).where(
    resource.c.resource_type == "Location",
    resource.c.fhir_id.in_(bindparam("ids", expanding=True)), resource.c.deleted == false())
_LOCATION = Direct(select(resource.c.fhir_id, resource.c.content).where(  # one: no IN
    resource.c.resource_type == "Location", resource.c.fhir_id == bindparam("id"),
    resource.c.deleted == false()))
_ORGANIZATION = Direct(select(resource.c.content).where(
    resource.c.resource_type == "Organization", resource.c.fhir_id == bindparam("org_id"),
    resource.c.deleted == false()))


def _period(period: dict[str, Any]) -> tuple[float | None, float | None]:
    """A period's bounds. A date without a time is a Swedish calendar day: a consent given
    "2026-11-27" holds from midnight in Sweden, not from 01:00 (UTC's midnight)."""

    def bound(value: Any, upper: bool) -> float | None:
        if not isinstance(value, str):
            return None
        try:
            low, high = parse_range(value)
        except DateFormatError:
            return None
        edge = high if upper else low
        if "T" in value:
            return edge
        # parse_range reads a date as UTC: the same wall-clock midnight, in Sweden instead.
        return datetime.fromtimestamp(edge, UTC).replace(tzinfo=LOCAL).timestamp()

    return bound(period.get("start"), False), bound(period.get("end"), True)
