"""Helpers of the HL7 v2 tests: a real MLLP receiver on loopback, waiting with timeouts,
clean HL7 tables, and message builders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import hl7
from hl7.mllp import HL7StreamReader, HL7StreamWriter, start_hl7_server
from sqlalchemy import Engine, delete

from vardnav.integrations.hl7v2.models import inbound, outbox, receiver_lease, visit

PNR_OID = "1.2.752.129.2.1.3.1"


def clear_hl7(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in (outbox, receiver_lease, inbound, visit):
            conn.execute(delete(table))


async def eventually(check: Callable[[], Any], timeout: float = 10.0,
                     what: str = "condition") -> Any:
    """Poll `check` (sync or async) until it returns something truthy, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Receiver:
    """An MLLP peer that records every message and answers with `reply(message)` (an ACK
    code, or None to stay silent)."""

    def __init__(self, reply: Callable[[hl7.Message], str | None] = lambda _m: "AA") -> None:
        self.reply = reply
        self.messages: list[str] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> int:
        def connected(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
            task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.server = await start_hl7_server(connected, "127.0.0.1", port, encoding="utf-8")
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def _serve(self, reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        try:
            while True:
                block = await reader.readblock()
                text = block.decode("utf-8")
                message = hl7.parse(text)
                self.messages.append(text)
                code = self.reply(message)
                if code:
                    writer.writeblock(str(message.create_ack(code)).encode("utf-8"))
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.server.wait_closed()

    def control_ids(self) -> list[str]:
        return [str(hl7.parse(m)["MSH.F10"]) for m in self.messages]

    def triggers(self) -> list[str]:
        return [str(hl7.parse(m)["MSH.F9.R1.C2"]) for m in self.messages]


def adt(trigger: str, *, control_id: str = "MSG1", sender: str = "PAS",
        pnr: str = "191212121212", pv1: str = "PV1|1|I", extra: str = "",
        evn: str = "") -> str:
    """An inbound ADT message as a sending system would write it."""
    return "\r".join(filter(None, [
        f"MSH|^~\\&|{sender}|SAHLGRENSKA|VARDNAV|VGR|20260126120000+0100||ADT^{trigger}^ADT_A01"
        f"|{control_id}|P|2.5",
        evn or f"EVN|{trigger}|20260126120000+0100",
        f"PID|1||{pnr}^^^&{PNR_OID}&ISO^PN||Testsson^Test||19121212|M",
        pv1, extra])) + "\r"


async def send(port: int, messages: list[str]) -> list[hl7.Message]:
    """Send messages one by one over python-hl7's client and return the ACKs."""
    from hl7.mllp import open_hl7_connection

    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    acks = []
    try:
        for message in messages:
            writer.writemessage(hl7.parse(message))
            await writer.drain()
            acks.append(await asyncio.wait_for(reader.readmessage(), 10))
    finally:
        writer.close()
    return acks
