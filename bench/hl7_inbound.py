"""Inbound HL7 v2 ADT applied per second, end to end over MLLP (issue 5: ≥ 300/s).

A `vardnav hl7 listen` process on a SQLite store (temporary directory; --db postgres: a
fresh PostgreSQL database, dropped afterwards) with the demo region and population, settled
after loading as the other benchmarks' stores; this process sends with python-hl7's asyncio
client over several connections, one message at a time per connection (each waits for its
ACK, as MLLP senders do). Each patient's stay is five messages in order — A01 admit to a
ward, A02 transfer to another ward, A21 leave, A22 return, A03 discharge — so every message
is a real workflow step (Encounter write, rule tables, audit log, idempotency row). Prints
throughput, the send-to-ACK latency and the listener's CPU time per message.

`--callgrind`: the listener runs under valgrind's callgrind with instrumentation switched on
only for the measured messages (after start-up and the warm-up), and the run prints the
listener's instructions per message. Slow (≈ 50× per instruction) but repeatable to well
under 1 % whatever else the machine does, where the wall clock on this shared machine moves
by tens of percent: what to compare two versions of the code by. Throughput still needs a
quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
from pathlib import Path

import hl7
from hl7.mllp import open_hl7_connection

from bench.common import fresh_database, summary
from bench.hl7_setup import DOCTOR, WARDS, free_port, prepare, under_callgrind, vardnav

PNR_OID = "1.2.752.129.2.1.3.1"


def stay(number: str, n: int) -> list[str]:
    """The five messages of one patient's stay."""
    ward, other = WARDS[n % len(WARDS)], WARDS[(n + 1) % len(WARDS)]

    def message(trigger: str, seq: int, location: str, disposition: str = "") -> str:
        pv1 = ["PV1", "1", "I", location, "", "", "", f"{DOCTOR}^Läkare^Bench"]
        pv1 += [""] * 11 + [f"V{n}"] + [""] * 16 + [disposition]
        return "\r".join([
            f"MSH|^~\\&|BENCH|SU|VARDNAV|VGR|20260126120000+0100||ADT^{trigger}^ADT_A01|"
            f"B{n}-{seq}|P|2.5", f"EVN|{trigger}|20260126120000+0100",
            f"PID|1||{number}^^^&{PNR_OID}&ISO^PN||Bench^Patient",
            "|".join(pv1).rstrip("|")]) + "\r"

    return [message("A01", 1, ward), message("A02", 2, other), message("A21", 3, other),
            message("A22", 4, other), message("A03", 5, other, "01")]


async def client(port: int, stays: list[list[str]], latencies: list[float],
                 codes: dict[str, int]) -> None:
    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    try:
        for messages in stays:
            for text in messages:
                t0 = time.perf_counter()
                writer.writemessage(hl7.parse(text))
                await writer.drain()
                ack = await reader.readmessage()
                latencies.append((time.perf_counter() - t0) * 1000)
                code = str(ack["MSA.F1"])
                codes[code] = codes.get(code, 0) + 1
    finally:
        writer.close()


async def load(port: int, numbers: list[str], connections: int) -> tuple[float, list[float],
                                                                         dict[str, int]]:
    stays = [stay(number, n) for n, number in enumerate(numbers)]
    shares = [stays[i::connections] for i in range(connections)]
    latencies: list[float] = []
    codes: dict[str, int] = {}
    start = time.perf_counter()
    await asyncio.gather(*(client(port, s, latencies, codes) for s in shares))
    return time.perf_counter() - start, latencies, codes


def run(patients: int = 600, connections: int = 4, db: str = "sqlite") -> float:
    """Messages applied per second."""
    with tempfile.TemporaryDirectory(prefix="vardnav-hl7-bench-") as tmp, \
            contextlib.ExitStack() as stack:
        directory = Path(tmp)
        print(f"hl7_inbound: preparing a {db} store with the region and {patients} "
              "patients…")
        given = stack.enter_context(fresh_database("postgres")) if db == "postgres" else None
        url, numbers = prepare(directory, patients, given)
        port = free_port()
        with vardnav(["hl7", "listen", "--port", str(port)], url, directory,
                     wait_port=port) as listener:
            # A short warm-up (imports, caches), then the measured run on other patients.
            warm = numbers[: max(5, patients // 20)]
            asyncio.run(load(port, warm, connections))
            measured = numbers[len(warm):]
            cpu_before = cpu_seconds(listener.pid)
            seconds, latencies, codes = asyncio.run(load(port, measured, connections))
            cpu = cpu_seconds(listener.pid) - cpu_before
    total = sum(codes.values())
    print(f"hl7_inbound ({db}, {connections} MLLP connections, {len(measured)} stays × 5 "
          f"messages): {total} messages in {seconds:.1f} s = {total / seconds:,.0f} "
          f"messages applied/s; ACKs {codes}; send→ACK latency {summary(latencies)}; "
          f"listener CPU {1000 * cpu / total:.2f} ms per message "
          f"(= {total / cpu:,.0f} messages per CPU-second)")
    return total / seconds


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc: on this shared
    machine the wall-clock rate moves with other sessions' load, the CPU per message less."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def instructions(patients: int = 110, connections: int = 4) -> float:
    """The listener's instructions per applied message, counted by callgrind (module
    docstring): 10 stays of warm-up, then the rest measured."""
    with tempfile.TemporaryDirectory(prefix="vardnav-hl7-bench-") as tmp:
        directory = Path(tmp)
        print(f"hl7_inbound --callgrind: preparing a sqlite store with the region and "
              f"{patients} patients…")
        url, numbers = prepare(directory, patients)
        port = free_port()
        with under_callgrind(["hl7", "listen", "--port", str(port)], url, directory,
                             wait_port=port) as counter:
            asyncio.run(load(port, numbers[:10], connections))
            counter.start()
            seconds, _, codes = asyncio.run(load(port, numbers[10:], connections))
            total = counter.stop()
    messages = sum(codes.values())
    print(f"hl7_inbound --callgrind (sqlite, {connections} MLLP connections, "
          f"{len(numbers) - 10} stays × 5 messages, {seconds:.0f} s under valgrind): "
          f"ACKs {codes}; listener {total / messages / 1e6:.2f} M instructions per message")
    return total / messages


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=600)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--callgrind", action="store_true",
                        help="count the listener's instructions per message (SQLite; "
                        "--patients defaults to 110)")
    args = parser.parse_args()
    if args.callgrind:
        instructions(args.patients if args.patients != 600 else 110, args.connections)
    else:
        run(args.patients, args.connections, args.db)
