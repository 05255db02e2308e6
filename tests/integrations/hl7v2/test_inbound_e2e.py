"""Inbound end to end: python-hl7's MLLP client sends ADT to the listener, which applies it
with the real workflow; ACKs AA/AE/AR, the FHIR state, idempotency on MSH-10, and malformed
input that must never take the listener down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import hl7
import pytest
from hl7_support import adt, send
from hl7_world import DOCTORS, NURSE, PATIENTS, WARDS, Hospital, bed_hsa, build_hospital
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices
from vardnav.integrations.hl7v2.listener import bound_port, listening
from vardnav.integrations.hl7v2.models import inbound, outbox
from vardnav.integrations.hl7v2.runtime import processor_for

MED9, KIR9 = WARDS
NOT_IN_STORE = "191212121212"


@pytest.fixture
def hospital(settings: Settings, engine: Engine, services: EngineServices) -> Iterator[Hospital]:
    # PAS sends to us and also receives from us; LAB only receives.
    yield build_hospital(settings, engine, services,
                         hl7_receivers="PAS=127.0.0.1:1,LAB=127.0.0.1:1",
                         hl7_max_frame_bytes=64 * 1024)


@asynccontextmanager
async def listener(h: Hospital) -> AsyncIterator[int]:
    async with listening(processor_for(h.app), "127.0.0.1", 0,
                         max_frame=h.app.state.settings.hl7_max_frame_bytes) as server:
        yield bound_port(server)


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 90))


def pv1(ward: str = MED9, room: int = 1, bed: int = 1, *, doctor: str = DOCTORS[0],
        visit: str = "", cls: str = "I", disposition: str = "", bed_code: str | None = None,
        ) -> str:
    bed_code = bed_hsa(ward, room, bed) if bed_code is None else bed_code
    fields = ["PV1", "1", cls, f"{ward}-L^^{bed_code}" if ward else "", "", "", "",
              f"{doctor}^Läkare^Test" if doctor else ""]
    fields += [""] * 11 + [visit] + [""] * 16 + [disposition]
    return "|".join(fields).rstrip("|")


def code(ack: hl7.Message) -> str:
    return str(ack["MSA.F1"])


def err(ack: hl7.Message) -> tuple[str, str]:
    return str(ack["ERR.F3.R1.C1"]), str(ack["ERR.F8"])


def test_a_stay_applied_from_another_system(hospital: Hospital) -> None:
    h = hospital
    nurse_rol = f"ROL|1|AD|NUR^Sjuksköterska^L|{NURSE}^Sköterska^Test"
    messages = [
        adt("A01", control_id="M1", pnr=PATIENTS[0], pv1=pv1(visit="V100"), extra=nurse_rol),
        adt("A02", control_id="M2", pnr=PATIENTS[0], pv1=pv1(room=2, visit="V100")),
        adt("A21", control_id="M3", pnr=PATIENTS[0], pv1=pv1(room=2, visit="V100")),
        adt("A22", control_id="M4", pnr=PATIENTS[0], pv1=pv1(room=2, visit="V100")),
        adt("A03", control_id="M5", pnr=PATIENTS[0],
            pv1=pv1(room=2, visit="V100", disposition="01")),
        adt("A13", control_id="M6", pnr=PATIENTS[0], pv1=pv1(room=2, visit="V100")),
    ]
    async def scenario() -> list[hl7.Message]:
        async with listener(h) as port:
            return await send(port, messages)

    acks = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert [code(a) for a in acks] == ["AA"] * 6, [str(a) for a in acks]
    assert [str(a["MSA.F2"]) for a in acks] == [f"M{n}" for n in range(1, 7)]
    assert all(str(a["MSH.F9.R1.C1"]) == "ACK" and str(a["MSH.F5"]) == "PAS" for a in acks)
    (enc,) = h.encounters(PATIENTS[0])
    assert enc["status"] == "in-progress"  # the discharge was cancelled
    current = [e["location"]["reference"] for e in enc["location"] if e["status"] == "active"]
    assert f"Location/{h.ids[bed_hsa(MED9, 2, 1)]}" in current
    assert h.bed_status(MED9, 2, 1) == "O" and h.bed_status(MED9, 1, 1) == "H"
    roles = {p["individual"]["reference"] for p in enc["participant"]}
    assert roles == {f"Practitioner/{h.ids[DOCTORS[0]]}", f"Practitioner/{h.ids[NURSE]}"}
    # Every step went out to LAB, none back to PAS, the system it came from.
    with h.engine.connect() as conn:
        sent = conn.execute(select(outbox.c.receiver, outbox.c.trigger)
                            .order_by(outbox.c.id)).all()
    assert [tuple(r) for r in sent] == [("LAB", t) for t in
                                        ("A01", "A02", "A21", "A22", "A03", "A13")]


def test_a_resent_message_gets_the_same_ack_and_is_not_applied_twice(
        hospital: Hospital) -> None:
    h = hospital
    a01 = adt("A01", control_id="DUP1", pnr=PATIENTS[1], pv1=pv1(KIR9))
    bad = adt("A01", control_id="DUP2", pnr=NOT_IN_STORE, pv1=pv1(KIR9, room=2))

    async def scenario() -> tuple[list[hl7.Message], list[hl7.Message]]:
        async with listener(h) as port:
            first = await send(port, [a01, bad])
            # Two more copies racing on two connections, and one more later.
            racing = await asyncio.gather(send(port, [a01]), send(port, [a01]))
            again = await send(port, [a01, bad])
            return first, [racing[0][0], racing[1][0], *again]

    first, later = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert code(first[0]) == "AA" and code(first[1]) == "AE"
    assert all(str(a) == str(first[0]) for a in later[:3])  # byte for byte the same ACK
    assert str(later[3]) == str(first[1])
    assert len(h.encounters(PATIENTS[1])) == 1
    with h.engine.connect() as conn:
        # One A01, to LAB only (PAS sent it).
        assert conn.execute(select(func.count()).select_from(outbox)).scalar_one() == 1


def test_business_errors_are_ae_with_a_reason(hospital: Hospital) -> None:
    h = hospital
    cases = [
        (adt("A01", control_id="E1", pnr=NOT_IN_STORE, pv1=pv1()),
         "204", "no patient with personnummer 191212121212"),
        (adt("A01", control_id="E2", pnr=PATIENTS[2], pv1=pv1(bed_code="", ward="XX-L")),
         "204", "unknown ward code 'XX-L-L'"),
        (adt("A01", control_id="E3", pnr=PATIENTS[2], pv1=pv1(bed_code="NOPE")),
         "204", "unknown bed code 'NOPE'"),
        (adt("A01", control_id="E4", pnr=PATIENTS[2], pv1=pv1(doctor="SE-NOBODY")),
         "204", "unknown practitioner 'SE-NOBODY'"),
        (adt("A01", control_id="E5", pnr=PATIENTS[2], pv1=pv1()), "", ""),  # AA: takes bed
        (adt("A01", control_id="E6", pnr=PATIENTS[3], pv1=pv1()),
         "206", "occupied"),
        (adt("A03", control_id="E7", pnr=PATIENTS[4], pv1=pv1(disposition="01")),
         "204", "no encounter that is in-progress or onleave"),
        (adt("A03", control_id="E8", pnr=PATIENTS[2], pv1=pv1(disposition="99")),
         "102", "discharge disposition '99'"),
        (adt("A02", control_id="E9", pnr=PATIENTS[2], pv1=pv1()),
         "103", "already there"),
    ]

    async def scenario() -> list[hl7.Message]:
        async with listener(h) as port:
            return await send(port, [m for m, _c, _t in cases])

    acks = asyncio.run(asyncio.wait_for(scenario(), 60))
    for ack, (_m, error, text) in zip(acks, cases, strict=True):
        if not error:
            assert code(ack) == "AA", str(ack)
            continue
        assert code(ack) == "AE", str(ack)
        assert err(ack)[0] == error, str(ack)
        assert (text in err(ack)[1] and text in str(ack["MSA.F3"])[:80]) or text in err(ack)[1]
        assert str(ack["ERR.F4"]) == "E"


AR_CASES = [
    ("unsupported type", adt("A01").replace("ADT^A01^ADT_A01", "ORU^R01^ORU_R01"), "200"),
    ("unknown trigger", adt("A01").replace("ADT^A01^ADT_A01", "ADT^A99"), "201"),
    ("encoding characters", adt("A01").replace("MSH|^~\\&|", "MSH|^~\\#|"), "102"),
    ("no PID", "\r".join(s for s in adt("A01").split("\r") if not s.startswith("PID")), "100"),
    ("bad check digit", adt("A01", pnr="191212121213"), "102"),
    ("no control id", adt("A01", control_id=""), "101"),
    ("no attending", adt("A01", pv1=pv1(doctor="")), "101"),
    ("bad time", adt("A01", evn="EVN|A01|x||||2026133", pv1=pv1()), "102"),
    ("A04 class", adt("A04", pv1=pv1(cls="I")), "103"),
    ("version", adt("A01").replace("|P|2.5", "|P|3.0"), "203"),
    ("newlines", adt("A01").replace("\r", "\n"), "100"),
]


@pytest.mark.parametrize(("what", "message", "error"), AR_CASES, ids=[c[0] for c in AR_CASES])
def test_unacceptable_messages_are_ar(hospital: Hospital, what: str, message: str,
                                      error: str) -> None:
    async def scenario() -> bytes | None:
        async with listener(hospital) as port:
            return await exchange(port, message.encode("utf-8"))

    reply = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert reply is not None
    ack = hl7.parse(reply.decode("utf-8"))
    assert code(ack) == "AR", reply
    assert err(ack)[0] == error, reply
    assert len(hospital.encounters(PATIENTS[0])) == 0


async def exchange(port: int, payload: bytes, *, frame: bool = True,
                   timeout: float = 10) -> bytes | None:
    """Send raw bytes (framed as MLLP unless frame=False); the reply's content, or None if
    the listener closed the connection instead."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\x0b" + payload + b"\x1c\r" if frame else payload)
        await writer.drain()
        try:
            block = await asyncio.wait_for(reader.readuntil(b"\x1c\r"), timeout)
        except asyncio.IncompleteReadError:
            return None
        return block[1:-2]
    finally:
        writer.close()


