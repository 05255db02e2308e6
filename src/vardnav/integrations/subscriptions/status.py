"""Delivery status per subscription, for `vardnav subscriptions status`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, false, select

from vardnav.fhir.storage.tables import resource
from vardnav.integrations.subscriptions.models import state
from vardnav.integrations.subscriptions.owners import describe


@dataclass
class SubscriptionStatus:
    id: str
    status: str
    channel: str
    target: str  # endpoint, or "websocket"
    criteria: str
    owner: str
    events: int
    delivered: int
    pending: int
    attempts: int  # failed attempts of the head notification
    last_error: str | None
    next_attempt: float | None
    failing_since: float | None


def status(conn: Connection) -> list[SubscriptionStatus]:
    rows = conn.execute(
        select(state, resource.c.content)
        .join(resource, (resource.c.fhir_id == state.c.subscription_id)
              & (resource.c.resource_type == "Subscription") & (resource.c.deleted == false()))
        .order_by(state.c.created)).all()
    out = []
    for r in rows:
        content = r.content or {}
        channel = content.get("channel") or {}
        out.append(SubscriptionStatus(
            id=r.subscription_id, status=r.status, channel=r.channel,
            target=channel.get("endpoint") or r.channel, criteria=str(content.get("criteria")),
            owner=describe(r.owner), events=r.events, delivered=r.delivered_upto,
            pending=r.events - r.delivered_upto, attempts=r.attempts,
            last_error=r.last_error, next_attempt=r.next_attempt,
            failing_since=r.failing_since))
    return out
