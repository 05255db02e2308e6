"""Outbound end to end: real workflow steps → outbox (same transaction) → delivery worker →
a real MLLP receiver on loopback, including a receiver that is down mid-stream."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import hl7
import pytest
from hl7_support import Receiver, eventually
from hl7_world import DOCTORS, NURSE, PATIENTS, WARDS, Hospital, bed_hsa, build_hospital
from sqlalchemy import Engine, func, select

from vardnav.config import Settings
from vardnav.errors import Conflict
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.hl7v2.codec import parse_ts
from vardnav.integrations.hl7v2.models import outbox
from vardnav.integrations.hl7v2.runtime import deliver

MED9 = WARDS[0]


@pytest.fixture
def receiver_port() -> int:
    """A free port for the receiver (bound and released; the receiver binds it later)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def hospital(settings: Settings, engine: Engine, services: EngineServices,
             receiver_port: int) -> Iterator[Hospital]:
    yield build_hospital(settings, engine, services, hl7_receivers=(
        f"lab=127.0.0.1:{receiver_port},ris=127.0.0.1:1"),
        hl7_retry_first_seconds=0.05, hl7_retry_max_seconds=0.2, hl7_poll_seconds=0.02,
        hl7_ack_timeout_seconds=2)


def outbox_count(engine: Engine, receiver: str | None = None) -> int:
    with engine.connect() as conn:
        stmt = select(func.count()).select_from(outbox)
        if receiver:
            stmt = stmt.where(outbox.c.receiver == receiver)
        return int(conn.execute(stmt).scalar_one())


def admit(h: Hospital, n: int = 0, room: int = 1, bed: int = 1) -> dict[str, object]:
    return h.step("admit", patient_id=h.ids[PATIENTS[n]], bed_id=h.ids[bed_hsa(MED9, room, bed)],
                  attending_id=h.ids[DOCTORS[0]], nurse_id=h.ids[NURSE])


def test_a_stay_reaches_the_receiver_in_order_despite_an_outage(
        hospital: Hospital, receiver_port: int) -> None:
    h = hospital
    settings = h.app.state.settings

    async def scenario() -> None:
        peer = Receiver()
        await peer.start(receiver_port)
        async with deliver(settings, h.engine):
            enc = await asyncio.to_thread(admit, h)
            eid = str(enc["id"])
            await asyncio.to_thread(h.step, "transfer", encounter_id=eid,
                                    bed_id=h.ids[bed_hsa(MED9, 2, 1)])
            await eventually(lambda: len(peer.messages) == 2, what="A01, A02 delivered")
            await peer.stop()  # the receiver goes down mid-stream
            for name, extra in (("leave", {}), ("return_from_leave", {}),
                                ("discharge", {"disposition": "home-municipal-care"}),
                                ("cancel_discharge", {})):
                await asyncio.to_thread(h.step, name, encounter_id=eid, **extra)
            await asyncio.sleep(0.3)  # the worker fails and backs off meanwhile
            await peer.start(receiver_port)
            await eventually(lambda: len(peer.messages) == 6, what="all six delivered")
            await asyncio.sleep(0.2)  # nothing more (no duplicates) arrives
        await peer.stop()
        assert peer.triggers() == ["A01", "A02", "A21", "A22", "A03", "A13"]
        assert len(set(peer.control_ids())) == 6
        msgs = [hl7.parse(m) for m in peer.messages]
        for m in msgs:
            assert str(m["PID.F3.R1.C1"]) == PATIENTS[0]
            assert str(m["PV1.F19.R1.C1"]) == eid
            assert str(m["MSH.F5"]) == "lab"
        a01, a02, a21, _a22, a03, a13 = msgs
        assert str(a01["PV1.F3.R1.C3"]) == bed_hsa(MED9, 1, 1)
        assert str(a01["PV1.F3.R1.C1"]) == f"{MED9}-L"
        assert str(a01["PV1.F3.R1.C4"]) == "SE2321000131-HX-L"  # the hospital
        assert str(a01["PV1.F7.R1.C1"]) == DOCTORS[0]
        assert str(a01["ROL.F4.R1.C1"]) == NURSE
        assert str(a02["PV1.F3.R1.C3"]) == bed_hsa(MED9, 2, 1)
        assert str(a02["PV1.F6.R1.C3"]) == bed_hsa(MED9, 1, 1)
        assert str(a21["PV1.F3.R1.C3"]) == bed_hsa(MED9, 2, 1)  # the bed is kept on leave
        assert str(a03["PV1.F36.R1.C1"]) == "06"
        assert parse_ts(str(a03["PV1.F45"]))
        assert str(a13["PV1.F45"]) == ""
        # The other receiver (nothing listens there) keeps its six, pending, in order.
        assert outbox_count(h.engine, "ris") == 6

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_failed_step_leaves_no_outbox_row(hospital: Hospital) -> None:
    h = hospital
    admit(h, 0)
    before = outbox_count(h.engine)
    assert before == 2  # one A01 per receiver
    with pytest.raises(Conflict):
        admit(h, 1)  # the same bed: refused, rolled back
    assert outbox_count(h.engine) == before


def test_without_receivers_nothing_is_queued(settings: Settings, engine: Engine,
                                             services: EngineServices) -> None:
    h = build_hospital(settings, engine, services)
    admit(h)
    assert outbox_count(engine) == 0
