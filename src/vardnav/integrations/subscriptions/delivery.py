"""The rest-hook delivery worker (asyncio): runs in `vardnav serve` and in
`vardnav subscriptions deliver`.

- **At least once, in order per subscription.** A subscription's notifications are POSTed
  one at a time in event-number order; the next is sent only after the previous one got a
  2xx. A failed head blocks that subscription (not others) until it succeeds. A crash after
  a POST but before it was recorded sends it again: receivers de-duplicate by event number.
- **Retries for hours.** A failure waits `first` seconds, doubling up to `cap` (5 s … 10 min
  by default); after `give_up` (24 h) of failing, the Subscription is set to `error` with the
  reason, and its notifications are kept: a client that sets it back to `requested` gets
  them all after a new handshake.
- **Handshake.** A `requested` rest-hook subscription is sent a handshake notification;
  a 2xx makes it `active`. Events matched meanwhile wait in the outbox and follow.
- **One sender.** A lease row lets one process at a time deliver rest-hook notifications.
- **Heartbeats.** An idle active subscription with a heartbeat period gets a heartbeat
  notification when the period has passed since its last notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from vardnav.db.unit_of_work import in_thread
from vardnav.integrations.subscriptions.models import lease
from vardnav.integrations.subscriptions.spec import Spec
from vardnav.integrations.subscriptions.store import Delivered, Pending, Store

log = logging.getLogger(__name__)
LEASE = "rest-hook"


class DeliveryError(Exception):
    """A failed POST; the text is kept as the subscription's last error."""


db = in_thread  # the websocket channel imports it from here


async def post(client: httpx.AsyncClient, spec: Spec, body: bytes) -> None:
    headers = {**dict(spec.headers), "Content-Type": "application/fhir+json"}
    try:
        response = await client.post(spec.endpoint or "", content=body, headers=headers,
                                     timeout=spec.timeout)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
    if not 200 <= response.status_code < 300:
        raise DeliveryError(f"HTTP {response.status_code} from {spec.endpoint}")


