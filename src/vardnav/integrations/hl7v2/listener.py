"""The inbound MLLP listener: one ADT message in, one ACK out, one transaction per message.

Framing is python-hl7's asyncio MLLP stream (`start_hl7_server`), read block by block with
`readblock()` rather than `readmessage()`, so decoding and parsing errors are ours to answer
(AR) instead of exceptions inside the stream. What its reader already guarantees, and we rely
on: a frame longer than the stream `limit` raises ValueError with the buffer discarded (the
transport is paused at 2 × limit, so memory stays bounded); a frame that does not begin with
<VT> raises InvalidBlockError; EOF inside a frame raises IncompleteReadError. Each of those
ends that connection only (the sender cannot be resynchronised reliably mid-stream); every
other connection is served on.

Idempotency: (MSH-3, MSH-10) of every message applied — or refused with AE — is stored with
the ACK sent, in the same transaction as the step. A resent message gets that ACK again and is
not applied twice; two copies racing are serialised by the unique key (SQLite: one writer at
a time; PostgreSQL: the loser's insert fails and its transaction is retried, finding the row).

Throughput: messages are applied by writer lanes (threads), not one thread per message. A
lane takes whatever messages have queued up (at most `batch`) and applies them in ONE
transaction, each inside its own savepoint: a message that fails (AE) rolls back alone to its
savepoint and its refusal is remembered in the same transaction; every ACK is sent only after
the commit that made its message durable. A database error (not a business error) rolls the
whole batch back, and its messages are then applied one per transaction as before, with the
usual retries — so a batch never half-commits. SQLite has a single writer: one lane, so
writers never wait in SQLite's busy handler (it sleeps 1–100 ms per try, which with one thread
per connection cost more than the work). PostgreSQL: several lanes, a message's lane chosen by
its PID-3, so one patient's messages are applied in the order they arrived; each connection
is ordered anyway (a sender waits for the ACK before the next message).

Identity: each message is applied as a system principal `system:hl7/<MSH-3>` (client
`vardnav-hl7`, scope `system/*.cruds`), through the same Repository, access policy and audit
log as the API; the connection's address is logged with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
import zlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server
from sqlalchemy import Connection, Engine, bindparam, insert, select
from sqlalchemy.exc import DBAPIError

from vardnav.db.direct import Direct
from vardnav.db.unit_of_work import run_in_transaction, thread_to_the_end
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.access.scopes import parse_scopes
from vardnav.errors import VardnavError
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.integrations.hl7v2 import acks, inbound
from vardnav.integrations.hl7v2.acks import Header
from vardnav.integrations.hl7v2.inbound import InboundAdt, Rejected
from vardnav.integrations.hl7v2.models import inbound as inbound_table

log = logging.getLogger(__name__)
CLIENT_ID = "vardnav-hl7"
_SCOPE = "system/*.cruds"
_SCOPES = tuple(parse_scopes(_SCOPE))


class Applier(Protocol):
    def apply(self, repo: Repository, message: InboundAdt) -> None:
        """Apply the message's ADT step; raise a VardnavError for an AE."""


def principal_for(sender: str) -> Principal:
    return Principal(kind="system", subject=f"system:hl7/{sender}"[:140], client_id=CLIENT_ID,
                     scope_text=_SCOPE, scopes=_SCOPES)


def error_code(exc: VardnavError) -> str:
    """The table 0357 code for a business error: unknown references are 204."""
    if exc.status == 404:
        return acks.UNKNOWN_KEY
    if exc.status in (409, 412):
        return acks.RECORD_LOCKED
    if exc.status == 400:
        return acks.DATA_TYPE_ERROR
    return acks.INTERNAL_ERROR if exc.status >= 500 else acks.TABLE_VALUE_NOT_FOUND