def test_broken_frames_drop_the_connection_and_the_listener_serves_on(
        hospital: Hospital) -> None:
    h = hospital

    async def scenario() -> None:
        async with listener(h) as port:
            # Non-UTF-8 bytes: AR (declared UTF-8 by default).
            reply = await exchange(port, adt("A01", control_id="L1").encode("utf-8")
                                   .replace(b"Testsson", b"Test\xff\xfesson"))
            assert reply is not None and b"MSA|AR|L1" in reply
            # Latin-1 declared in MSH-18 is read as such.
            latin = adt("A01", control_id="L2", pnr=PATIENTS[5], pv1=pv1(KIR9)).replace(
                "|P|2.5", "|P|2.5||||||8859/1").replace("Testsson", "Östsson")
            reply = await exchange(port, latin.encode("latin-1"))
            assert reply is not None and b"MSA|AA|L2" in reply, reply
            # Oversize frame (limit 64 KiB): the connection is dropped.
            assert await exchange(port, b"MSH|" + b"x" * 200_000) is None
            # Not MLLP at all: dropped.
            assert await exchange(port, b"GET / HTTP/1.1\r\n\r\n\x1c\r", frame=False) is None
            # A truncated frame, then the peer leaves.
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"\x0bMSH|^~\\&|PAS|X")
            await w.drain()
            w.close()
            # Everyone else is still served.
            acks = await send(port, [adt("A01", control_id="L3", pnr=PATIENTS[6],
                                         pv1=pv1(KIR9, room=2))])
            assert code(acks[0]) == "AA"

    run(scenario())
    (enc,) = h.encounters(PATIENTS[5])
    assert h.read("Patient", enc["subject"]["reference"].split("/")[1])["id"]


