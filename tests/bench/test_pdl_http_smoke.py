"""The patient data law's HTTP benchmark (bench/pdl_http.py, issue 4) runs end to end: on a
small store of its own, every workload is served by all three servers without an error, and
the cost is printed for each. Its numbers come from the 1M-resource store, by hand
(bench/README.md); this only keeps the benchmark from rotting. PostgreSQL only (the
benchmark's store), so it runs in .ci/run's PostgreSQL pass."""

from __future__ import annotations

import os
import re

import pytest

pytestmark = pytest.mark.storage


@pytest.mark.skipif(not os.environ.get("VARDNAV_TEST_DATABASE_URL", "").startswith(
    "postgresql"), reason="the benchmark's store is PostgreSQL")
def test_the_pdl_benchmark_runs_every_workload_and_prints_both_costs(
        capsys: pytest.CaptureFixture[str]) -> None:
    from bench.pdl_http import run

    # A fresh database of its own (created and dropped by bench.common.fresh_database).
    run(0.4, 4, 2, 20, only=None, split=True, build=True, rounds=1, store=None,
        target=600, warmup=0.3, seal_pause=0.3)
    out = capsys.readouterr().out
    served = re.findall(r"\[pdl-http\] (.+?), (allow-all|pdl\+audit|pdl, log in memory): "
                        r"([\d,]+) req/s.*?errors (\d+)", out)
    workloads = {name for name, _mode, _rps, _errors in served}
    assert workloads == {"read Observation by id",
                         "read Observation by id, another provider's nurse (consent)",
                         "Observation?subject&code&_sort=-date",
                         "Observation?subject&_count=50"}, out
    assert len(served) == 12, out  # four workloads, three servers
    assert all(errors == "0" and int(rps.replace(",", "")) > 0
               for _n, _m, rps, errors in served), out
    for name in workloads:
        assert re.search(re.escape(name) + r": PDL \+ audit cost -?[\d.]+ % of throughput",
                         out), out
        assert re.search(re.escape(name) + r": server \+ database CPU per request", out), out
