"""The set of patients with blocks (blocked_patients.py) on its own, and its PostgreSQL
watcher started and stopped from many threads; its use by searches, the watcher's
notifications and its reconnection are tested through the API in test_pdl_scenarios.py."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, create_engine

from vardnav.domains.access.blocked_patients import BlockedPatients
from vardnav.domains.access.derivations import BLOCK_OPERATION, PdlDerivations
from vardnav.domains.access.profiles import BLOCK_KIND, CONSENT_CATEGORY
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.fhir.hooks import Custody, RequestContext

PROVIDER = "SE2321000131-E000000000001"


def block_consent(patient: str) -> dict[str, object]:
    return {"resourceType": "Consent", "id": "b1", "status": "active",
            "patient": {"reference": f"Patient/{patient}"},
            "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "block"}]}],
            "extension": [{"url": BLOCK_KIND, "valueCode": "outer"}],
            "provision": {"actor": [{"reference": {"identifier": {
                "system": HSA_SYSTEM, "value": PROVIDER}}}]}}


def test_unwatched_every_patient_might_have_blocks() -> None:
    blocked = BlockedPatients()
    blocked.add("p1")  # nothing to add to: the database is asked anyway
    assert not blocked.watching
    assert blocked.might_have(["p1"]) and blocked.might_have(["anyone"])


def test_watched_only_patients_with_blocks_might_have_them() -> None:
    blocked = BlockedPatients(known=["p1"])
    assert blocked.watching
    assert blocked.might_have(["p2", "p1"])
    assert not blocked.might_have(["p2"]) and not blocked.might_have([])


def test_a_block_this_process_writes_is_known_before_it_commits(engine: Engine) -> None:
    """So that this process's next search never waits for the notification of its own
    block (other processes learn of it by NOTIFY, at commit)."""
    blocked = BlockedPatients(known=[])
    derivations = PdlDerivations(3600, blocked)
    ctx = RequestContext(attributes={BLOCK_OPERATION: True})
    with engine.connect() as conn, conn.begin() as tx:
        derivations.written(conn, ctx, "Consent", "b1", block_consent("p1"),
                            Custody(PROVIDER, None))
        assert blocked.might_have(["p1"])  # before the commit
        assert not blocked.might_have(["p2"])
        tx.rollback()
    assert blocked.might_have(["p1"])  # a rolled-back block only costs a statement


def test_the_watcher_survives_being_started_and_stopped_from_many_threads(engine: Engine) -> None:
    """Several lifespans of one app (concurrent test clients) start and stop the same
    watcher; none may fail, and none may leave a watcher running."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the watcher runs on PostgreSQL only")
    blocked = BlockedPatients()

    def cycles(_: int) -> None:
        for _ in range(5):
            blocked.start(engine, retry_seconds=0.1)
            blocked.stop()

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(cycles, range(6)))
    assert not blocked.watching
    assert not [t for t in threading.enumerate()
                if t.name == "pdl-block-watcher" and t.is_alive()]


class _HeldConnection:
    """A watcher connection whose initial load waits for `gate` (test_a_stopped_watcher...)."""

    def __init__(self, gate: threading.Event, loads: set[str]) -> None:
        self.gate, self.loads = gate, loads
        self.quiet = os.pipe()  # never written to: the watcher sleeps until woken

    def __enter__(self) -> _HeldConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        for fd in self.quiet:
            os.close(fd)

    def execute(self, sql: str) -> list[tuple[str]]:
        if sql.startswith("SELECT"):
            self.gate.wait(10)
            return [(p,) for p in self.loads]
        return []

    def notifies(self, timeout: float) -> list[object]:
        return []

    def fileno(self) -> int:
        return self.quiet[0]


def test_a_stopped_watcher_never_wipes_the_set_of_the_watcher_started_after_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Overlapping lifespans: one stops the watcher while its load is still running, the
    next starts a new one, which loads first. The old watcher's late load and its exit must
    leave the new watcher's set alone (else the process asks the database on every search
    until the new watcher happens to reconnect)."""
    from vardnav.domains.access import blocked_patients

    first, second = threading.Event(), threading.Event()
    connections = iter([_HeldConnection(first, {"p-old"}), _HeldConnection(second, {"p-new"})])
    real_connect = blocked_patients.psycopg.connect

    def connect(conninfo: str, *args: object, **kwargs: object) -> object:
        # Only this test's watchers get the held connections (another test's app may still
        # be reconnecting its own watcher in this process).
        if conninfo.endswith("/none"):
            return next(connections)
        return real_connect(conninfo, *args, **kwargs)

    monkeypatch.setattr(blocked_patients.psycopg, "connect", connect)
    engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connects
    blocked = BlockedPatients()
    blocked.start(engine, retry_seconds=0.1)
    stopping = threading.Thread(target=blocked.stop)
    stopping.start()  # waits for the first watcher, still loading
    deadline = time.monotonic() + 5
    while blocked._thread is not None and time.monotonic() < deadline:  # stop() took it
        time.sleep(0.001)
    blocked.start(engine, retry_seconds=0.1)
    second.set()
    while not blocked.watching and time.monotonic() < deadline:
        time.sleep(0.001)
    assert blocked.might_have(["p-new"])
    first.set()  # the old watcher's load returns; it sees its stop and exits
    stopping.join(10)
    assert not stopping.is_alive()
    assert blocked.watching and blocked.might_have(["p-new"])
    assert not blocked.might_have(["p-old"])  # the old watcher's load was not taken
    blocked.stop()
    assert not blocked.watching
