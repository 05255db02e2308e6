"""The Patient compartment (official CompartmentDefinition-patient): which resources belong
to one patient, as SQL over the reference index and as a check on a resource body.

Used by `$everything` and by access policies that confine a caller to one patient.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.sql import FromClause

from vardnav.fhir import definitions
from vardnav.fhir.search.registry import SearchRegistry
from vardnav.fhir.storage.tables import INDEX_TABLES

# R4's CompartmentDefinition leaves Task out, yet a Task for a patient (a referral, a
# discharge notice) is that patient's data: access rules and $everything must treat it so.
_ADDED_TO_COMPARTMENT = {"Task": ["patient"]}


@cache
def compartment_params() -> dict[str, list[str]]:
    """Resource type → the search parameters that put it in a Patient's compartment: the
    official R4 definition plus the additions above."""
    params = {t: list(names) for t, names in definitions.load().patient_compartment.items()}
    for rtype, names in _ADDED_TO_COMPARTMENT.items():
        params.setdefault(rtype, [])
        params[rtype] += [n for n in names if n not in params[rtype]]
    return params


@cache
def compartment_hashes(registry: SearchRegistry) -> dict[str, list[int]]:
    """Resource type → param hashes that put a resource in a Patient's compartment."""
    out: dict[str, list[int]] = {}
    for rtype, params in compartment_params().items():
        hashes = [p.param_hash for name in params
                  if (p := registry.get(rtype, name)) is not None and p.type == "reference"]
        if hashes:
            out[rtype] = hashes
    return out


def in_patient_compartment(registry: SearchRegistry, table: FromClause, patient_id: str,
                           types: set[str] | None) -> ColumnElement[bool]:
    """SQL: the row of `table` (the resource table or an alias) is the patient or in the
    patient's compartment; with `types`, only resources of those types qualify."""
    ref = INDEX_TABLES["reference"]
    per_type = {t: h for t, h in compartment_hashes(registry).items()
                if types is None or t in types}
    hashes = [h for hs in per_type.values() for h in hs]
    conditions: list[ColumnElement[bool]] = []
    if types is None or "Patient" in types:
        conditions.append(and_(table.c.resource_type == "Patient",
                               table.c.fhir_id == patient_id))
    if hashes:
        # Hashes are per (type, parameter), so one IN list serves every type at once.
        conditions.append(exists(select(ref.c.rid).where(
            ref.c.rid == table.c.rid, ref.c.param_hash.in_(hashes),
            ref.c.target_type == "Patient", ref.c.target_id == patient_id)))
    return or_(*conditions) if conditions else false()


def resource_in_compartment(registry: SearchRegistry, content: dict[str, Any],
                            patient_id: str) -> bool:
    """Whether a resource body is the patient or names the patient in a compartment param."""
    rtype = content.get("resourceType")
    if rtype == "Patient":
        return content.get("id") == patient_id
    wanted = {f"Patient/{patient_id}"}
    for name in compartment_params().get(str(rtype), []):
        param = registry.get(str(rtype), name)
        if param is None or param.type != "reference":
            continue
        for value in param.evaluate(content):
            ref = value.get("reference") if isinstance(value, dict) else None
            if isinstance(ref, str) and _relative(ref) in wanted:
                return True
    return False


def _relative(reference: str) -> str:
    """`http://host/fhir/Patient/1` and `Patient/1/_history/2` both name `Patient/1`."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:])


def patients_of(registry: SearchRegistry, content: dict[str, Any]) -> list[str]:
    """The ids of the patients whose compartment holds this resource (a Patient: itself)."""
    rtype = content.get("resourceType")
    if rtype == "Patient":
        return [content["id"]] if content.get("id") else []
    found: list[str] = []
    for name in compartment_params().get(str(rtype), []):
        param = registry.get(str(rtype), name)
        if param is None or param.type != "reference":
            continue
        for value in param.evaluate(content):
            ref = value.get("reference") if isinstance(value, dict) else None
            if isinstance(ref, str):
                kind, _, pid = _relative(ref).partition("/")
                if kind == "Patient" and pid and pid not in found:
                    found.append(pid)
    return found


def _compartment_criteria(registry: SearchRegistry, rtype: str | None,
                          criteria: list[Any]) -> Iterator[Any]:
    """A search's criteria on a compartment parameter that can name a patient by id (chains,
    `_has` and `:identifier` name no id)."""
    if rtype is None:
        return
    hashes = set(compartment_hashes(registry).get(rtype, ()))
    for c in criteria:
        if c.param is None or c.chain or c.has or c.modifier not in (None, "Patient"):
            continue
        if c.param.param_hash in hashes or c.param.name == "patient":
            yield c


def patients_named(registry: SearchRegistry, rtype: str | None,
                   criteria: list[Any]) -> list[str]:
    """Patient ids a search names through a compartment parameter (`Observation?patient=1`,
    `subject=Patient/1`), so that what is withheld about them can be said even when nothing
    is returned."""
    out: list[str] = []
    for c in _compartment_criteria(registry, rtype, criteria):
        for value in c.values:
            fhir_id = _named_patient(value)
            if fhir_id and fhir_id not in out:
                out.append(fhir_id)
    return out


def anchored_to_patients(registry: SearchRegistry, rtype: str | None,
                         criteria: list[Any]) -> bool:
    """True if one of a search's criteria (which all must hold) names only patients by id
    through a compartment parameter: its matches are a few patients' records whatever the
    other values are, so one plan serves every such search (see Repository.search)."""
    return any(c.values and all(_named_patient(v) for v in c.values)
               for c in _compartment_criteria(registry, rtype, criteria))


def _named_patient(value: str) -> str | None:
    """The patient id a reference value names (`1`, `Patient/1`, `…/Patient/1`), if any."""
    kind, _, fhir_id = value.rpartition("/")
    patient = kind in ("", "Patient") or kind.endswith("/Patient")
    return fhir_id if patient and fhir_id else None
