"""Outbound HL7 v2 delivery latency under load (issue 5): from the ADT step writing its
outbox row to the receiver holding the message.

A SQLite store (temporary directory) with the demo region and population. This process takes
ADT steps as fast as it can (admit to a ward → transfer → leave → return → discharge per
patient, one transaction each, as the API would) while a `vardnav hl7 deliver` process sends
the outbox to a local MLLP receiver running in this process (on its own thread, ACKing AA at
once). Latency = arrival at the receiver − the row's `created` time (written inside the step,
just before its commit). The worker polls the outbox every VARDNAV_HL7_POLL_SECONDS (0.05 s
here; default 0.2 s), which bounds the idle part of the latency.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

import hl7
from hl7.mllp import HL7StreamReader, HL7StreamWriter, start_hl7_server
from sqlalchemy import select

from bench.common import summary
from bench.hl7_setup import DOCTOR, WARDS, free_port, prepare, vardnav

POLL = "0.05"


class Receiver:
    """An MLLP receiver in a process of its own (so the load in this one does not delay it);
    records arrival times by MSH-10 and hands them over when stopped."""

    def __init__(self, port: int) -> None:
        self.parent, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_receive, args=(port, child),
                                               daemon=True)
        self.process.start()
        assert self.parent.recv() == "ready"

    def count(self) -> int:
        self.parent.send("count")
        return int(self.parent.recv())

    def arrivals(self) -> dict[str, float]:
        self.parent.send("stop")
        arrived: dict[str, float] = self.parent.recv()
        self.process.join(10)
        return arrived


def _receive(port: int, pipe: Any) -> None:
    arrived: dict[str, float] = {}

    async def serve(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
        try:
            while True:
                message = hl7.parse((await reader.readblock()).decode("utf-8"))
                arrived[str(message["MSH.F10"])] = time.time()
                writer.writeblock(str(message.create_ack("AA")).encode("utf-8"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks = set()

        def connected(reader: HL7StreamReader, writer: HL7StreamWriter) -> None:
            tasks.add(loop.create_task(serve(reader, writer)))

        await start_hl7_server(connected, "127.0.0.1", port, encoding="utf-8")
        pipe.send("ready")
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            if command == "count":
                pipe.send(len(arrived))
            else:
                pipe.send(arrived)
                return

    asyncio.run(main())


def run(patients: int = 300) -> None:
    from vardnav.config import Settings
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.domains.identity.access.principal import SERVER
    from vardnav.fhir.hooks import RequestContext
    from vardnav.fhir.storage.repository import Repository
    from vardnav.integrations.hl7v2.models import outbox
    from vardnav.main import create_app

    with tempfile.TemporaryDirectory(prefix="vardnav-hl7-bench-") as tmp:
        directory = Path(tmp)
        print(f"hl7_outbound: preparing SQLite store with the region and {patients} patients…")
        url, numbers = prepare(directory, patients)
        port = free_port()
        receiver = Receiver(port)
        settings = Settings(database_url=url, key_dir=directory / "keys",
                            hl7_receivers=f"bench=127.0.0.1:{port}")
        app = create_app(settings)
        engine, wf = app.state.engine, app.state.adt

        def lookup(conn: Any, kind: str, hsa: str) -> str:
            repo = Repository(conn, app.state.services, RequestContext(principal=SERVER))
            system = ("http://electronichealth.se/identifier/personnummer"
                      if kind == "Patient" else "urn:oid:1.2.752.29.4.19")
            req = repo.parse(kind, [("identifier", f"{system}|{hsa}")])
            return str(repo.search(req).matches[0]["id"])

        ids = run_in_transaction(engine, lambda c: {
            "doctor": lookup(c, "Practitioner", DOCTOR),
            **{w: lookup(c, "Location", w) for w in WARDS},
            **{n: lookup(c, "Patient", n) for n in numbers}}, write=False)

        def step(name: str, **kwargs: Any) -> dict[str, Any]:
            def work(conn: Any) -> dict[str, Any]:
                repo = Repository(conn, app.state.services, RequestContext(principal=SERVER))
                return getattr(wf, name)(repo, **kwargs)  # type: ignore[no-any-return]
            return run_in_transaction(engine, work)

        with vardnav(["hl7", "deliver"], url, directory, VARDNAV_HL7_RECEIVERS=(
                f"bench=127.0.0.1:{port}"), VARDNAV_HL7_POLL_SECONDS=POLL):
            start = time.perf_counter()
            for n, number in enumerate(numbers):
                ward, other = WARDS[n % len(WARDS)], WARDS[(n + 1) % len(WARDS)]
                enc = step("admit", patient_id=ids[number], ward_id=ids[ward],
                           attending_id=ids["doctor"])
                eid = enc["id"]
                step("transfer", encounter_id=eid, ward_id=ids[other])
                step("leave", encounter_id=eid)
                step("return_from_leave", encounter_id=eid)
                step("discharge", encounter_id=eid, disposition="home")
            produced = time.perf_counter() - start
            with engine.connect() as conn:
                created = {r.control_id: r.created for r in conn.execute(
                    select(outbox.c.control_id, outbox.c.created))}
            deadline = time.monotonic() + 120
            while receiver.count() < len(created) and time.monotonic() < deadline:
                time.sleep(0.05)
            drained = time.perf_counter() - start
        arrived = receiver.arrivals()
        latencies = [(arrived[c] - t) * 1000 for c, t in created.items() if c in arrived]
    print(f"hl7_outbound (SQLite, 1 receiver, poll {POLL} s): {len(created)} steps in "
          f"{produced:.1f} s ({len(created) / produced:,.0f} steps/s of load); "
          f"{len(latencies)} delivered, all by {drained:.1f} s; step→receiver latency "
          f"{summary(latencies)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=300)
    run(parser.parse_args().patients)
