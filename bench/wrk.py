"""Drive `wrk` with a list of request paths and read back throughput and percentiles."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

_SCRIPT = r"""
local paths = {}
for line in io.lines("%s") do paths[#paths + 1] = line end
request = function()
  return wrk.format("GET", paths[math.random(#paths)], {["Accept"] = "application/fhir+json"})
end
done = function(summary, latency, requests)
  local f = io.open("%s", "w")
  f:write(string.format('{"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f,'
    .. ' "errors": %%d, "non2xx": %%d}',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout, summary.errors.status))
  f:close()
end
"""


@dataclass
class WrkResult:
    rps: float
    p50: float
    p95: float
    p99: float
    errors: int


def run_wrk(origin: str, paths: list[str], threads: int, connections: int, seconds: int,
            workdir: Path) -> WrkResult:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    path_file = workdir / "paths.txt"
    out_file = workdir / "result.json"
    # wrk sends paths verbatim: percent-encode what a URL may not hold (|, spaces, å...).
    path_file.write_text("\n".join(quote(p, safe="/?=&:,-._~$%") for p in paths) + "\n")
    script = workdir / "paths.lua"
    script.write_text(_SCRIPT % (path_file, out_file))
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                           f"{seconds}s", "--timeout", "10s", "-s", str(script), origin],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr or done.stdout}")
    data = json.loads(out_file.read_text())
    return WrkResult(data["requests"] / data["seconds"], data["p50"], data["p95"], data["p99"],
                     data["errors"] + data["non2xx"])
