"""Where a patient is: a ward Location, and within it a room and a bed (the demo region's
hospital → ward → room → bed hierarchy, linked by Location.partOf), plus the ward's care unit
(Location.managingOrganization), which becomes the Encounter's serviceProvider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vardnav.domains.adt.codes import physical_type
from vardnav.errors import BadRequest, BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository

_MAX_DEPTH = 6


@dataclass(frozen=True)
class Place:
    ward: dict[str, Any]
    room: dict[str, Any] | None = None
    bed: dict[str, Any] | None = None

    @property
    def chain(self) -> tuple[dict[str, Any], ...]:
        """Outermost first, as in AdtEvent.location."""
        return tuple(x for x in (self.ward, self.room, self.bed) if x is not None)

    @property
    def ward_id(self) -> str:
        return str(self.ward["id"])

    @property
    def bed_id(self) -> str | None:
        return None if self.bed is None else str(self.bed["id"])

    @property
    def unit_ref(self) -> dict[str, Any]:
        ref = self.ward.get("managingOrganization")
        if not (isinstance(ref, dict) and ref.get("reference")):
            raise BusinessRuleViolation(f"Ward Location/{self.ward_id} names no care unit "
                                        "(managingOrganization)")
        return {"reference": ref["reference"]}


def fetch(repo: Repository, rtype: str, fhir_id: str | None) -> dict[str, Any] | None:
    """A current resource the caller may see, without an access-log entry of its own (the
    ADT step that uses it is logged); None if unknown or hidden. Remembered for the step's
    transaction (Repository.fetch_one): a step reads its ward, bed, staff and patient from
    several places. Shared: copy before changing it."""
    if not fhir_id:
        return None
    return repo.fetch_one(rtype, fhir_id)


def require(repo: Repository, rtype: str, fhir_id: str, what: str) -> dict[str, Any]:
    found = fetch(repo, rtype, fhir_id)
    if found is None:
        raise NotFound(f"{what}: {rtype}/{fhir_id} is not known")
    return found


def parent(repo: Repository, location: dict[str, Any]) -> dict[str, Any] | None:
    ref = (location.get("partOf") or {}).get("reference") or ""
    kind, _, parent_id = ref.rpartition("/")
    return fetch(repo, "Location", parent_id) if kind.endswith("Location") else None


def resolve(repo: Repository, *, bed_id: str | None, ward_id: str | None) -> Place:
    """The place named by a bed and/or a ward; a bed must lie in the given ward."""
    if bed_id:
        bed = require(repo, "Location", bed_id, "bed")
        if physical_type(bed) != "bd":
            raise BadRequest(f"Location/{bed_id} is not a bed (physicalType bd)")
        room, ward = None, None
        node = parent(repo, bed)
        for _ in range(_MAX_DEPTH):
            if node is None:
                break
            kind = physical_type(node)
            if kind == "ro" and room is None:
                room = node
            elif kind == "wa":
                ward = node
                break
            node = parent(repo, node)
        if ward is None:
            raise BusinessRuleViolation(f"Bed Location/{bed_id} lies in no ward")
        if ward_id and ward["id"] != ward_id:
            raise BadRequest(f"Bed Location/{bed_id} is not on ward Location/{ward_id}")
        return Place(ward, room, bed)
    if not ward_id:
        raise BadRequest("Give a bed, a ward, or both")
    ward = require(repo, "Location", ward_id, "ward")
    if physical_type(ward) != "wa":
        raise BadRequest(f"Location/{ward_id} is not a ward (physicalType wa)")
    return Place(ward)


def from_refs(repo: Repository, refs: list[str]) -> tuple[dict[str, Any], ...]:
    """The Locations behind "Location/id" references, outermost (ward) first."""
    order = {"wa": 0, "ro": 1, "bd": 2}
    found = [loc for r in dict.fromkeys(refs)
             if (loc := fetch(repo, "Location", r.rpartition("/")[2])) is not None]
    return tuple(sorted(found, key=lambda loc: order.get(physical_type(loc) or "", 3)))
