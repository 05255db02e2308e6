"""The database steps of delivery, each run in a short transaction of its own: what is due,
the pending notifications of a subscription rendered as its owner may see them, and the
record of what was delivered or failed, with the status changes the server makes.

Delivery state (event numbers, delivered up to, attempts, next attempt, first failure, last
error) lives in `subscription_state`, so a restarted server continues where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, false, or_, select, update

from vardnav.errors import VardnavError
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.fhir.storage.tables import resource, resource_version
from vardnav.integrations.subscriptions.matching import LIVE, SERVER_WRITE
from vardnav.integrations.subscriptions.models import outbox, state
from vardnav.integrations.subscriptions.notifications import Event, notification
from vardnav.integrations.subscriptions.owners import OwnerCodec
from vardnav.integrations.subscriptions.spec import Spec, read_spec


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off doubling from `first` to `cap` seconds; after `give_up` seconds of failing,
    the subscription is set to `error` (its notifications are kept)."""

    first: float = 5.0
    cap: float = 600.0
    give_up: float = 86400.0

    def delay(self, attempts: int) -> float:
        return min(self.cap, self.first * 2 ** max(0, attempts - 1))


@dataclass
class Pending:
    """A subscription's next notifications, rendered, in event order."""

    spec: Spec
    status: str
    events_total: int
    delivered_upto: int
    bodies: list[tuple[int, bytes]] = field(default_factory=list)  # (event number, JSON)
    audit: dict[int, tuple[str, str, dict[str, Any]]] = field(default_factory=dict)


@dataclass
class Delivered:
    upto: int
    audit: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)


