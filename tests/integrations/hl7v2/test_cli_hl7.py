"""`vardnav hl7 outbox` and `vardnav hl7 skip` on a database with queued messages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hl7_support import clear_hl7
from sqlalchemy import Engine
from typer.testing import CliRunner

from vardnav.cli import app
from vardnav.integrations.hl7v2.outbox import enqueue_raw
from vardnav.integrations.hl7v2.sender import Head, _record


@pytest.fixture
def queued(engine: Engine) -> Iterator[Engine]:
    clear_hl7(engine)
    with engine.begin() as conn:
        for n in range(3):
            enqueue_raw(conn, receiver="lab", trigger="A01", control_id=f"C{n}",
                        message="MSH|^~\\&|VARDNAV\r")
        head = conn.exec_driver_sql("SELECT min(id) FROM hl7_outbox").scalar_one()
        _record(conn, [], (Head(head, "C0", "", 0, None), "AR: unknown ward", 60))
    yield engine
    clear_hl7(engine)


def test_outbox_status_and_skip(queued: Engine, db_url: str) -> None:
    env = {"VARDNAV_DATABASE_URL": db_url, "VARDNAV_HL7_RECEIVERS": "lab=127.0.0.1:2575",
           "COLUMNS": "250"}
    runner = CliRunner()
    shown = runner.invoke(app, ["hl7", "outbox"], env=env, terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "lab" in shown.output and "AR: unknown ward" in shown.output
    with queued.connect() as conn:
        head = conn.exec_driver_sql("SELECT min(id) FROM hl7_outbox").scalar_one()
    assert f"#{head}" in shown.output
    skipped = runner.invoke(app, ["hl7", "skip", str(head)], env=env)
    assert skipped.exit_code == 0, skipped.output
    again = runner.invoke(app, ["hl7", "skip", str(head)], env=env)
    assert again.exit_code == 1
    shown = runner.invoke(app, ["hl7", "outbox"], env=env, terminal_width=200)
    assert "AR: unknown ward" not in shown.output


def test_deliver_needs_receivers(db_url: str) -> None:
    result = CliRunner().invoke(app, ["hl7", "deliver"],
                                env={"VARDNAV_DATABASE_URL": db_url, "VARDNAV_HL7_RECEIVERS": ""})
    assert result.exit_code == 1 and "VARDNAV_HL7_RECEIVERS" in result.output
