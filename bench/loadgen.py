"""A small closed-loop HTTP load generator: N keep-alive connections, each sending the next GET
as soon as the previous response is read, recording every request's latency.

Runs in its own process (uvloop). It replaced wrk here because wrk's latency statistics
disagreed with its own throughput on this machine (a mean far above connections/throughput,
which Little's law rules out); this one prints that check beside its numbers.

With `workers` > 1 it spreads its connections evenly over the server's worker processes.
uvicorn's workers share one listening socket and asyncio accepts every waiting connection
at once, so a burst of 8 connections usually lands on one worker (seen: 8 + 0 and 7 + 1),
which left the other idle and made throughput swing 2× from one run to the next. Each
connection is therefore asked (`ss`) which worker accepted it, and reopened while that
worker already has its share; the split is returned with the numbers.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit


@dataclass
class LoadResult:
    rps: float
    mean: float
    p50: float
    p95: float
    p99: float
    max: float
    errors: int
    requests: int
    split: list[int] = field(default_factory=list)  # connections per server worker


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _accepted_by(port: int, local_port: int) -> int | None:
    """The pid of the server process that accepted our connection from `local_port`, or
    None if `ss` cannot tell (not installed, or not accepted within a second)."""
    for _ in range(100):
        try:
            proc = await asyncio.create_subprocess_exec(
                "ss", "-tnpH", "state", "established",
                f"( sport = :{port} and dport = :{local_port} )",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            return None
        out = (await proc.communicate())[0].decode()
        if "pid=" in out:
            return int(out.split("pid=", 1)[1].split(",", 1)[0])
        await asyncio.sleep(0.01)
    return None


async def _open_connections(host: str, port: int, count: int,
                            workers: int) -> tuple[list[Connection], list[int]]:
    """`count` connections, at most ceil(count / workers) on any one worker process."""
    share = -(-count // max(workers, 1))
    per_worker: Counter[int | None] = Counter()
    conns: list[Connection] = []
    for _ in range(count):
        for attempt in range(200):  # (the last attempt is kept, whoever accepted it)
            reader, writer = await asyncio.open_connection(host, port)
            owner = None if workers <= 1 else await _accepted_by(
                port, writer.get_extra_info("sockname")[1])
            if owner is None or per_worker[owner] < share or attempt == 199:
                break
            writer.close()  # that worker has its share: connect again
        per_worker[owner] += 1
        conns.append((reader, writer))
    return conns, sorted(per_worker.values(), reverse=True)


async def _connection(conn: Connection, host: str, paths: list[str], deadline: float,
                      latencies: list[float], errors: list[int], seed: int,
                      auth: list[str]) -> None:
    rng = random.Random(seed)
    reader, writer = conn
    sent = 0
    try:
        while time.perf_counter() < deadline:
            path = paths[rng.randrange(len(paths))]
            # Several tokens: each connection walks through them (a new token per request).
            token = auth[(seed + sent * 7919) % len(auth)] if auth else ""
            sent += 1
            header = f"Authorization: {token}\r\n" if token else ""
            request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{header}"
                       "Accept: application/fhir+json\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 2"):
                errors[0] += 1
    finally:
        writer.close()


async def _run(origin: str, paths: list[str], connections: int, seconds: float,
               auth: list[str], workers: int) -> dict:
    url = urlsplit(origin)
    host = url.hostname or "127.0.0.1"
    conns, split = await _open_connections(host, url.port or 80, connections, workers)
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*[
        _connection(conn, host, paths, deadline, latencies, errors, seed, auth)
        for seed, conn in enumerate(conns)])
    elapsed = time.perf_counter() - started
    ordered = sorted(x * 1000 for x in latencies)
    return {"rps": len(ordered) / elapsed, "mean": statistics.fmean(ordered) if ordered else 0,
            "p50": _percentile(ordered, 50), "p95": _percentile(ordered, 95),
            "p99": _percentile(ordered, 99), "max": ordered[-1] if ordered else 0,
            "errors": errors[0], "requests": len(ordered), "split": split}


def run_load(origin: str, paths: list[str], connections: int, seconds: float,
             auth: str | list[str] = "", *, workers: int = 1) -> LoadResult:
    """Run the generator in a separate process so it never shares the server's interpreter.

    `auth`: the Authorization header value, or a list of them to rotate through;
    `workers`: the server's worker processes, to spread the connections over."""
    payload = json.dumps({"origin": origin, "paths": [quote(p, safe="/?=&:,-._~$%")
                                                      for p in paths],
                          "connections": connections, "seconds": seconds,
                          "auth": [auth] if isinstance(auth, str) and auth else
                          (auth or []), "workers": workers})
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=payload, cwd=root,
                          capture_output=True, text=True, check=True)
    return LoadResult(**json.loads(done.stdout))


def main() -> None:
    args = json.loads(sys.stdin.read())
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    result = asyncio.run(_run(args["origin"], args["paths"], args["connections"],
                              args["seconds"], args["auth"], args.get("workers", 1)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
