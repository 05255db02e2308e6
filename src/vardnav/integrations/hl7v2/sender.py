"""The delivery worker: sends outbox rows to their receivers over MLLP and waits for the ACK.

Policy (docs/adt.md, "Outbox and retries"):
- **Order**: strictly in outbox order per receiver. The oldest pending row is the head; the
  next row is sent only after the head is acknowledged with AA (or CA). A failing head
  blocks its receiver until it succeeds or an operator skips it (`vardnav hl7 skip ID`), so
  a receiver never sees a transfer before the admission it belongs to. Receivers are
  independent: one that is down delays nobody else.
- **Failures**: no connection, a timeout, a wrong or unparseable ACK, AE and AR all count as
  a failed attempt: the error is recorded on the row and it is retried after a back-off that
  doubles from `hl7_retry_first_seconds` up to `hl7_retry_max_seconds` (1 s … 5 min).
  AE/AR are retried too: in practice they mean "not now" (unknown patient at the receiver,
  locked record) far more often than "never"; a message that can never pass is skipped by an
  operator, who sees it in `vardnav hl7 outbox`.
- **Restarts**: all state is in the table (status, attempts, next attempt), so a restarted
  worker continues where the last one stopped. A message whose ACK was lost in a crash is
  sent again (at-least-once); receivers recognise the repeat by its MSH-10.
- **Several processes** (`serve --workers N`, plus `vardnav hl7 deliver`): a lease row per
  receiver (hl7_receiver_lease) lets one worker at a time send to a receiver.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import hl7
from hl7.mllp import HL7StreamReader, HL7StreamWriter, open_hl7_connection
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from vardnav.db.unit_of_work import in_thread
from vardnav.integrations.hl7v2.models import outbox, receiver_lease
from vardnav.integrations.hl7v2.outbox import DELIVERED, PENDING, Receiver

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    first: float = 1.0
    cap: float = 300.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (1, 2, 4, … cap)."""
        return min(self.cap, self.first * 2 ** max(0, attempts - 1))


@dataclass(frozen=True)
class Head:
    id: int
    control_id: str
    message: str
    attempts: int
    next_attempt: float | None


class DeliveryError(Exception):
    """A failed attempt; the text is stored as the row's last error."""


