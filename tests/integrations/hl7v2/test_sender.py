"""The delivery worker against a real MLLP receiver on loopback: order, ACK handling, retries
with back-off, a receiver that goes down and comes back, restarts and competing workers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import hl7
import pytest
from hl7_support import Receiver, clear_hl7, eventually
from sqlalchemy import Engine, select

from vardnav.integrations.hl7v2 import outbox as outbox_mod
from vardnav.integrations.hl7v2.models import outbox
from vardnav.integrations.hl7v2.outbox import Receiver as Target
from vardnav.integrations.hl7v2.outbox import enqueue_raw, parse_receivers
from vardnav.integrations.hl7v2.sender import RetryPolicy, check_ack, delivering

FAST = RetryPolicy(first=0.05, cap=0.2)


@pytest.fixture
def db(engine: Engine) -> Iterator[Engine]:
    clear_hl7(engine)
    yield engine
    clear_hl7(engine)


def put(engine: Engine, receiver: str, n: int, start: int = 0) -> list[str]:
    ids = [f"T{start + i:06d}" for i in range(n)]
    with engine.begin() as conn:
        for cid in ids:
            enqueue_raw(conn, receiver=receiver, trigger="A08", control_id=cid,
                        message=f"MSH|^~\\&|VARDNAV||{receiver}||20260101||ADT^A08^ADT_A01|"
                                f"{cid}|P|2.5\rEVN|A08\r")
    return ids


def rows(engine: Engine, receiver: str) -> list[tuple[str, str, int, str | None]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(outbox.c.control_id, outbox.c.status, outbox.c.attempts,
                   outbox.c.last_error).where(outbox.c.receiver == receiver)
            .order_by(outbox.c.id))]


def delivered(engine: Engine, receiver: str) -> int:
    return sum(1 for r in rows(engine, receiver) if r[1] == "delivered")


def run(scenario: object) -> None:
    asyncio.run(asyncio.wait_for(scenario, 60))  # type: ignore[arg-type]


def test_messages_are_delivered_in_outbox_order(db: Engine) -> None:
    async def scenario() -> None:
        peer = Receiver()
        port = await peer.start()
        ids = put(db, "lab", 25)
        async with delivering(db, [Target("lab", "127.0.0.1", port)], retry=FAST,
                              ack_timeout=2, poll=0.02):
            await eventually(lambda: delivered(db, "lab") == 25, what="25 delivered")
        await peer.stop()
        assert peer.control_ids() == ids
        assert all(r[2] == 1 and r[3] is None for r in rows(db, "lab"))

    run(scenario())


def test_receiver_down_then_back_gets_everything_once_in_order(db: Engine) -> None:
    async def scenario() -> None:
        peer = Receiver()
        port = await peer.start()
        first = put(db, "pas", 5)
        async with delivering(db, [Target("pas", "127.0.0.1", port)], retry=FAST,
                              ack_timeout=2, poll=0.02):
            await eventually(lambda: delivered(db, "pas") == 5, what="first batch")
            await peer.stop()  # the receiver goes down mid-stream
            second = put(db, "pas", 5, start=5)
            await eventually(lambda: any(r[3] for r in rows(db, "pas")),
                             what="a failed attempt recorded")
            with db.connect() as conn:
                status = {s.receiver: s for s in outbox_mod.status(
                    conn, [Target("pas", "127.0.0.1", port)])}["pas"]
            assert status.pending == 5 and status.failing == 1 and status.last_error
            assert status.next_attempt is not None
            await peer.start(port)  # back on the same port
            await eventually(lambda: delivered(db, "pas") == 10, what="all delivered")
        await peer.stop()
        assert peer.control_ids() == first + second  # no loss, no duplicates, in order

    run(scenario())


def test_ae_is_recorded_retried_with_back_off_and_blocks_the_receiver(db: Engine) -> None:
    answers = ["AE", "AE", "AA"]

    def reply(message: hl7.Message) -> str:
        return answers.pop(0) if str(message["MSH.F10"]) == "T000000" and answers else "AA"

    async def scenario() -> None:
        peer = Receiver(reply)
        port = await peer.start()
        ids = put(db, "x", 3)
        async with delivering(db, [Target("x", "127.0.0.1", port)], retry=FAST,
                              ack_timeout=2, poll=0.02):
            await eventually(lambda: delivered(db, "x") == 3, what="delivered after AE")
        await peer.stop()
        # The head was sent three times; nothing behind it overtook it.
        assert peer.control_ids() == [ids[0], ids[0], ids[0], ids[1], ids[2]]
        head = rows(db, "x")[0]
        assert head[2] == 3 and head[3] is not None and head[3].startswith("AE")

    run(scenario())


def test_silent_receiver_times_out_and_is_retried(db: Engine) -> None:
    calls = {"n": 0}

    def reply(_message: hl7.Message) -> str | None:
        calls["n"] += 1
        return None if calls["n"] == 1 else "AA"

    async def scenario() -> None:
        peer = Receiver(reply)
        port = await peer.start()
        put(db, "slow", 1)
        async with delivering(db, [Target("slow", "127.0.0.1", port)], retry=FAST,
                              ack_timeout=0.3, poll=0.02):
            await eventually(lambda: delivered(db, "slow") == 1, what="delivered on retry")
        await peer.stop()
        assert rows(db, "slow")[0][3] == "no ACK within 0.3 s"

    run(scenario())


def test_restart_and_a_second_worker_never_duplicate(db: Engine) -> None:
    async def scenario() -> None:
        peer = Receiver()
        port = await peer.start()
        target = Target("ris", "127.0.0.1", port)
        ids = put(db, "ris", 40)
        # Two workers (as two server processes would run): the lease lets one send.
        async with (delivering(db, [target], retry=FAST, ack_timeout=2, poll=0.01),
                    delivering(db, [target], retry=FAST, ack_timeout=2, poll=0.01)):
            await eventually(lambda: delivered(db, "ris") >= 10, what="some delivered")
        # Both stopped (a restart); a new worker continues where they left off.
        async with delivering(db, [target], retry=FAST, ack_timeout=2, poll=0.01):
            await eventually(lambda: delivered(db, "ris") == 40, what="all delivered")
        await peer.stop()
        assert peer.control_ids() == ids

    run(scenario())


def test_receivers_setting() -> None:
    assert parse_receivers("lab=10.0.0.5:2575, ris=[::1]:2576") == [
        Target("lab", "10.0.0.5", 2575), Target("ris", "::1", 2576)]
    assert parse_receivers("") == []
    for bad in ("lab", "lab=host", "lab=host:0", "=h:1", "a=h:1,a=h:2"):
        with pytest.raises(ValueError):
            parse_receivers(bad)


def test_ack_checks() -> None:
    good = b"MSH|^~\\&|R||VARDNAV||20260101||ACK^A01^ACK|9|P|2.5\rMSA|AA|C1\r"
    check_ack(good, "C1")
    with pytest.raises(Exception, match="expected 'C2'"):
        check_ack(good, "C2")
    with pytest.raises(Exception, match="AR: no such ward"):
        check_ack(good.replace(b"MSA|AA|C1", b"MSA|AR|C1|no such ward"), "C1")
    with pytest.raises(Exception, match="unreadable"):
        check_ack(b"\x00garbage", "C1")
