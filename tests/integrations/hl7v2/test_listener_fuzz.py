"""Fuzzing the MLLP listener: random bytes, random frames, truncated and mutated messages.
Each one gets an ACK or a closed connection, within a timeout; afterwards the listener still
answers a valid message with AA. The applier is a stand-in: this is about the edge."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import pytest
from hl7_support import adt, clear_hl7
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from vardnav.fhir.storage.repository import EngineServices, Repository
from vardnav.integrations.hl7v2.inbound import InboundAdt
from vardnav.integrations.hl7v2.listener import Processor, bound_port, start, stop

VALID = adt("A08", control_id="FUZZ-VALID", pv1="PV1|1|I|W^^B").encode()
START, END = b"\x0b", b"\x1c\r"


class Recording:
    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, repo: Repository, message: InboundAdt) -> None:
        self.applied.append(message.header.control_id)


class ListenerThread:
    """The listener on its own event loop thread, as in a server process."""

    def __init__(self, processor: Processor) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            start(processor, "127.0.0.1", 0, max_frame=4096), self.loop).result(10)
        self.port = bound_port(self.server)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(stop(self.server), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def listener(engine: Engine, services: EngineServices) -> Iterator[tuple[ListenerThread,
                                                                         Recording]]:
    clear_hl7(engine)
    applier = Recording()
    running = ListenerThread(Processor(engine, services, applier))
    yield running, applier
    running.close()
    clear_hl7(engine)


def exchange(port: int, payload: bytes, timeout: float = 10) -> bytes:
    """Send, close our side, and read until the listener closes: it must not hang."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the listener may already have dropped us (oversize)
            return b""
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk


def mutate(data: bytes, positions: list[int], values: list[int]) -> bytes:
    out = bytearray(data)
    for p, v in zip(positions, values, strict=False):
        out[p % len(out)] = v
    return bytes(out)


payloads = st.one_of(
    st.binary(max_size=3000),
    st.binary(max_size=3000).map(lambda b: START + b + END),
    st.integers(0, len(VALID)).map(lambda k: START + VALID[:k]),
    st.integers(0, len(VALID)).map(lambda k: START + VALID[:k] + END),
    st.tuples(st.lists(st.integers(0, 10_000), max_size=8),
              st.lists(st.integers(0, 255), max_size=8))
    .map(lambda pv: START + mutate(VALID, *pv) + END),
    st.text(max_size=500).map(lambda t: START + VALID + t.encode() + END),
    st.just(START + b"MSH|" + b"A" * 10_000 + END),  # over the 4 KiB frame limit
    st.lists(st.sampled_from([START, END, b"\r", b"|", b"^", b"MSH", b"PID", b"\xff"]),
             max_size=40).map(b"".join),
)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(payload=payloads)
def test_garbage_never_hangs_or_kills_the_listener(
        listener: tuple[ListenerThread, Recording], payload: bytes) -> None:
    running, _applier = listener
    reply = exchange(running.port, payload)
    # Whatever came back is MLLP-framed ACKs (possibly several for several frames).
    for block in filter(None, reply.split(END)):
        assert block.startswith(START + b"MSH|^~\\&|VARDNAV|"), reply
        assert b"\rMSA|A" in block, reply


def test_a_valid_message_is_still_accepted_after_fuzzing(
        listener: tuple[ListenerThread, Recording]) -> None:
    running, applier = listener
    for junk in (b"\x00" * 100, START + b"\xff" * 50 + END, START + VALID[:20],
                 START + b"MSH|" + b"x" * 9000 + END):
        exchange(running.port, junk)
    reply = exchange(running.port, START + VALID + END)
    assert b"MSA|AA|FUZZ-VALID" in reply, reply
    assert applier.applied == ["FUZZ-VALID"]


