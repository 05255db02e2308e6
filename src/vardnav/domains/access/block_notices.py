"""Tells staff that blocked data exists for a patient in their results, without saying which
provider or unit holds it — except to a user with current emergency access, who is shown
where (the first of the two deliberate steps; lifting the block is the second). The notice
names the blocks (their Consent ids, which reveal nothing) so that a user who has the
patient's consent can lift them with `$lift-block` without ever being shown them."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, exists, not_, or_, select

from vardnav.db.engine import PREPARED
from vardnav.domains.access.blocked_patients import BlockedPatients
from vardnav.domains.access.pdl_tables import block, block_lift, emergency
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.hooks import RequestContext


def _blocks_hidden_from_caller(patients: Any) -> Select:
    """Active blocks on `patients` that hide data from the caller (bound parameters: built
    once, so SQLAlchemy's compiled cache and PostgreSQL's plan cache serve every search)."""
    now = bindparam("now")
    lifted = exists(select(block_lift.c.id).where(
        block_lift.c.block_id == block.c.id, block_lift.c.start <= now,
        block_lift.c.until > now,
        or_(block_lift.c.subject == bindparam("subject"),
            block_lift.c.unit == bindparam("unit"))))
    return select(block.c.patient_id, block.c.kind, block.c.provider, block.c.unit,
                  block.c.source_ref).where(
        patients, block.c.active.is_(True),
        or_(and_(block.c.kind == "outer", block.c.provider != bindparam("provider")),
            and_(block.c.kind == "inner", block.c.unit != bindparam("unit"))),
        not_(lifted))


# One patient (the usual search) is an index lookup whatever the values: its plan is reused.
_ONE_PATIENT = _blocks_hidden_from_caller(
    block.c.patient_id == bindparam("patient")).execution_options(**PREPARED)
_PATIENTS = _blocks_hidden_from_caller(
    block.c.patient_id.in_(bindparam("patients", expanding=True)))


class BlockNotices:
    def __init__(self, blocked: BlockedPatients | None = None) -> None:
        # Patients known to have blocks (blocked_patients.py): the others need no statement.
        self.blocked = blocked or BlockedPatients()

    def notices(self, conn: Connection, ctx: RequestContext, patients: list[str]) -> list[str]:
        p = ctx.principal
        if not (isinstance(p, Principal) and p.kind == "staff") or not patients:
            return []
        if not self.blocked.might_have(patients):
            return []
        now = time.time()
        caller = {"now": now, "subject": p.subject, "unit": p.unit or "",
                  "provider": p.provider or ""}
        if len(patients) == 1:
            rows = conn.execute(_ONE_PATIENT, {**caller, "patient": patients[0]}).all()
        else:
            rows = conn.execute(_PATIENTS, {**caller, "patients": patients}).all()
        if not rows:
            return []
        emergencies = {r.patient_id for r in conn.execute(select(emergency.c.patient_id).where(
            emergency.c.subject == p.subject, emergency.c.patient_id.in_(patients),
            emergency.c.until > now))}
        out = []
        for patient in sorted({r.patient_id for r in rows}):
            blocks = ", ".join(sorted({r.source_ref for r in rows
                                       if r.patient_id == patient and r.source_ref}))
            if patient in emergencies:
                where = ", ".join(sorted(f"{r.kind} block on {r.provider or r.unit}"
                                         for r in rows if r.patient_id == patient))
                out.append(f"Patient/{patient} has blocked data ({where}); it stays hidden "
                           f"until the block is lifted ($lift-block on {blocks})")
            else:
                out.append(f"Patient/{patient} has blocked data at another care unit or "
                           f"provider; it is not shown (with the patient's consent: "
                           f"$lift-block on {blocks})")
        return out
