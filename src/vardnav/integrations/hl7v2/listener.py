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

Identity: each message is applied as a system principal `system:hl7/<MSH-3>` (client
`vardnav-hl7`, scope `system/*.cruds`), through the same Repository, access policy and audit
log as the API; the connection's address is logged with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Protocol

from hl7.mllp import HL7StreamReader, HL7StreamWriter, InvalidBlockError, start_hl7_server
from sqlalchemy import Connection, Engine, insert, select

from vardnav.db.unit_of_work import run_in_transaction
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
    """Turns one frame into one ACK (synchronous: run it in a worker thread)."""

    def __init__(self, engine: Engine, services: EngineServices, applier: Applier, *,
                 base_url: str = "") -> None:
        self.engine = engine
        self.services = services
        self.applier = applier
        self.base_url = base_url

    def handle(self, block: bytes, peer: str = "") -> str:
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
        try:
            return run_in_transaction(self.engine, lambda conn: self._apply(conn, ctx, message))
        except VardnavError as exc:
            reply = acks.ack(message.header, "AE", text=exc.message, error=error_code(exc))
            return run_in_transaction(self.engine,
                                      lambda conn: self._remember(conn, message, "AE", reply))
        except Exception:  # e.g. the database is away: AE, not remembered, so a resend retries
            log.exception("HL7 %s from %s failed", message.header.control_id, message.sender)
            return acks.ack(message.header, "AE", text="Internal error; send the message again "
                            "later", error=acks.INTERNAL_ERROR)

    def _apply(self, conn: Connection, ctx: RequestContext, message: InboundAdt) -> str:
        earlier = _stored(conn, message)
        if earlier is not None:
            return earlier
        self.applier.apply(Repository(conn, self.services, ctx), message)
        return self._remember(conn, message, "AA", acks.ack(message.header, "AA"))

    @staticmethod
    def _remember(conn: Connection, message: InboundAdt, code: str, reply: str) -> str:
        earlier = _stored(conn, message)
        if earlier is not None:  # a copy that raced this one got there first
            return earlier
        conn.execute(insert(inbound_table).values(
            sender=message.sender, control_id=message.header.control_id,
            trigger=message.trigger, ack_code=code, ack=reply, received=time.time()))
        return reply


def _stored(conn: Connection, message: InboundAdt) -> str | None:
    return conn.execute(select(inbound_table.c.ack).where(
        inbound_table.c.sender == message.sender,
        inbound_table.c.control_id == message.header.control_id)).scalar_one_or_none()


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
            reply = await asyncio.to_thread(processor.handle, block, peer)
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
        await asyncio.wait_for(asyncio.gather(*connections, return_exceptions=True), 5)
        await asyncio.wait_for(server.wait_closed(), 5)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


__all__ = ["Applier", "Header", "Processor", "bound_port", "listening", "start"]