class ReceiverWorker:
    """Delivers one receiver's messages, in order, over one MLLP connection it keeps open."""

    def __init__(self, engine: Engine, receiver: Receiver, *, retry: RetryPolicy,
                 ack_timeout: float, poll: float, holder: str, lease_seconds: float = 30.0,
                 max_frame: int = 1024 * 1024, batch: int = 100) -> None:
        self.engine = engine
        self.batch = batch
        self.receiver = receiver
        self.retry = retry
        self.ack_timeout = ack_timeout
        self.poll = poll
        self.holder = holder
        self.lease_seconds = lease_seconds
        self.max_frame = max_frame
        self._lease_until = 0.0
        self._sent_upto = 0  # the last row sent and acknowledged, recorded or not
        self._unrecorded: list[int] = []
        self._recorder: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._stream: tuple[HL7StreamReader, HL7StreamWriter] | None = None

    def stop(self) -> None:
        """Finish the message in flight (its ACK is recorded), then end `run`: a clean stop
        sends nothing twice."""
        self._stopping.set()

    async def _nap(self, seconds: float) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
        # that arrives as its timeout expires, and the worker would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.step()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database may be briefly away: try again shortly
                    log.exception("HL7 delivery to %s: unexpected error", self.receiver.name)
                    await self._nap(max(self.poll, 1.0))
        finally:
            self._close()
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush())

    async def step(self) -> bool:
        """One round: send the due head and the rows behind it, in order, until one fails or
        the batch ends. True if a message was attempted."""
        if not await self._hold_lease():
            await self._nap(self.lease_seconds / 3)
            return False
        heads = await _db(self.engine, _heads, self.receiver.name, self.batch,
                          self._sent_upto, write=False)
        if not heads:
            await self._nap(self.poll)
            return False
        wait = (heads[0].next_attempt or 0) - time.time()
        if wait > 0:  # short naps, so the lease is renewed while a back-off runs
            await self._nap(min(wait, self.lease_seconds / 3))
            return False
        for head in heads:
            if self._stopping.is_set():
                break
            try:
                await self._send(head)
            except DeliveryError as exc:
                self._close()
                delay = self.retry.delay(head.attempts + 1)
                log.warning("HL7 %s to %s failed (attempt %d, next in %.0f s): %s",
                            head.control_id, self.receiver.name, head.attempts + 1, delay, exc)
                await self.flush()
                await _db(self.engine, _record, [], (head, str(exc)[:1000], delay))
                return True
            # Acknowledged: recorded in the background, batched. Sending never waits for
            # the database's write lock (busy writers hold it on SQLite), and rows sent but
            # not yet recorded are skipped by the next query (`_sent_upto`). A crash before
            # the record means those rows are sent again (at-least-once, as documented).
            self._unrecorded.append(head.id)
            self._sent_upto = head.id
            if self._recorder is None or self._recorder.done():
                self._recorder = asyncio.create_task(self.flush())
        return True

    async def flush(self) -> None:
        """Record the acknowledged rows as delivered (one transaction for all of them)."""
        async with self._flush_lock:
            while self._unrecorded:
                done, self._unrecorded = self._unrecorded, []
                try:
                    await _db(self.engine, _record, done, None)
                except Exception:
                    self._unrecorded = done + self._unrecorded  # try again with the next
                    raise

    async def _send(self, head: Head) -> None:
        try:
            if self._stream is None:
                async with asyncio.timeout(self.ack_timeout):  # (as in _nap: not wait_for)
                    self._stream = await open_hl7_connection(
                        self.receiver.host, self.receiver.port, limit=self.max_frame,
                        encoding="utf-8")
            reader, writer = self._stream
            writer.writeblock(head.message.encode("utf-8"))
            await writer.drain()
            async with asyncio.timeout(self.ack_timeout):
                block = await reader.readblock()
        except TimeoutError as exc:
            raise DeliveryError(f"no ACK within {self.ack_timeout:g} s") from exc
        except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as exc:
            # ValueError: an oversize ACK; IncompleteReadError: the receiver hung up.
            raise DeliveryError(f"{type(exc).__name__}: {exc}"
                                .rstrip(": ")) from exc
        except hl7.mllp.InvalidBlockError as exc:
            raise DeliveryError(f"malformed MLLP frame in reply: {exc}") from exc
        check_ack(block, head.control_id)

    def _close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None

    async def _hold_lease(self) -> bool:
        now = time.time()
        if now < self._lease_until - self.lease_seconds / 2:
            return True
        held = await _db(self.engine, _take_lease, self.receiver.name, self.holder,
                         now + self.lease_seconds)
        self._lease_until = now + self.lease_seconds if held else 0.0
        if not held:
            self._close()
            await self.flush()
            self._sent_upto = 0
        return held


def check_ack(block: bytes, control_id: str) -> None:
    """Accept an AA/CA acknowledging `control_id`; anything else raises DeliveryError."""
    try:
        ack = hl7.parse(block.decode("utf-8", errors="replace"))
        code = str(ack["MSA.F1"])
        acked = str(ack["MSA.F2"])
    except Exception as exc:  # python-hl7 raises several types on garbage
        raise DeliveryError(f"unreadable ACK: {block[:200]!r}") from exc
    if acked != control_id:
        raise DeliveryError(f"ACK for {acked!r}, expected {control_id!r}")
    if code in ("AA", "CA"):
        return
    text = _ack_text(ack)
    raise DeliveryError(f"{code}{': ' + text if text else ''}")