class Store:
    def __init__(self, services: EngineServices, codec: OwnerCodec, *, base_url: str,
                 server_principal: Any, retry: RetryPolicy,
                 clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self.codec = codec
        self.base_url = base_url.rstrip("/")
        self.server_principal = server_principal
        self.retry = retry
        self.clock = clock
        self._specs: dict[tuple[str, str], Spec | None] = {}

    # -- reading --------------------------------------------------------------------------

    def due(self, conn: Connection,
            channel: str | None = "rest-hook") -> list[tuple[str, str, int]]:
        """Subscriptions with something to do now: pending notifications whose retry time
        has come, or a handshake/activation (status requested). (id, status, events)."""
        now = self.clock()
        s = state.c
        conds = [s.status.in_(LIVE), or_(s.status == "requested", s.delivered_upto < s.events),
                 or_(s.next_attempt.is_(None), s.next_attempt <= now)]
        if channel is not None:
            conds.append(or_(s.channel == channel, s.status == "requested"))
        return [(r.subscription_id, r.status, r.events) for r in conn.execute(
            select(s.subscription_id, s.status, s.events).where(*conds)
            .order_by(s.subscription_id))]

    def heartbeats_due(self, conn: Connection, channel: str = "rest-hook") -> list[str]:
        """Active, idle subscriptions with a heartbeat period that has passed since the last
        notification of any kind."""
        now = self.clock()
        rows = conn.execute(
            select(state.c.subscription_id, state.c.last_sent, state.c.created,
                   resource.c.content)
            .join(resource, (resource.c.fhir_id == state.c.subscription_id)
                  & (resource.c.resource_type == "Subscription"))
            .where(state.c.status == "active", state.c.channel == channel,
                   state.c.delivered_upto >= state.c.events, resource.c.deleted == false()))
        out = []
        for sid, last_sent, created, content in rows:
            spec = self._spec(content)
            if spec is None:
                continue
            if spec.heartbeat and now - (last_sent or created) >= spec.heartbeat:
                out.append(sid)
        return out

    def load(self, conn: Connection, sid: str, *, after: int = 0,
             limit: int = 50) -> Pending | None:
        """The subscription's state and its pending notifications after event `after`."""
        row = conn.execute(select(state).where(state.c.subscription_id == sid)).first()
        if row is None:
            return None
        content = conn.execute(select(resource.c.content).where(
            resource.c.resource_type == "Subscription", resource.c.fhir_id == sid,
            resource.c.deleted == false())).scalar()
        if content is None:
            return None
        spec = self._spec(content)
        if spec is None:
            return None
        pending = Pending(spec, row.status, row.events, row.delivered_upto)
        start = max(after, row.delivered_upto)
        rows = conn.execute(
            select(outbox).where(outbox.c.subscription_id == sid,
                                 outbox.c.event_number > start)
            .order_by(outbox.c.event_number).limit(limit)).all()
        owner = RequestContext(principal=self.codec.load(row.owner), base_url=self.base_url)
        now = self.clock()
        for event in rows:
            body = None
            if spec.content != "empty":
                body = self._version(conn, event)
            shown = None
            if spec.content == "full-resource" and body is not None:
                shown = self.services.policy.redact(owner, body)
            notice = notification(
                spec, base_url=self.base_url, kind="event-notification", status=row.status,
                events_since=row.events, now=now,
                events=(Event(event.event_number, event.created, event.resource_type,
                              event.resource_id, event.action, shown),))
            pending.bodies.append((event.event_number, orjson.dumps(notice)))
            if body is not None:
                pending.audit[event.event_number] = (event.resource_type, event.resource_id,
                                                     body)
        return pending

    def load_many(self, conn: Connection, wanted: list[tuple[str, int]], *,
                  limit: int = 50) -> dict[str, Pending]:
        """`load` for several (subscription, after) at once, in one transaction."""
        out = {}
        for sid, after in wanted:
            pending = self.load(conn, sid, after=after, limit=limit)
            if pending is not None:
                out[sid] = pending
        return out

    def control(self, conn: Connection, sid: str, kind: str) -> tuple[Spec, bytes] | None:
        """A handshake or heartbeat notification for the subscription as it is now."""
        pending = self.load(conn, sid, limit=0)
        if pending is None:
            return None
        return pending.spec, orjson.dumps(notification(
            pending.spec, base_url=self.base_url, kind=kind, status=pending.status,
            events_since=pending.events_total, now=self.clock()))

    def retire(self, conn: Connection, sid: str) -> None:
        """Turn off the delivery state of a subscription whose resource is gone."""
        exists = conn.execute(select(resource.c.rid).where(
            resource.c.resource_type == "Subscription", resource.c.fhir_id == sid,
            resource.c.deleted == false())).first()
        if exists is None:
            conn.execute(update(state).where(state.c.subscription_id == sid)
                         .values(status="off"))

    def _spec(self, content: dict[str, Any]) -> Spec | None:
        """The Spec of a stored Subscription, parsed once per version."""
        key = (str(content.get("id")), str((content.get("meta") or {}).get("versionId")))
        if key not in self._specs:
            if len(self._specs) > 10_000:
                self._specs.clear()
            try:
                self._specs[key] = read_spec(content, self.services.registry)
            except VardnavError:
                self._specs[key] = None
        return self._specs[key]

    @staticmethod
    def _version(conn: Connection, event: Any) -> dict[str, Any] | None:
        return conn.execute(
            select(resource_version.c.content)
            .join(resource, resource.c.rid == resource_version.c.rid)
            .where(resource.c.resource_type == event.resource_type,
                   resource.c.fhir_id == event.resource_id,
                   resource_version.c.version_id == event.version_id)).scalar()

    # -- recording ------------------------------------------------------------------------

    def record_delivered(self, conn: Connection, done: dict[str, Delivered]) -> None:
        """Mark notifications delivered (several subscriptions in one transaction) and log
        each one that named a resource in the access log, as read by the owner."""
        now = self.clock()
        for sid, item in done.items():
            conn.execute(update(state).where(state.c.subscription_id == sid,
                                             state.c.delivered_upto < item.upto)
                         .values(delivered_upto=item.upto, attempts=0, next_attempt=None,
                                 failing_since=None, last_error=None, last_sent=now))
            conn.execute(update(outbox).where(outbox.c.subscription_id == sid,
                                              outbox.c.event_number <= item.upto,
                                              outbox.c.delivered.is_(None))
                         .values(delivered=now))
            if item.audit:
                self._audit(conn, sid, item.audit)

    def _audit(self, conn: Connection, sid: str,
               items: list[tuple[int, str, str, dict[str, Any]]]) -> None:
        owner = conn.execute(select(state.c.owner).where(state.c.subscription_id == sid)
                             ).scalar()
        ctx = RequestContext(principal=self.codec.load(owner or "null"),
                             base_url=self.base_url)
        repo = Repository(conn, self.services, ctx)
        for number, rtype, rid, content in items:
            repo.record_audit("subscription-notification", rtype, [f"{rtype}/{rid}"],
                              resources=[content], subscription=f"Subscription/{sid}",
                              event=number)

    def mark_sent(self, conn: Connection, sid: str) -> None:
        conn.execute(update(state).where(state.c.subscription_id == sid)
                     .values(last_sent=self.clock()))

    def record_failure(self, conn: Connection, sid: str, error: str) -> str:
        """Count a failed attempt; past the give-up period the subscription is set to
        `error`. Returns the status it now has."""
        now = self.clock()
        row = conn.execute(select(state).where(state.c.subscription_id == sid)).first()
        if row is None:
            return "off"
        attempts = row.attempts + 1
        since = row.failing_since if row.failing_since is not None else now
        if now - since >= self.retry.give_up:
            message = (f"Delivery failed for {(now - since) / 3600:.1f} hours; last error: "
                       f"{error}")[:1000]
            conn.execute(update(state).where(state.c.subscription_id == sid).values(
                attempts=attempts, failing_since=since, last_error=message, next_attempt=None))
            self.set_status(conn, sid, "error", message)
            return "error"
        conn.execute(update(state).where(state.c.subscription_id == sid).values(
            attempts=attempts, failing_since=since, last_error=error[:1000],
            next_attempt=now + self.retry.delay(attempts)))
        return row.status

    def activate(self, conn: Connection, sid: str) -> bool:
        """requested → active (after a handshake, or at once for websocket)."""
        row = conn.execute(select(state.c.status).where(state.c.subscription_id == sid)
                           ).scalar()
        if row != "requested":
            return False
        conn.execute(update(state).where(state.c.subscription_id == sid).values(
            attempts=0, next_attempt=None, failing_since=None, last_error=None,
            last_sent=self.clock()))
        return self.set_status(conn, sid, "active", None)

    def set_status(self, conn: Connection, sid: str, status: str,
                   error: str | None) -> bool:
        """Write the Subscription's status (and `error`) as the server: a new version, in
        its history and the access log like any change."""
        content = conn.execute(select(resource.c.content).where(
            resource.c.resource_type == "Subscription", resource.c.fhir_id == sid,
            resource.c.deleted == false())).scalar()
        if content is None:
            return False
        changed = {k: v for k, v in content.items() if k not in ("meta", "error")}
        changed["status"] = status
        if error:
            changed["error"] = error
        ctx = RequestContext(principal=self.server_principal, base_url=self.base_url,
                             attributes={SERVER_WRITE: True})
        Repository(conn, self.services, ctx).update("Subscription", sid,
                                                    {**changed, "meta": content.get("meta")
                                                     or {}})
        return True