def test_a_batch_applies_each_message_alone(hospital: Hospital) -> None:
    """Messages that queued up together share one transaction, each in its own savepoint:
    a refusal rolls back only its own message (and is remembered), an AR is answered without
    touching the database, a copy of a message earlier in the batch gets that message's ACK."""
    h = hospital
    processor = processor_for(h.app)
    a01 = adt("A01", control_id="B1", pnr=PATIENTS[5], pv1=pv1(KIR9))
    batch = [
        a01,
        adt("A01", control_id="B2", pnr=NOT_IN_STORE, pv1=pv1(KIR9, room=2)),  # AE 204
        "MSH|^~\\&|PAS|X\rgarbage",  # AR
        a01,  # the same message again
        adt("A01", control_id="B3", pnr=PATIENTS[6], pv1=pv1(KIR9)),  # AE: bed taken
        adt("A21", control_id="B4", pnr=PATIENTS[5], pv1=pv1(KIR9)),  # AA: on leave
    ]
    acks = [hl7.parse(a) for a in processor.handle_many([(m.encode(), "") for m in batch])]
    assert [code(a) for a in acks] == ["AA", "AE", "AR", "AA", "AE", "AA"], [str(a) for a in
                                                                             acks]
    assert str(acks[3]) == str(acks[0])
    assert err(acks[1])[0] == "204" and err(acks[4])[0] == "206"
    (enc,) = h.encounters(PATIENTS[5])
    assert enc["status"] == "onleave"
    assert h.encounters(PATIENTS[6]) == []
    with h.engine.connect() as conn:
        remembered = {r.control_id: r.ack_code for r in conn.execute(
            select(inbound.c.control_id, inbound.c.ack_code))}
        sent = conn.execute(select(outbox.c.trigger).order_by(outbox.c.id)).scalars().all()
    assert remembered == {"B1": "AA", "B2": "AE", "B3": "AE", "B4": "AA"}
    assert sent == ["A01", "A21"]  # to LAB; the refused steps left nothing behind


