"""SMART scopes as an access policy: what the token allows, before any other rule.

Wraps an inner policy (allow-all now; the patient-data-law policy later) and narrows it:
- `authorize` refuses (403) an interaction no granted scope allows, for every entry of a
  batch or transaction as for a single request; writes under `patient/` scopes must stay
  inside the patient in context's compartment;
- `query_filter` limits every query (search, _include/_revinclude, chains, _has, history,
  counts, $everything) to the types the scopes may read, and `patient/` scopes to the
  compartment of the patient in context — so nothing else is counted or revealed.

Resources outside any patient compartment (Practitioner, Organization, Medication...) are
not readable with `patient/` scopes alone: failing closed is the safe reading of the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, or_

from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.access.scopes import PERMISSION, Scope
from vardnav.errors import Forbidden
from vardnav.fhir.compartment import in_patient_compartment, resource_in_compartment
from vardnav.fhir.hooks import AccessPolicy, AllowAllPolicy, RequestContext
from vardnav.fhir.search.registry import SearchRegistry

READ_LETTERS = frozenset("rs")
WRITES = ("create", "update", "patch", "delete")


@dataclass(frozen=True)
class ReadableTypes:
    """What a principal's scopes let it read: freely (user/system) or in the patient's
    compartment (patient); `None` for a set means every type."""

    free: frozenset[str] | None
    patient: frozenset[str] | None
    any_free: bool
    any_patient: bool


@lru_cache(maxsize=4096)
def readable_types(scopes: tuple[Scope, ...]) -> ReadableTypes:
    free: set[str] = set()
    patient: set[str] = set()
    free_all = patient_all = False
    for s in scopes:
        if s.query or not (s.permissions & READ_LETTERS):
            continue
        if s.context == "patient":
            patient_all |= s.resource_type == "*"
            patient.add(s.resource_type)
        else:
            free_all |= s.resource_type == "*"
            free.add(s.resource_type)
    return ReadableTypes(None if free_all else frozenset(free),
                         None if patient_all else frozenset(patient),
                         bool(free), bool(patient))


class ScopePolicy:
    def __init__(self, registry: SearchRegistry, inner: AccessPolicy | None = None) -> None:
        self.registry = registry
        self.inner = inner or AllowAllPolicy()

    def authorize(self, ctx: RequestContext, interaction: str, resource_type: str | None,
                  resource: dict[str, Any] | None = None) -> None:
        p = _principal(ctx)
        if interaction == "include":
            pass  # what _include may add is limited by query_filter
        elif resource_type is None and interaction in ("search", "history"):
            # System-level search and history: query_filter keeps them to readable types.
            letter = PERMISSION[interaction]
            if not any(letter in s.permissions and not s.query for s in _scopes(p)):
                raise _refused(p, interaction, "any type")
        else:
            self._authorize_typed(p, interaction, resource_type, resource)
        self.inner.authorize(ctx, interaction, resource_type, resource)

    def _authorize_typed(self, p: Principal, interaction: str, rtype: str | None,
                         resource: dict[str, Any] | None) -> None:
        probe = "read" if interaction.startswith("operation:") else interaction
        granting = [s for s in _scopes(p) if s.allows(probe, rtype)]
        if not granting:
            raise _refused(p, interaction, rtype or "any type")
        if interaction not in WRITES or any(s.context != "patient" for s in granting):
            return
        # Only patient/ scopes grant this write: it must concern the patient in context.
        if not p.patient:
            raise Forbidden("patient/ scopes need a patient in context (launch/patient)")
        if resource is not None and not resource_in_compartment(self.registry, resource,
                                                                 p.patient):
            raise Forbidden(f"This token may write only in Patient/{p.patient}'s record; the "
                            f"{rtype} does not refer to that patient")

    def query_filter(self, ctx: RequestContext, resource_type: str | None,
                     table: Table, *, one_row: bool = False) -> ColumnElement[bool] | None:
        inner = self.inner.query_filter(ctx, resource_type, table, one_row=one_row)
        p = ctx.principal
        if not isinstance(p, Principal):
            return false()
        own = self._scope_filter(p, resource_type, table)
        if own is None:
            return inner
        return own if inner is None else and_(own, inner)

    def _scope_filter(self, p: Principal, rtype: str | None,
                      table: Table) -> ColumnElement[bool] | None:
        r = readable_types(_scopes(p))
        if r.free is None:
            return None  # user/*.r or system/*.r: the scopes do not narrow reading
        if rtype is not None:
            if rtype in r.free:
                return None
            if p.patient and r.any_patient and (r.patient is None or rtype in r.patient):
                return in_patient_compartment(self.registry, table, p.patient, {rtype})
            return false()
        conditions: list[ColumnElement[bool]] = []
        if r.free:
            conditions.append(table.c.resource_type.in_(sorted(r.free)))
        if p.patient and r.any_patient:
            types = None if r.patient is None else set(r.patient)
            conditions.append(in_patient_compartment(self.registry, table, p.patient, types))
        return or_(*conditions) if conditions else false()

    def redact(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        return self.inner.redact(ctx, resource)


def _scopes(p: Principal) -> tuple[Scope, ...]:
    """A resident's token counts only for their patient in context, whatever else it says."""
    if p.kind == "resident":
        return tuple(s for s in p.scopes if s.context == "patient")
    return p.scopes


def _principal(ctx: RequestContext) -> Principal:
    if not isinstance(ctx.principal, Principal):
        raise Forbidden("No authenticated caller")
    return ctx.principal


def _refused(p: Principal, interaction: str, what: str) -> Forbidden:
    letter = PERMISSION.get(interaction.removeprefix("operation:"), "r")
    return Forbidden(f"The access token's scopes ({p.scope_text or 'none'}) do not allow "
                     f"{interaction} on {what}; it needs a scope such as "
                     f"user/{what if what != 'any type' else '*'}.{letter}")
