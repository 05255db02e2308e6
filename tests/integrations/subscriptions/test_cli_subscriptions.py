"""`vardnav subscriptions status` shows pending, delivered and failing subscriptions."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sub_support import Receiver, create, eventually, running_app, state_of, subscription
from typer.testing import CliRunner

from conftest import observation, patient
from vardnav.cli import app
from vardnav.config import Settings
from vardnav.fhir.storage.repository import EngineServices


def _wait_active(client: TestClient, sid: str) -> None:
    eventually(lambda: client.get(f"/fhir/Subscription/{sid}").json()["status"] == "active",
               what="active")


def test_status_table(engine: Engine, settings: Settings, services: EngineServices,
                      system_token: str, db_url: str) -> None:
    up, down = Receiver().start(), Receiver().start()
    try:
        with running_app(engine, settings, services, system_token) as client:
            anna = create(client, patient())["id"]
            good = create(client, subscription("Observation", up.url))["id"]
            bad = create(client, subscription("Observation", down.url))["id"]
            _wait_active(client, good)
            _wait_active(client, bad)
            down.stop()
            for _ in range(3):
                create(client, observation(f"Patient/{anna}"))
            eventually(lambda: state_of(engine, good).delivered_upto == 3
                       and state_of(engine, bad).attempts > 0, what="delivery")
            result = CliRunner().invoke(app, ["subscriptions", "status"], terminal_width=250,
                                        env={"VARDNAV_DATABASE_URL": db_url,
                                             "COLUMNS": "250"})
    finally:
        up.stop()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    good_line = next(line for line in lines if good in line)
    bad_line = next(line for line in lines if bad in line)
    assert "active" in good_line and "ConnectError" not in good_line
    assert "ConnectError" in bad_line
    assert " 3 " in good_line and " 0 " in bad_line  # delivered: 3 and 0