def test_a_batch_the_database_refuses_is_applied_message_by_message(
        hospital: Hospital, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database error (not a business error) in one message rolls the whole batch back;
    each message is then applied in a transaction of its own, with the usual retries, so
    nothing is applied twice and nothing is lost."""
    h = hospital
    processor = processor_for(h.app)
    real_apply = processor.applier.apply
    failures = iter([True])  # the first B7 attempt fails as a locked database would

    def flaky(repo: Any, message: Any) -> None:
        if message.header.control_id == "B7" and next(failures, False):
            raise OperationalError("INSERT …", {}, Exception("database is locked"))
        real_apply(repo, message)

    monkeypatch.setattr(processor.applier, "apply", flaky)
    batch = [adt("A01", control_id="B6", pnr=PATIENTS[7], pv1=pv1(KIR9, room=2)),
             adt("A01", control_id="B7", pnr=PATIENTS[8], pv1=pv1(KIR9, room=2, bed=2)),
             adt("A21", control_id="B8", pnr=PATIENTS[7], pv1=pv1(KIR9, room=2))]
    acks = processor.handle_many([(m.encode(), "") for m in batch])
    assert [code(hl7.parse(a)) for a in acks] == ["AA", "AA", "AA"], acks
    assert [e["status"] for e in h.encounters(PATIENTS[7])] == ["onleave"]
    assert [e["status"] for e in h.encounters(PATIENTS[8])] == ["in-progress"]
    with h.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbound).where(
            inbound.c.control_id.in_(["B6", "B7", "B8"]))).scalar_one() == 3
        assert conn.execute(select(outbox.c.trigger).order_by(outbox.c.id)).scalars().all() \
            == ["A01", "A01", "A21"]


def test_many_connections_at_once_keep_each_patients_order(hospital: Hospital) -> None:
    """Eight senders at once, each with its own patients' stays in order: every message is
    applied (through the lanes, batched) and every stay ends discharged."""
    h = hospital
    stays = []
    for n, patient in enumerate(PATIENTS[:8]):
        ward, room, bed = (MED9, KIR9)[n % 2], 1 + (n // 2) % 2, 1 + n // 4
        visit = f"S{n}"
        stays.append([
            adt("A01", control_id=f"S{n}-1", pnr=patient, pv1=pv1(ward, room, bed, visit=visit)),
            adt("A21", control_id=f"S{n}-2", pnr=patient, pv1=pv1(ward, room, bed, visit=visit)),
            adt("A22", control_id=f"S{n}-3", pnr=patient, pv1=pv1(ward, room, bed, visit=visit)),
            adt("A03", control_id=f"S{n}-4", pnr=patient,
                pv1=pv1(ward, room, bed, visit=visit, disposition="01"))])

    async def scenario() -> list[list[hl7.Message]]:
        async with listener(h) as port:
            return list(await asyncio.gather(*(send(port, s) for s in stays)))

    results = asyncio.run(asyncio.wait_for(scenario(), 90))
    assert [[code(a) for a in acks] for acks in results] == [["AA"] * 4] * 8
    for patient in PATIENTS[:8]:
        (enc,) = h.encounters(patient)
        assert enc["status"] == "finished"
        assert [s["status"] for s in enc["statusHistory"]] == [
            "in-progress", "onleave", "in-progress", "finished"]


def test_a_pre_admission_cancelled_from_another_system(hospital: Hospital) -> None:
    """A05 plans an admission, A38 cancels it: the Encounter ends cancelled, and both steps
    go out to the other receiver (A38 as ADT_A38 with the planned ward)."""
    h = hospital
    expected = "PV2||||||||20261201080000+0100"
    messages = [
        adt("A05", control_id="P1", pnr=PATIENTS[9], pv1=pv1(MED9, bed_code="", cls="P"),
            extra=expected),
        adt("A38", control_id="P2", pnr=PATIENTS[9], pv1=pv1(MED9, bed_code="", cls="P")),
        adt("A38", control_id="P3", pnr=PATIENTS[9], pv1=pv1(MED9, bed_code="", cls="P")),
    ]

    async def scenario() -> list[hl7.Message]:
        async with listener(h) as port:
            return await send(port, messages)

    acks = run_ack(scenario())
    assert [code(a) for a in acks] == ["AA", "AA", "AE"], [str(a) for a in acks]
    assert "no encounter that is planned" in err(acks[2])[1]
    (enc,) = h.encounters(PATIENTS[9])
    assert enc["status"] == "cancelled"
    with h.engine.connect() as conn:
        sent = conn.execute(select(outbox.c.trigger, outbox.c.message)
                            .order_by(outbox.c.id)).all()
    assert [r.trigger for r in sent] == ["A05", "A38"]
    a38 = hl7.parse(sent[1].message)
    assert str(a38["MSH.F9.R1.C3"]) == "ADT_A38" and str(a38["PV1.F2"]) == "P"
    assert str(a38["PV1.F3.R1.C1"]) == f"{MED9}-L"


def run_ack(scenario: Any) -> list[hl7.Message]:
    return asyncio.run(asyncio.wait_for(scenario, 60))