class Dispatcher:
    def __init__(self, engine: Engine, store: Store, *, poll: float = 0.1,
                 batch: int = 50, lease_seconds: float = 30.0, concurrency: int = 4,
                 client: httpx.AsyncClient | None = None) -> None:
        self.engine = engine
        self.store = store
        self.poll = poll
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.holder = f"{os.uname().nodename[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # At most `concurrency` POSTs at a time, each on a kept-alive connection: measured
        # here, httpx/httpcore send fastest with a few connections; with many, the pool
        # spends more time managing connections than sending.
        self.client = client or httpx.AsyncClient(limits=httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency))
        self._own_client = client is None
        self._sending = asyncio.Semaphore(concurrency)
        self._lease_until = 0.0
        self._busy: dict[str, asyncio.Task[None]] = {}
        # Subscriptions whose task ended since the current step began reading: what that
        # step read about them may predate the task's own writes (a failed attempt's new
        # retry time), so they wait for the next step instead of being tried again at once.
        self._ended: set[str] = set()
        self._sent_upto: dict[str, int] = {}  # sent and acknowledged, maybe not recorded
        self._done: dict[str, Delivered] = {}
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._last_heartbeat_scan = 0.0

    async def run(self) -> None:
        try:
            while True:
                try:
                    worked = await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database may be briefly away: try again shortly
                    log.exception("Subscription delivery: unexpected error")
                    await asyncio.sleep(max(self.poll, 1.0))
                    continue
                if not worked:
                    self._wake.clear()
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
                    # cancellation that meets its timeout, and the worker never stops.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.poll):
                            await self._wake.wait()
        finally:
            for task in self._busy.values():
                task.cancel()
            for task in list(self._busy.values()):
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())
            with contextlib.suppress(Exception):
                await db(self.engine, _release, self.holder)
            if self._own_client:
                await self.client.aclose()

    async def step(self) -> bool:
        """Start a task for each subscription with work and none running. True if any."""
        if not await self._hold_lease():
            await asyncio.sleep(self.lease_seconds / 3)
            return False
        self._ended.clear()
        due = await db(self.engine, self.store.due, write=False)
        # Skip those whose notifications were all sent but are not recorded yet.
        todo = [(sid, self._sent_upto.get(sid, 0)) for sid, status, events in due
                if sid not in self._busy and sid not in self._ended
                and (status == "requested" or events > self._sent_upto.get(sid, 0))]
        # One that ended meanwhile is looked at again at once, by the next step.
        started = any(sid in self._ended for sid, _status, _events in due)
        if todo:  # one read transaction for all of them
            loaded = await db(self.engine, self.store.load_many, todo, limit=self.batch,
                              write=False)
            for sid, _after in todo:
                self._start(sid, self.deliver(sid, loaded.get(sid)))
                started = True
        await self.flush()
        if time.monotonic() - self._last_heartbeat_scan >= 1.0:
            self._last_heartbeat_scan = time.monotonic()
            for sid in await db(self.engine, self.store.heartbeats_due, write=False):
                if sid not in self._busy and sid not in self._ended:
                    self._start(sid, self.heartbeat(sid))
                    started = True
        return started

    def _start(self, sid: str, work: Any) -> None:
        task = asyncio.create_task(work, name=f"subscription-{sid}")
        self._busy[sid] = task

        def finished(_t: asyncio.Task[None]) -> None:
            self._busy.pop(sid, None)
            self._ended.add(sid)
            self._wake.set()

        task.add_done_callback(finished)

    async def deliver(self, sid: str, pending: Pending | None) -> None:
        """Send the subscription's loaded notifications in order, until one fails. What was
        delivered is recorded by the next flush (all subscriptions in one transaction)."""
        if pending is None:
            await db(self.engine, self.store.retire, sid)
            return
        if pending.status not in ("requested", "active"):
            return
        if pending.status == "requested":
            await self._handshake(sid, pending)
            return
        for number, body in pending.bodies:
            try:
                async with self._sending:
                    await post(self.client, pending.spec, body)
            except DeliveryError as exc:
                await self._failed(sid, number, str(exc))
                return
            self._sent_upto[sid] = number
            item = self._done.setdefault(sid, Delivered(number))
            item.upto = number
            if number in pending.audit:
                item.audit.append((number, *pending.audit[number]))

    async def _handshake(self, sid: str, pending: Pending) -> None:
        if pending.spec.channel == "rest-hook":
            control = await db(self.engine, self.store.control, sid, "handshake",
                               write=False)
            if control is None:
                return
            try:
                await post(self.client, pending.spec, control[1])
            except DeliveryError as exc:
                await self._failed(sid, 0, f"handshake: {exc}")
                return
        await db(self.engine, self.store.activate, sid)

    async def heartbeat(self, sid: str) -> None:
        control = await db(self.engine, self.store.control, sid, "heartbeat", write=False)
        if control is None:
            return
        try:
            await post(self.client, *control)
        except DeliveryError as exc:  # the next event's delivery will count the failure
            log.info("Heartbeat to Subscription/%s failed: %s", sid, exc)
            return
        await db(self.engine, self.store.mark_sent, sid)

    async def _failed(self, sid: str, number: int, error: str) -> None:
        await self.flush()
        status = await db(self.engine, self.store.record_failure, sid, error)
        log.warning("Subscription/%s: notification %d failed (%s): %s", sid, number, status,
                    error)

    async def flush(self) -> None:
        """Record what was delivered, for every subscription at once."""
        async with self._flush_lock:
            if not self._done:
                return
            done, self._done = self._done, {}
            try:
                await db(self.engine, self.store.record_delivered, done)
            except Exception:
                for sid, item in done.items():  # keep them for the next flush
                    later = self._done.get(sid)
                    if later is not None:
                        item.upto = later.upto
                        item.audit += later.audit
                    self._done[sid] = item
                raise

    async def _hold_lease(self) -> bool:
        now = time.time()
        if now < self._lease_until - self.lease_seconds / 2:
            return True
        held = await db(self.engine, _take_lease, self.holder, now + self.lease_seconds)
        self._lease_until = now + self.lease_seconds if held else 0.0
        if not held:
            self._sent_upto.clear()
        return held


def _take_lease(conn: Connection, holder: str, until: float) -> bool:
    now = time.time()
    row = conn.execute(select(lease.c.holder, lease.c.expires).where(lease.c.name == LEASE)
                       ).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(lease).values(name=LEASE, holder=holder, expires=until))
        except IntegrityError:
            return False
        return True
    if row.holder != holder and row.expires > now:
        return False
    done = conn.execute(update(lease).where(
        lease.c.name == LEASE, (lease.c.holder == holder) | (lease.c.expires <= now))
        .values(holder=holder, expires=until))
    return bool(done.rowcount)


def _release(conn: Connection, holder: str) -> None:
    conn.execute(update(lease).where(lease.c.name == LEASE, lease.c.holder == holder)
                 .values(expires=0.0))


@contextlib.asynccontextmanager
async def delivering(engine: Engine, store: Store, **options: Any) -> AsyncIterator[Dispatcher]:
    """Deliver rest-hook notifications while the context is open."""
    dispatcher = Dispatcher(engine, store, **options)
    task = asyncio.create_task(dispatcher.run(), name="subscription-delivery")
    try:
        yield dispatcher
    finally:
        # Cancel until it is done: one cancellation can be lost in a race inside asyncio.
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
        with contextlib.suppress(asyncio.CancelledError):
            await task
