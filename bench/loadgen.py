"""A small closed-loop HTTP load generator: N keep-alive connections, each sending the next GET
as soon as the previous response is read, recording every request's latency.

Runs in its own process (uvloop). It replaced wrk here because wrk's latency statistics
disagreed with its own throughput on this machine (a mean far above connections/throughput,
which Little's law rules out); this one prints that check beside its numbers.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
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


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def _connection(host: str, port: int, paths: list[str], deadline: float,
                      latencies: list[float], errors: list[int], seed: int,
                      auth: list[str]) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
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
               auth: list[str]) -> dict:
    url = urlsplit(origin)
    latencies: list[float] = []
    errors = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*[
        _connection(url.hostname or "127.0.0.1", url.port or 80, paths, deadline, latencies,
                    errors, seed, auth) for seed in range(connections)])
    elapsed = time.perf_counter() - started
    ordered = sorted(x * 1000 for x in latencies)
    return {"rps": len(ordered) / elapsed, "mean": statistics.fmean(ordered) if ordered else 0,
            "p50": _percentile(ordered, 50), "p95": _percentile(ordered, 95),
            "p99": _percentile(ordered, 99), "max": ordered[-1] if ordered else 0,
            "errors": errors[0], "requests": len(ordered)}


def run_load(origin: str, paths: list[str], connections: int, seconds: float,
             auth: str | list[str] = "") -> LoadResult:
    """Run the generator in a separate process so it never shares the server's interpreter.

    `auth`: the Authorization header value, or a list of them to rotate through."""
    payload = json.dumps({"origin": origin, "paths": [quote(p, safe="/?=&:,-._~$%")
                                                      for p in paths],
                          "connections": connections, "seconds": seconds,
                          "auth": [auth] if isinstance(auth, str) and auth else
                          (auth or [])})
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
                              args["seconds"], args["auth"]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
