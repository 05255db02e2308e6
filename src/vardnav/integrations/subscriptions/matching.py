"""Matching inside the write transaction: the write listener that turns every create, update
and delete into outbox rows for the live Subscriptions that match it.

For each change of a type with live subscriptions (status requested or active, not past
`end`), the candidates' criteria (or topic trigger and filters) are evaluated against the
one changed resource with the engine's own SQL predicates on its index rows, AND'ed with the
access policy's condition for the subscription's owner (`policy.query_filter` with a context
rebuilt from the stored owner): one SELECT answers every candidate at once. A delete is
matched against the last version, put back for the moment in a savepoint that is rolled back.
Each match takes the subscription's next event number (a row update, so concurrent writers
queue on it and numbers follow commit order) and adds one outbox row. If the write fails,
its transaction takes the rows and numbers back with it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, false, insert, select, true, update

from vardnav.db.bulk import insert_rows
from vardnav.db.direct import Direct
from vardnav.errors import VardnavError
from vardnav.fhir.hooks import Custody, RequestContext
from vardnav.fhir.search.extract import extract
from vardnav.fhir.search.query import QueryBuilder
from vardnav.fhir.storage.repository import EngineServices
from vardnav.fhir.storage.tables import INDEX_TABLES, resource, resource_version
from vardnav.integrations.subscriptions.models import generation, outbox, state
from vardnav.integrations.subscriptions.owners import OwnerCodec
from vardnav.integrations.subscriptions.spec import Spec, read_spec
from vardnav.integrations.subscriptions.status_rules import check_client_status

# Set in a RequestContext when the server itself writes a Subscription (status changes):
# the owner stays who it was and any status is allowed.
SERVER_WRITE = "vardnav.subscriptions.server-write"
LIVE = ("requested", "active")
_CHUNK = 50  # candidates per matching SELECT
# Read on every write of every resource: built once, so its compiled form is reused.
_TOKEN = Direct(select(generation.c.token).where(generation.c.id == 1))


@dataclass(frozen=True)
class Live:
    spec: Spec
    owner: Any  # the rebuilt principal (None: nobody, nothing matches)
    owner_key: str  # the stored owner: subscriptions of one owner share a visibility check
    end: float | None
    # The criteria as a 1/0 SQL column on the resource row, built once per cache load;
    # None when they chain or use _has, whose linked resources must be visible to the owner
    # at the time of the event.
    criteria: ColumnElement[int] | None


def _static_criteria(spec: Spec, base_url: str) -> ColumnElement[int] | None:
    criteria = spec.search.criteria
    if any(c.chain or c.has is not None for c in criteria):
        return None
    # Without chains or _has, criteria never consult the access policy.
    queries = QueryBuilder(lambda _t, _table: None, base_url=base_url)
    return case((and_(true(), *[queries.criterion(c, resource, spec.resource_type)
                                for c in criteria]), 1), else_=0)


def _instant(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SubscriptionListener:
    """A `WriteListener` (fhir/hooks.py) with `wants_index`, installed last among them."""

    def __init__(self, services: EngineServices, codec: OwnerCodec, *, base_url: str = "",
                 clock: Callable[[], float] = time.time) -> None:
        self.services = services
        self.codec = codec
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self._cache: tuple[str, dict[str, list[Live]]] | None = None
        self._lock = threading.Lock()

    # -- the cache of live subscriptions --------------------------------------------------

    def live(self, conn: Connection) -> dict[str, list[Live]]:
        """Live subscriptions by resource type, as this transaction sees them."""
        token = _TOKEN(conn).scalar() or ""
        cached = self._cache
        if cached is not None and cached[0] == token:
            return cached[1]
        rows = conn.execute(
            select(resource.c.content, state.c.owner)
            .join(state, state.c.subscription_id == resource.c.fhir_id)
            .where(resource.c.resource_type == "Subscription", resource.c.deleted == false(),
                   state.c.status.in_(LIVE))).all()
        by_type: dict[str, list[Live]] = {}
        for content, owner in rows:
            try:
                spec = read_spec(content, self.services.registry)
                criteria = _static_criteria(spec, self.base_url)
            except VardnavError:  # e.g. its topic is no longer registered: it matches nothing
                continue
            by_type.setdefault(spec.resource_type, []).append(
                Live(spec, self.codec.load(owner), owner, _instant(spec.end), criteria))
        with self._lock:
            self._cache = (token, by_type)
        return by_type

    def wants_index(self, conn: Connection, resource_type: str) -> bool:
        """Whether the engine must write the change's index rows before `written` (they
        are batched in transaction bundles): only for types someone subscribes to."""
        return bool(self.live(conn).get(resource_type))

    # -- the listener ---------------------------------------------------------------------

    def written(self, conn: Connection, ctx: RequestContext, resource_type: str,
                fhir_id: str, stored: dict[str, Any] | None, custody: Custody) -> None:
        if resource_type == "Subscription":
            self._subscription_written(conn, ctx, fhir_id, stored)
        live = self.live(conn).get(resource_type)
        if not live:
            return
        now = self.clock()
        current = conn.execute(select(resource.c.rid, resource.c.version_id).where(
            resource.c.resource_type == resource_type, resource.c.fhir_id == fhir_id)).first()
        if current is None:
            return
        if stored is None:
            interaction = "delete"
            content = conn.execute(select(resource_version.c.content).where(
                resource_version.c.rid == current.rid,
                resource_version.c.version_id == current.version_id - 1)).scalar()
        else:
            interaction = "create" if current.version_id == 1 else "update"
            content = stored
        candidates = [x for x in live if x.owner is not None
                      and (x.end is None or x.end > now)
                      and (x.spec.topic is None or x.spec.topic.fires(interaction, content))]
        if not candidates or content is None:
            return
        if stored is None:
            matched = self._match_deleted(conn, ctx, current.rid, content, candidates)
        else:
            matched = self._match(conn, ctx, resource_type, fhir_id, candidates)
        if matched:
            self._enqueue(conn, matched, resource_type, fhir_id, current.version_id,
                          interaction, now)

    # -- matching -------------------------------------------------------------------------

    def _match(self, conn: Connection, ctx: RequestContext, rtype: str, fhir_id: str,
               candidates: list[Live]) -> list[Live]:
        """Two SELECTs on the resource row: each candidate's criteria, then, for the owners
        of those that matched, whether the owner may read the resource now."""
        row_is = (resource.c.resource_type == rtype, resource.c.fhir_id == fhir_id)
        hits: list[Live] = []
        for start in range(0, len(candidates), _CHUNK):
            chunk = candidates[start:start + _CHUNK]
            columns = [self._criteria(x, rtype, ctx.base_url) for x in chunk]
            row = conn.execute(select(*columns).where(*row_is)).first()
            if row is not None:
                hits += [x for x, hit in zip(chunk, row, strict=True) if hit]
        owners = list({x.owner_key: x.owner for x in hits}.items())
        seen: set[str] = set()
        for start in range(0, len(owners), _CHUNK):
            chunk_owners = owners[start:start + _CHUNK]
            columns = [case((self._visible(owner, rtype, ctx.base_url), 1), else_=0)
                       .label(f"v{n}") for n, (_key, owner) in enumerate(chunk_owners)]
            row = conn.execute(select(*columns).where(*row_is)).first()
            if row is not None:
                seen |= {key for (key, _o), ok in zip(chunk_owners, row, strict=True) if ok}
        return [x for x in hits if x.owner_key in seen]

    def _criteria(self, live: Live, rtype: str, base_url: str) -> Any:
        if live.criteria is not None:
            return live.criteria
        owner = RequestContext(principal=live.owner, base_url=base_url)
        policy = self.services.policy
        try:
            queries = QueryBuilder(lambda t, table: policy.query_filter(owner, t, table),
                                   base_url=base_url)
            condition = and_(true(), *[queries.criterion(c, resource, rtype)
                                       for c in live.spec.search.criteria])
        except VardnavError:
            condition = false()
        return case((condition, 1), else_=0)

    def _visible(self, principal: Any, rtype: str, base_url: str) -> Any:
        """Whether the owner may read the resource row now, by the access policy."""
        owner = RequestContext(principal=principal, base_url=base_url)
        policy = self.services.policy
        try:
            # authorize covers what is not a row condition (scopes, municipality options).
            policy.authorize(owner, "search", rtype)
            queries = QueryBuilder(lambda t, table: policy.query_filter(owner, t, table),
                                   base_url=base_url)
            return queries.visible(rtype, resource)
        except VardnavError:  # the owner may not read this type now: no notification
            return false()

    def _match_deleted(self, conn: Connection, ctx: RequestContext, rid: int,
                       previous: dict[str, Any], candidates: list[Live]) -> list[Live]:
        """Match a deleted resource as it was: its last version and index rows are put back
        inside a savepoint, which is always rolled back."""
        savepoint = conn.begin_nested()
        try:
            conn.execute(update(resource).where(resource.c.rid == rid)
                         .values(deleted=False, content=previous))
            searchable = self.services.searchable
            indexed = searchable(previous) if searchable else previous
            for kind, rows in extract(self.services.registry, indexed).items():
                insert_rows(conn, INDEX_TABLES[kind], [{**r, "rid": rid} for r in rows])
            return self._match(conn, ctx, previous["resourceType"], previous["id"],
                               candidates)
        finally:
            savepoint.rollback()

    def _enqueue(self, conn: Connection, matched: list[Live], rtype: str, fhir_id: str,
                 version: int, interaction: str, now: float) -> None:
        # One statement takes the next number of every matched subscription (row locks on
        # PostgreSQL, so numbers follow commit order per subscription).
        numbers = conn.execute(
            update(state).where(state.c.subscription_id.in_(sorted(x.spec.id
                                                                   for x in matched)))
            .values(events=state.c.events + 1)
            .returning(state.c.subscription_id, state.c.events)).all()
        rows = [{"subscription_id": sid, "event_number": number, "resource_type": rtype,
                 "resource_id": fhir_id, "version_id": version, "action": interaction,
                 "created": now} for sid, number in numbers]
        if rows:
            conn.execute(insert(outbox), rows)

    # -- Subscription resources -----------------------------------------------------------

    def _subscription_written(self, conn: Connection, ctx: RequestContext, fhir_id: str,
                              stored: dict[str, Any] | None) -> None:
        row = conn.execute(select(state).where(state.c.subscription_id == fhir_id)).first()
        if stored is None:
            if row is not None:
                conn.execute(update(state).where(state.c.subscription_id == fhir_id)
                             .values(status="off"))
            bump_generation(conn)
            return
        spec = read_spec(stored, self.services.registry)  # 422 if unusable
        server = bool(ctx.attributes.get(SERVER_WRITE))
        if not server:
            check_client_status(spec.status, row.status if row is not None else None)
        owner = row.owner if server and row is not None else self.codec.dump(ctx.principal)
        values: dict[str, Any] = {"status": spec.status, "channel": spec.channel,
                                  "owner": owner}
        if not server and spec.status == "requested":  # (re)start: a fresh handshake
            values |= {"attempts": 0, "next_attempt": None, "failing_since": None,
                       "last_error": None}
        if row is None:
            conn.execute(insert(state).values(
                subscription_id=fhir_id, events=0, delivered_upto=0, created=self.clock(),
                **{"attempts": 0, **values}))
        else:
            conn.execute(update(state).where(state.c.subscription_id == fhir_id)
                         .values(**values))
        bump_generation(conn)


def bump_generation(conn: Connection) -> None:
    """Tell every process's cache that the subscriptions changed (on commit)."""
    token = uuid.uuid4().hex
    done = conn.execute(update(generation).where(generation.c.id == 1).values(token=token))
    if not done.rowcount:
        conn.execute(insert(generation).values(id=1, token=token))
