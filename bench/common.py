"""Shared benchmark plumbing: fresh databases, a real uvicorn server, latency statistics.

Benchmarks print numbers; they are not tests and assert nothing about speed.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
PNR_FILE = ROOT.parent / "shared" / "data" / "skatteverket-testpersonnummer.txt"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
VAR = ROOT / "var" / "bench"
KEYS = VAR / "keys"  # the benchmark servers' signing keys (outside the repository)


@contextmanager
def fresh_database(kind: str, *, keep: str | None = None) -> Iterator[str]:
    """A new, migrated database: a SQLite file under var/bench, or a PostgreSQL database
    created for this run and dropped afterwards (unless `keep` names a reusable one)."""
    from vardnav.db.migrate import upgrade

    if kind == "sqlite":
        VAR.mkdir(parents=True, exist_ok=True)
        path = VAR / (keep or f"bench-{uuid.uuid4().hex[:8]}") if keep else \
            VAR / f"bench-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        upgrade(url)  # idempotent; brings a kept store up to the current schema
        try:
            yield url
        finally:
            if not keep:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = keep or f"vardnav_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname=%s",
                               (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        if not keep:
            with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(url: str, *, workers: int = 1,
           factory: str = "vardnav.main:create_app") -> Iterator[tuple[str, subprocess.Popen]]:
    """uvicorn serving Vårdnav (or another app `factory`) on a free loopback port; yields
    (base URL, process)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    env = {**os.environ, "VARDNAV_DATABASE_URL": url, "VARDNAV_BASE_URL": base,
           "VARDNAV_KEY_DIR": str(KEYS)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", factory, "--factory",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
         "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def authorization(base: str, scopes: str = "system/*.cruds", count: int = 1) -> list[str]:
    """`count` distinct `Authorization` header values (system tokens) for the benchmark
    server at `base`, signed with its keys."""
    from vardnav.config import Settings
    from vardnav.domains.identity.access.keys import KeyStore
    from vardnav.domains.identity.access.principal import principal_claims
    from vardnav.domains.identity.access.tokens import mint

    issuer, store = Settings().issuer, KeyStore(KEYS)
    claims = principal_claims(kind="system", client_id="bench")
    return ["Bearer " + mint(store, issuer=issuer, audience=base, subject="system:bench",
                             scopes=scopes.split(), ttl_seconds=6 * 3600, claims=claims)
            for _ in range(count)]


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MiB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids.extend(int(c) for c in children)
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def percentile(samples: list[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(samples_ms: list[float]) -> str:
    return (f"p50 {percentile(samples_ms, 50):.1f} ms, p95 {percentile(samples_ms, 95):.1f} ms, "
            f"mean {statistics.fmean(samples_ms):.1f} ms")


def settle(url: str) -> None:
    """After a bulk load: VACUUM ANALYZE and CHECKPOINT (PostgreSQL) or ANALYZE (SQLite), the
    routine steps an operator runs, so measurements see fresh statistics, a set visibility map
    and no pending writes."""
    from vardnav.db.engine import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            # Maintenance of a million rows (and their access log) outlasts the server's
            # per-statement limit for requests.
            conn.exec_driver_sql("SET statement_timeout = 0")
            conn.exec_driver_sql("VACUUM ANALYZE")
            # Write the load's dirty pages now, not during the measurement.
            conn.exec_driver_sql("CHECKPOINT")
        else:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def service_cpu(server_pid: int, database: str) -> dict[int, float]:
    """CPU seconds so far of everything that serves a request: the server process and its
    workers, and the PostgreSQL backends connected to `database` (per pid, so a caller can
    take differences). On this shared 2-core machine throughput moves with whatever else
    runs; CPU per request moves much less."""
    pids = {server_pid}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rpartition(")")[2].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) in pids or (cmdline.startswith("postgres:")
                                    and f" {database} " in cmdline):
            pids.add(int(entry.name))
    return {pid: _process_cpu(pid) for pid in pids}


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two `service_cpu` readings (new processes count whole)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())
