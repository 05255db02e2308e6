"""The patient-data-law access policy (domain.md §2), as one SQL condition inside every query.

For staff, a resource that belongs to a patient (its `patient_id`) is visible when
1. the user's unit has a current care relationship with the patient (derived or asserted),
   or the user has current emergency access to the patient; and
2. it was recorded by the user's own care provider, or — both providers sharing in
   sammanhållen journalföring — the patient has consented to the user's provider reading
   other providers' data, or the user has emergency access; and
3. no active block covers it: an outer block on the provider that recorded it (for users of
   other providers), an inner block on the unit that recorded it (for users of other units),
   limited to the block's data period, attention information exempt if the block says so,
   unless the block is temporarily lifted for this user or unit.
Staff never see their own record (own_record.py). Patient resources themselves
(identification) are visible to all other staff, with address data
hidden for protected identities; block Consents are visible only to the provider that holds
them. Residents are confined to their record by their scopes; system callers are not limited
here. Resources of no patient (Organization, Practitioner...) are visible to everyone.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    Table,
    and_,
    bindparam,
    exists,
    func,
    not_,
    or_,
    select,
)

from vardnav.db.keyed_condition import KeyedCondition
from vardnav.domains.access.own_record import OwnRecords
from vardnav.domains.access.pdl_tables import (
    block,
    block_lift,
    care_relationship,
    consent,
    not_sharing,
)
from vardnav.domains.access.pdl_tables import emergency as emergency_access
from vardnav.domains.access.profiles import ATTENTION_TYPES
from vardnav.domains.access.protected_identity import hidden_from_staff
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.hooks import AccessPolicy, AllowAllPolicy, RequestContext
from vardnav.fhir.storage.tables import resource

# "Now" for every rule with a period, evaluated when the statement runs.
_NOW = bindparam("pdl_now", callable_=time.time, type_=Float)
_KEPT_CONDITIONS = 4096


class PdlPolicy:
    def __init__(self, own_records: OwnRecords | None = None,
                 inner: AccessPolicy | None = None, *, stored_checks: bool = False) -> None:
        self.own_records = own_records
        self.inner = inner or AllowAllPolicy()
        # PostgreSQL (migration 0015): a read by id calls the rarely reached checks as stored
        # functions instead of carrying them as sub-plans (staff_condition).
        self.stored_checks = stored_checks
        # Building the condition costs more than running it on a read by id, so the
        # condition on the resource table is kept per staff assignment; the time is a bind
        # parameter read at execution, so a kept condition never goes stale.
        self._conditions: OrderedDict[tuple[Any, ...], ColumnElement[bool] | None] = (
            OrderedDict())
        self._lock = threading.Lock()

    def authorize(self, ctx: RequestContext, interaction: str, resource_type: str | None,
                  resource: dict[str, Any] | None = None) -> None:
        self.inner.authorize(ctx, interaction, resource_type, resource)

    def query_filter(self, ctx: RequestContext, resource_type: str | None,
                     table: Table, *, one_row: bool = False) -> ColumnElement[bool] | None:
        inner = self.inner.query_filter(ctx, resource_type, table, one_row=one_row)
        p = ctx.principal
        if not (isinstance(p, Principal) and p.kind == "staff"):
            return inner
        mine = self.own_records.of(p.fhir_user) if self.own_records else frozenset()
        own = self._condition(p, table, resource_type, mine, one_row and self.stored_checks)
        if own is None:
            return inner
        return own if inner is None else and_(own, inner)

    def _condition(self, p: Principal, table: Table, rtype: str | None,
                   mine: frozenset[str], stored: bool) -> ColumnElement[bool] | None:
        kind = "Patient" if rtype == "Patient" else "any" if rtype is None else "type"
        key = (p.subject, p.unit, p.provider, kind, mine, stored)
        cacheable = table is resource  # aliases are made per query: build those afresh
        if cacheable:
            with self._lock:  # requests run in several threads
                if key in self._conditions:
                    self._conditions.move_to_end(key)
                    return self._conditions[key]
        own = staff_condition(p, table, rtype, _NOW, stored=stored)
        if mine:  # never their own record, whatever else would allow it
            not_mine = or_(table.c.patient_id.is_(None), table.c.patient_id.not_in(sorted(mine)))
            own = not_mine if own is None else and_(own, not_mine)
        if cacheable:
            if own is not None:  # its cache key is walked once, not in every search
                own = KeyedCondition(own)
            with self._lock:
                self._conditions[key] = own
                if len(self._conditions) > _KEPT_CONDITIONS:
                    self._conditions.popitem(last=False)
        return own

    def redact(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        resource = self.inner.redact(ctx, resource)
        p = ctx.principal
        if isinstance(p, Principal) and p.kind == "staff":
            return hidden_from_staff(resource)
        return resource


def staff_condition(p: Principal, t: Table, rtype: str | None, now: Any, *,
                    stored: bool = False) -> ColumnElement[bool] | None:
    """The condition on `t` for staff member `p`. `stored`: the checks most reads never
    reach (consent, emergency access, providers that do not share, lifts) are calls of
    PostgreSQL functions (migration 0015) — the same sub-queries, set up only when called —
    for a statement that reads one row; a search sets its sub-plans up once for all rows."""
    if rtype == "Patient":
        return None  # identification data: every staff member may find a patient
    user, unit, provider = p.subject, p.unit or "", p.provider or ""
    rel, emg, cons = care_relationship, emergency_access, consent
    related = exists(select(rel.c.id).where(
        rel.c.patient_id == t.c.patient_id, rel.c.unit == unit, rel.c.start <= now,
        or_(rel.c.end.is_(None), rel.c.end > now)))
    if stored:
        emergency = func.pdl_has_emergency_access(t.c.patient_id, user, now, type_=Boolean)
        consented = func.pdl_has_consent(t.c.patient_id, provider, now, type_=Boolean)
        shares = func.pdl_both_share(t.c.owner, provider, type_=Boolean)
        lifted = func.pdl_block_is_lifted(block.c.id, user, unit, now, type_=Boolean)
    else:
        emergency = exists(select(emg.c.id).where(
            emg.c.patient_id == t.c.patient_id, emg.c.subject == user, emg.c.until > now))
        consented = exists(select(cons.c.id).where(
            cons.c.patient_id == t.c.patient_id, cons.c.provider == provider,
            cons.c.start <= now, or_(cons.c.end.is_(None), cons.c.end > now)))
        # Sammanhållen journalföring covers only providers that share, read by providers
        # that do.
        shares = and_(or_(t.c.owner.is_(None), not_(exists(select(not_sharing.c.provider)
                                                           .where(not_sharing.c.provider
                                                                  == t.c.owner)))),
                      not_(exists(select(not_sharing.c.provider).where(
                          not_sharing.c.provider == provider))))
        lifted = exists(select(block_lift.c.id).where(
            block_lift.c.block_id == block.c.id, block_lift.c.start <= now,
            block_lift.c.until > now,
            or_(block_lift.c.subject == user, block_lift.c.unit == unit)))
    own = t.c.owner == provider
    blocked = exists(select(block.c.id).where(
        block.c.patient_id == t.c.patient_id, block.c.active.is_(True),
        or_(and_(block.c.kind == "outer", block.c.provider == t.c.owner, t.c.owner != provider),
            and_(block.c.kind == "inner", block.c.unit == t.c.owner_unit,
                 t.c.owner_unit != unit)),
        or_(block.c.data_from.is_(None), t.c.recorded >= block.c.data_from),
        or_(block.c.data_to.is_(None), t.c.recorded < block.c.data_to),
        not_(and_(block.c.exempt_attention.is_(True),
                  # Spelled out, not IN (...): an expanding IN is re-rendered per execution.
                  or_(*(t.c.resource_type == a for a in ATTENTION_TYPES)))),
        not_(lifted)))
    # Own provider's data: a relationship or emergency access. Another provider's: it
    # shares, and either a relationship with consent or emergency access. Written so each
    # subquery appears once: planning, not running, is what this condition costs most.
    patient_data = and_(
        or_(own, shares), or_(and_(related, or_(own, consented)), emergency),
        not_(blocked),
        or_(t.c.resource_type != "Consent", own))
    visible = [t.c.patient_id.is_(None), patient_data]
    if rtype is None:  # any type: Patient resources among them stay findable
        visible.append(t.c.resource_type == "Patient")
    return or_(*visible)