def _ack_text(ack: Any) -> str:
    parts: list[str] = []
    with contextlib.suppress(Exception):
        parts.append(str(ack["MSA.F3"]))
    with contextlib.suppress(Exception):
        for err in ack.segments("ERR"):
            parts.append(str(err(8)) or str(err(7)) or str(err(3)))
    return "; ".join(p for p in parts if p)


# -- database steps (each its own short transaction, run in a thread) ----------------------

_db = in_thread


def _heads(conn: Connection, receiver: str, limit: int, after: int) -> list[Head]:
    """The receiver's oldest pending rows after row `after`, in order (only the first can be
    waiting for a retry: nothing behind a failed row has been tried)."""
    rows = conn.execute(
        select(outbox.c.id, outbox.c.control_id, outbox.c.message, outbox.c.attempts,
               outbox.c.next_attempt)
        .where(outbox.c.receiver == receiver, outbox.c.status == PENDING,
               outbox.c.id > after)
        .order_by(outbox.c.id).limit(limit)).all()
    return [Head(*row) for row in rows]


def _record(conn: Connection, delivered: list[int],
            failed: tuple[Head, str, float] | None) -> None:
    now = time.time()
    if delivered:
        conn.execute(update(outbox).where(outbox.c.id.in_(delivered),
                                          outbox.c.status == PENDING)
                     .values(status=DELIVERED, delivered=now, last_attempt=now,
                             attempts=outbox.c.attempts + 1, next_attempt=None))
    if failed is not None:
        head, error, delay = failed
        conn.execute(update(outbox).where(outbox.c.id == head.id, outbox.c.status == PENDING)
                     .values(attempts=outbox.c.attempts + 1, last_attempt=now,
                             last_error=error, next_attempt=now + delay))


def _take_lease(conn: Connection, receiver: str, holder: str, until: float) -> bool:
    now = time.time()
    row = conn.execute(select(receiver_lease.c.holder, receiver_lease.c.expires)
                       .where(receiver_lease.c.receiver == receiver)).first()
    if row is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(receiver_lease).values(receiver=receiver, holder=holder,
                                                           expires=until))
        except IntegrityError:  # another worker inserted it first
            return False
        return True
    if row.holder != holder and row.expires > now:
        return False
    done = conn.execute(update(receiver_lease)
                        .where(receiver_lease.c.receiver == receiver,
                               (receiver_lease.c.holder == holder)
                               | (receiver_lease.c.expires <= now))
                        .values(holder=holder, expires=until))
    return bool(done.rowcount)


def _release(conn: Connection, receiver: str, holder: str) -> None:
    conn.execute(update(receiver_lease)
                 .where(receiver_lease.c.receiver == receiver,
                        receiver_lease.c.holder == holder)
                 .values(expires=0.0))


# -- running it ----------------------------------------------------------------------------

def new_holder() -> str:
    return f"{os.uname().nodename[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextlib.asynccontextmanager
async def delivering(engine: Engine, receivers: list[Receiver], *, retry: RetryPolicy,
                     ack_timeout: float, poll: float,
                     max_frame: int = 1024 * 1024) -> AsyncIterator[list[ReceiverWorker]]:
    """Deliver to every receiver while the context is open (a task per receiver)."""
    holder = new_holder()
    workers = [ReceiverWorker(engine, r, retry=retry, ack_timeout=ack_timeout, poll=poll,
                              holder=holder, max_frame=max_frame) for r in receivers]
    tasks = [asyncio.create_task(w.run(), name=f"hl7-deliver-{w.receiver.name}")
             for w in workers]
    try:
        yield workers
    finally:
        for w in workers:
            w.stop()
        # A message in flight gets its ACK (or its timeout); cancel only what still hangs.
        _done, hanging = await asyncio.wait(tasks, timeout=ack_timeout + 2) if tasks else (
            set(), set())
        for task in hanging:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for w in workers:  # let another process take over at once
            with contextlib.suppress(Exception):
                await _db(engine, _release, w.receiver.name, holder)
