"""Shared setup of the HL7 v2 benchmarks: a SQLite store in a temporary directory with the
demo region (hospitals, wards, beds, staff) and demo patients, and a `vardnav hl7 …`
subprocess on it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import select

from bench.common import PNR_FILE, ROOT, settle

PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
# Wards of the demo region (region_data.HOSPITALS): ward Location HSA-ids, and a physician.
WARDS = ("SE2321000131-SU-MED1-L", "SE2321000131-SU-GER2-L", "SE2321000131-SU-ORT3-L",
         "SE2321000131-NAL-MED4-L", "SE2321000131-NAL-KIR5-L")
DOCTOR = "SE2321000131-P00001"


def prepare(directory: Path, patients: int, url: str | None = None) -> tuple[str, list[str]]:
    """A migrated store with the region and `patients` patients: (URL, personnummer). A
    SQLite file in `directory` unless `url` names a (fresh, migrated) database. Settled after
    the load as an operator would (statistics, bench.common.settle), as the other
    benchmarks' stores are."""
    from vardnav.config import Settings
    from vardnav.db.engine import make_engine
    from vardnav.db.migrate import upgrade
    from vardnav.demo.loader import load_population, load_region
    from vardnav.fhir.storage.tables import resource

    url = url or f"sqlite:///{directory / 'hl7-bench.db'}"
    upgrade(url)
    settings = Settings(database_url=url, key_dir=directory / "keys")
    load_region(settings)
    load_population(settings, patients=patients, seed=7, personnummer_file=PNR_FILE)
    settle(url)
    engine = make_engine(url)
    numbers: list[str] = []
    with engine.connect() as conn:
        for (content,) in conn.execute(select(resource.c.content).where(
                resource.c.resource_type == "Patient")):
            numbers += [i["value"] for i in content.get("identifier", [])
                        if i.get("system") == PERSONNUMMER]
    engine.dispose()
    return url, numbers[:patients]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def vardnav(args: list[str], url: str, directory: Path, *, wait_port: int | None = None,
            wrapper: tuple[str, ...] = (), **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`vardnav <args>` as a subprocess on the store; waits until `wait_port` accepts.
    `wrapper`: a command the process runs under (valgrind)."""
    environ = {**os.environ, "VARDNAV_DATABASE_URL": url,
               "VARDNAV_KEY_DIR": str(directory / "keys"), **env}
    proc = subprocess.Popen([*wrapper, sys.executable, "-m", "vardnav.cli", *args],
                            env=environ, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL if wrapper else None)
    try:
        deadline = time.monotonic() + (600 if wrapper else 120)
        while wait_port is not None:
            try:
                socket.create_connection(("127.0.0.1", wait_port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"vardnav {' '.join(args)} did not start") from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


class InstructionCounter:
    """Switches callgrind's instrumentation of a process on and off, and reads the count."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path) -> None:
        self.proc, self.out = proc, out

    def start(self) -> None:
        subprocess.run(["callgrind_control", "--instr=on", str(self.proc.pid)], check=True,
                       capture_output=True)

    def stop(self) -> int:
        """Instructions executed while switched on (a dump is written, then read)."""
        pid = str(self.proc.pid)
        subprocess.run(["callgrind_control", "--instr=off", pid], check=True,
                       capture_output=True)
        subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the dump is written after the command returns
            total = sum(int(line.split()[1])
                        for dump in self.out.parent.glob(self.out.name + ".*")
                        for line in dump.read_text(errors="replace").splitlines()
                        if line.startswith("totals:"))
            if total:
                return total
            time.sleep(0.5)
        raise RuntimeError("callgrind wrote no count")


@contextmanager
def under_callgrind(args: list[str], url: str, directory: Path, *,
                    wait_port: int) -> Iterator[InstructionCounter]:
    """`vardnav <args>` under callgrind, instrumentation off until `start()`. Python's hash
    seed is fixed so that two runs execute the same instructions."""
    out = directory / "callgrind.out"
    wrapper = ("valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={out}")
    with vardnav(args, url, directory, wait_port=wait_port, wrapper=wrapper,
                 PYTHONHASHSEED="0") as proc:
        yield InstructionCounter(proc, out)