class Processor:
    """Turns frames into ACKs. `handle` is synchronous (one message, one transaction);
    `submit` queues a frame for the writer lanes and waits for its ACK (see the module
    docstring)."""

    def __init__(self, engine: Engine, services: EngineServices, applier: Applier, *,
                 base_url: str = "", lanes: int = 0, batch: int = 16) -> None:
        self.engine = engine
        self.services = services
        self.applier = applier
        self.base_url = base_url
        # 0: automatic. SQLite: one writer at a time, so one lane; PostgreSQL: a few, so one
        # lane's database round trips overlap another's Python work.
        self.lanes = lanes if lanes > 0 else (1 if engine.dialect.name == "sqlite" else 4)
        self.batch = max(1, batch)
        self._queues: list[queue.SimpleQueue[_Job | None]] = []
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()

    # -- one message --------------------------------------------------------------------

    def handle(self, block: bytes, peer: str = "") -> str:
        read = self._read(block, peer)
        if isinstance(read, str):
            return read
        return self._alone(*read)

    def _read(self, block: bytes, peer: str) -> str | tuple[InboundAdt, RequestContext]:
        """The message and the context it is applied in, or the AR answering it."""
        try:
            message = inbound.read(inbound.decode(block))
        except Rejected as rejected:
            log.info("HL7 message from %s rejected (AR): %s", peer, rejected.reason)
            return rejected.ack()
        except Exception:  # input python-hl7 chokes on in a way we did not foresee
            log.warning("HL7 message from %s could not be read", peer, exc_info=True)
            return acks.ack(Header(), "AR", text="The message cannot be read",
                            error=acks.SEGMENT_SEQUENCE)
        ctx = RequestContext(principal=principal_for(message.sender), base_url=self.base_url,
                             attributes={"client_address": peer} if peer else {})
        return message, ctx

    def _alone(self, message: InboundAdt, ctx: RequestContext) -> str:
        """Apply one message in a transaction of its own (retried on transient conflicts)."""
        try:
            return run_in_transaction(self.engine, lambda conn: self._apply(conn, ctx, message))
        except VardnavError as exc:
            reply = _refusal(message, exc)
            return run_in_transaction(self.engine,
                                      lambda conn: self._remember(conn, message, "AE", reply))
        except Exception:  # e.g. the database is away: AE, not remembered, so a resend retries
            log.exception("HL7 %s from %s failed", message.header.control_id, message.sender)
            return _internal_error(message)

    def _apply(self, conn: Connection, ctx: RequestContext, message: InboundAdt) -> str:
        earlier = _stored(conn, message)
        if earlier is not None:
            return earlier
        self.applier.apply(Repository(conn, self.services, ctx), message)
        # No second look for a stored ACK: none can have appeared since the one above
        # (SQLite: this transaction holds the write lock; PostgreSQL: a racing copy's insert
        # makes ours fail on the unique key, and the retry finds its ACK).
        return _insert_ack(conn, message, "AA", acks.ack(message.header, "AA"))

    @staticmethod
    def _remember(conn: Connection, message: InboundAdt, code: str, reply: str) -> str:
        earlier = _stored(conn, message)
        if earlier is not None:  # a copy that raced this one got there first
            return earlier
        return _insert_ack(conn, message, code, reply)

    # -- several messages in one transaction --------------------------------------------

    def handle_many(self, items: list[tuple[bytes, str]]) -> list[str]:
        """The ACKs for (frame, peer) pairs, in order: messages applied in one transaction,
        each in a savepoint of its own (module docstring)."""
        replies: list[str | None] = [None] * len(items)
        todo: list[tuple[int, InboundAdt, RequestContext]] = []
        for n, (block, peer) in enumerate(items):
            read = self._read(block, peer)
            if isinstance(read, str):
                replies[n] = read
            else:
                todo.append((n, *read))
        if len(todo) == 1:
            n, message, ctx = todo[0]
            replies[n] = self._alone(message, ctx)
        elif todo:
            try:
                done = run_in_transaction(self.engine,
                                          lambda conn: self._apply_batch(conn, todo),
                                          attempts=1)
            except Exception:
                # Rolled back whole (a conflict or the database): each alone, with retries.
                log.info("HL7 batch of %d rolled back; applying one by one", len(todo),
                         exc_info=True)
                done = {n: self._alone(message, ctx) for n, message, ctx in todo}
            for n, reply in done.items():
                replies[n] = reply
        return [r if r is not None else acks.ack(Header(), "AE", error=acks.INTERNAL_ERROR)
                for r in replies]

    def _apply_batch(self, conn: Connection,
                     todo: list[tuple[int, InboundAdt, RequestContext]]) -> dict[int, str]:
        done: dict[int, str] = {}
        for n, message, ctx in todo:
            savepoint = _Savepoint(conn)
            try:
                done[n] = self._apply(conn, ctx, message)
            except VardnavError as exc:
                savepoint.rollback()
                done[n] = self._remember(conn, message, "AE", _refusal(message, exc))
                continue
            except DBAPIError:
                raise  # the whole batch goes; see handle_many
            except Exception:  # a bug in one message's step: it alone is undone
                savepoint.rollback()
                log.exception("HL7 %s from %s failed", message.header.control_id,
                              message.sender)
                done[n] = _internal_error(message)
                continue
            savepoint.commit()
        return done

    # -- the writer lanes ---------------------------------------------------------------

    async def submit(self, block: bytes, peer: str = "") -> str:
        """The ACK for one frame, once its message is committed (or refused)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        self._lane(_lane_key(block) % self.lanes).put(_Job(block, peer, loop, future))
        return await future

    def _lane(self, number: int) -> queue.SimpleQueue[_Job | None]:
        if not self._queues:
            with self._start_lock:
                if not self._queues:
                    queues: list[queue.SimpleQueue[_Job | None]] = [
                        queue.SimpleQueue() for _ in range(self.lanes)]
                    self._threads = [threading.Thread(target=self._run, args=(q,),
                                                      name=f"hl7-lane-{i}", daemon=True)
                                     for i, q in enumerate(queues)]
                    for thread in self._threads:
                        thread.start()
                    self._queues = queues
        return self._queues[number]

    def _run(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < self.batch:  # whatever else is waiting joins this transaction
                try:
                    more = jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            try:
                replies = self.handle_many([(j.block, j.peer) for j in batch])
            except Exception:  # never let the lane die: these senders get an AE and resend
                log.exception("HL7 lane failed on a batch of %d", len(batch))
                replies = [acks.ack(Header(), "AE", text="Internal error; send the message "
                                    "again later", error=acks.INTERNAL_ERROR)] * len(batch)
            # One wake-up per event loop for the whole batch, not one per message: each
            # call_soon_threadsafe writes the loop's self-pipe, and every write handed the
            # GIL to the loop thread while this lane waited to get it back (py-spy: ~8 % of
            # the lane's samples in _write_to_self with batches of 4).
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[str], str]]] = {}
            for j, reply in zip(batch, replies, strict=True):
                by_loop.setdefault(j.loop, []).append((j.future, reply))
            for loop, resolved in by_loop.items():
                with contextlib.suppress(RuntimeError):  # that event loop has closed
                    loop.call_soon_threadsafe(_resolve_all, resolved)
            if stop:
                return

    def close(self) -> None:
        """Stop the lanes after the messages already queued (started again on demand)."""
        with self._start_lock:
            queues, threads = self._queues, self._threads
            self._queues, self._threads = [], []
        for q in queues:
            q.put(None)
        for thread in threads:
            thread.join(30)


class _Savepoint:
    """One message's savepoint in a batch. On SQLite it is issued on the driver: through
    SQLAlchemy (begin_nested, release) it cost as much as three small statements, ~4 % of a
    message. Steps inside may open and close savepoints of their own (SQLAlchemy's, always
    closed before they return or raise), so this one is never released under them."""

    __slots__ = ("_driver", "_nested")

    def __init__(self, conn: Connection) -> None:
        self._driver: Any = None
        self._nested: Any = None
        if conn.dialect.name == "sqlite":
            self._driver = conn.connection.driver_connection
            self._driver.execute("SAVEPOINT hl7_message")
        else:
            self._nested = conn.begin_nested()

    def commit(self) -> None:
        if self._driver is not None:
            self._driver.execute("RELEASE SAVEPOINT hl7_message")
        else:
            self._nested.commit()

    def rollback(self) -> None:
        if self._driver is not None:
            self._driver.execute("ROLLBACK TO SAVEPOINT hl7_message")
            self._driver.execute("RELEASE SAVEPOINT hl7_message")
        else:
            self._nested.rollback()


class _Job:
    __slots__ = ("block", "future", "loop", "peer")

    def __init__(self, block: bytes, peer: str, loop: asyncio.AbstractEventLoop,
                 future: asyncio.Future[str]) -> None:
        self.block, self.peer, self.loop, self.future = block, peer, loop, future


def _resolve(future: asyncio.Future[str], reply: str) -> None:
    if not future.done():  # the connection may have been cancelled meanwhile
        future.set_result(reply)


def _resolve_all(resolved: list[tuple[asyncio.Future[str], str]]) -> None:
    for future, reply in resolved:
        _resolve(future, reply)


def _lane_key(block: bytes) -> int:
    """A stable number for the message's patient (the raw PID-3), so that one patient's
    messages share a lane; 0 if there is none to be found (any lane keeps the frame's own
    order, and a malformed frame is refused anyway)."""
    _, found, rest = block.partition(b"\rPID|")
    if not found:
        return 0
    fields = rest.split(b"\r", 1)[0].split(b"|", 3)
    return zlib.crc32(fields[2]) if len(fields) > 2 else 0


def _refusal(message: InboundAdt, exc: VardnavError) -> str:
    return acks.ack(message.header, "AE", text=exc.message, error=error_code(exc))


def _internal_error(message: InboundAdt) -> str:
    return acks.ack(message.header, "AE", text="Internal error; send the message again "
                    "later", error=acks.INTERNAL_ERROR)


# Built once: SQLAlchemy then reuses their compiled form (and cache key) on every message.
_STORED = Direct(select(inbound_table.c.ack).where(
    inbound_table.c.sender == bindparam("sender"), inbound_table.c.control_id == bindparam("cid")))
_INSERT_ACK = Direct(insert(inbound_table))


def _stored(conn: Connection, message: InboundAdt) -> str | None:
    return _STORED(conn, {"sender": message.sender,
                          "cid": message.header.control_id}).scalar_one_or_none()


def _insert_ack(conn: Connection, message: InboundAdt, code: str, reply: str) -> str:
    _INSERT_ACK(conn, {"sender": message.sender,
                               "control_id": message.header.control_id,
                               "trigger": message.trigger, "ack_code": code, "ack": reply,
                               "received": time.time()})
    return reply


async def _connection(processor: Processor, reader: HL7StreamReader, writer: HL7StreamWriter,
                      idle_timeout: float) -> None:
    address = writer.get_extra_info("peername")
    peer = str(address[0]) if isinstance(address, tuple) and address else ""
    try:
        while True:
            try:
                block = await asyncio.wait_for(reader.readblock(), idle_timeout)
            except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
                break  # the peer left (possibly mid-frame) or stayed silent too long
            except ValueError:
                log.warning("HL7 frame from %s exceeds the size limit; connection dropped",
                            peer)
                break
            except InvalidBlockError:
                log.warning("HL7 data from %s is not an MLLP frame; connection dropped", peer)
                break
            reply = await processor.submit(block, peer)
            writer.writeblock(reply.encode("utf-8"))
            await writer.drain()
    except Exception:  # never let one connection's trouble reach the server
        log.exception("HL7 connection from %s failed", peer)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def start(processor: Processor, host: str, port: int, *, max_frame: int = 1024 * 1024,
                idle_timeout: float = 600.0) -> asyncio.Server:
    """Listen for MLLP on host:port (port 0: any free port; see bound_port). Connections
    still open when the server closes are cancelled by `listening`."""
    tasks: set[asyncio.Task[None]] = set()

    def connected(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(
            _connection(processor, reader, writer, idle_timeout))
        tasks.add(task)  # a strong reference while it runs, and for shutdown
        task.add_done_callback(tasks.discard)

    server = await start_hl7_server(connected, host, port, limit=max_frame, encoding="utf-8")
    server.hl7_connections = tasks  # type: ignore[attr-defined]
    server.hl7_processor = processor  # type: ignore[attr-defined]
    return server


@contextlib.asynccontextmanager
async def listening(processor: Processor, host: str, port: int, *,
                    max_frame: int = 1024 * 1024) -> AsyncIterator[asyncio.Server]:
    server = await start(processor, host, port, max_frame=max_frame)
    try:
        yield server
    finally:
        await stop(server)


async def stop(server: asyncio.Server) -> None:
    server.close()
    connections: set[asyncio.Task[None]] = getattr(server, "hl7_connections", set())
    for task in list(connections):
        task.cancel()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await asyncio.gather(*connections, return_exceptions=True)
        async with asyncio.timeout(5):
            await server.wait_closed()
    processor: Processor | None = getattr(server, "hl7_processor", None)
    if processor is not None:  # its lanes finish what is queued, off the event loop
        await thread_to_the_end(processor.close)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


__all__ = ["Applier", "Header", "Processor", "bound_port", "listening", "start"]
