"""The HL7 v2 outbox: every ADT step becomes one message row per configured receiver, written
in the step's own transaction (architecture rule 2), and delivered later by sender.py.

If the step fails or rolls back, so do its rows; if it commits, the rows are there even if
every receiver is down or the process dies the next moment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from vardnav.domains.adt.events import AdtEvent
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import Repository
from vardnav.integrations.hl7v2.messages import hsa_id, new_control_id, render
from vardnav.integrations.hl7v2.models import outbox

PENDING, DELIVERED, SKIPPED = "pending", "delivered", "skipped"


@dataclass(frozen=True)
class Receiver:
    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name}={self.host}:{self.port}"


def parse_receivers(text: str) -> list[Receiver]:
    """`name=host:port[,name=host:port…]` (VARDNAV_HL7_RECEIVERS) as receivers."""
    receivers: list[Receiver] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, address = item.partition("=")
        host, colon, port = address.rpartition(":")
        if not (sep and colon and name.strip() and host and port.isdigit()
                and 0 < int(port) < 65536):
            raise ValueError(f"HL7 receiver {item!r} is not name=host:port")
        if len(name.strip()) > 64:
            raise ValueError(f"HL7 receiver name {name!r} is longer than 64 characters")
        receivers.append(Receiver(name.strip(), host.strip("[]"), int(port)))
    names = [r.name for r in receivers]
    if len(set(names)) != len(names):
        raise ValueError("HL7 receiver names must be unique")
    return receivers


class OutboxListener:
    """An `AdtListener`: renders the step's message for each receiver into the outbox."""

    def __init__(self, receivers: list[Receiver]) -> None:
        self.receivers = receivers
        # Ward Location id → hospital HSA-id (PV1-3.4); locations are organisational data
        # that the demo and the region's directory change rarely.
        self._facilities: dict[str, str] = {}

    def adt_event(self, repo: Repository, event: AdtEvent) -> None:
        targets = [r for r in self.receivers if r.name != event.origin]
        if not targets:
            return
        facility = self._facility(repo, event)
        now = time.time()
        rows: list[dict[str, Any]] = []
        for receiver in targets:
            control_id = new_control_id()
            rows.append({
                "receiver": receiver.name, "trigger": event.trigger,
                "patient_id": event.patient.get("id"),
                "encounter_id": event.encounter.get("id"),
                "control_id": control_id, "created": now, "status": PENDING,
                "attempts": 0, "next_attempt": None,
                "message": render(event, receiver=receiver.name, control_id=control_id,
                                  facility=facility)})
        repo.conn.execute(insert(outbox), rows)

    def _facility(self, repo: Repository, event: AdtEvent) -> str | None:
        """The hospital's HSA-id: the Location the ward is part of."""
        ward = (event.location or event.prior_location or ({},))[0]
        parent = ((ward.get("partOf") or {}).get("reference") or "").rpartition("/")[2]
        if not parent:
            return None
        if parent not in self._facilities:
            # Read as the server itself: the step's caller may hold no Location scope, and a
            # message must not fail the clinical step it reports.
            from vardnav.domains.identity.access.principal import SERVER

            system = Repository(repo.conn, repo.s, RequestContext(
                principal=SERVER, base_url=repo.ctx.base_url))
            found = system.fetch_many([("Location", parent)])
            self._facilities[parent] = hsa_id(found[0]) if found else ""
        return self._facilities[parent] or None


def enqueue_raw(conn: Connection, *, receiver: str, trigger: str, control_id: str,
                message: str, patient_id: str | None = None,
                encounter_id: str | None = None) -> None:
    """Put an already rendered message in the outbox (tests, re-sends by an operator)."""
    conn.execute(insert(outbox).values(
        receiver=receiver, trigger=trigger, control_id=control_id, message=message,
        patient_id=patient_id, encounter_id=encounter_id, created=time.time(),
        status=PENDING, attempts=0))


@dataclass
class ReceiverStatus:
    receiver: str
    address: str  # host:port, or "not configured"
    pending: int
    delivered: int
    skipped: int
    failing: int  # pending rows that failed at least once
    last_error: str | None
    next_attempt: float | None
    head_id: int | None  # the message that blocks the receiver, if it failed


def status(conn: Connection, receivers: list[Receiver]) -> list[ReceiverStatus]:
    """Delivery status per receiver (configured ones, and any with rows in the outbox)."""
    counts = conn.execute(
        select(outbox.c.receiver,
               func.sum(case((outbox.c.status == PENDING, 1), else_=0)),
               func.sum(case((outbox.c.status == DELIVERED, 1), else_=0)),
               func.sum(case((outbox.c.status == SKIPPED, 1), else_=0)),
               func.sum(case(((outbox.c.status == PENDING) & (outbox.c.attempts > 0), 1),
                             else_=0)))
        .group_by(outbox.c.receiver)).all()
    by_name = {row[0]: row for row in counts}
    addresses = {r.name: f"{r.host}:{r.port}" for r in receivers}
    out: list[ReceiverStatus] = []
    for name in [*addresses, *sorted(set(by_name) - set(addresses))]:
        row = by_name.get(name)
        head = conn.execute(
            select(outbox.c.id, outbox.c.last_error, outbox.c.next_attempt, outbox.c.attempts)
            .where(outbox.c.receiver == name, outbox.c.status == PENDING)
            .order_by(outbox.c.id).limit(1)).first()
        failed = head is not None and head.attempts > 0
        out.append(ReceiverStatus(
            receiver=name, address=addresses.get(name, "not configured"),
            pending=int(row[1] or 0) if row else 0, delivered=int(row[2] or 0) if row else 0,
            skipped=int(row[3] or 0) if row else 0, failing=int(row[4] or 0) if row else 0,
            last_error=head.last_error if failed and head else None,
            next_attempt=head.next_attempt if failed and head else None,
            head_id=head.id if failed and head else None))
    return out


def skip(conn: Connection, message_id: int) -> bool:
    """Give up on one pending message (an operator's decision, e.g. a receiver that rejects
    it forever with AR): the receiver's later messages are then delivered."""
    done = conn.execute(update(outbox).where(outbox.c.id == message_id,
                                             outbox.c.status == PENDING)
                        .values(status=SKIPPED, next_attempt=None))
    return bool(done.rowcount)
