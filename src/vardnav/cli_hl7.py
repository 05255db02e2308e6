"""`vardnav hl7 outbox|deliver|listen|skip`: HL7 v2 ADT over MLLP from the server host."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from vardnav.config import Settings

hl7 = typer.Typer(help="HL7 v2 ADT over MLLP: outbox status, delivery, the inbound listener.",
                  no_args_is_help=True)
console = Console()


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@hl7.command("outbox")
def outbox_command() -> None:
    """Delivery status per receiver: pending, delivered, failing, last error, next attempt."""
    from vardnav.db.engine import make_engine
    from vardnav.integrations.hl7v2.outbox import status
    from vardnav.integrations.hl7v2.runtime import receivers

    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            rows = status(conn, receivers(settings))
    finally:
        engine.dispose()
    table = Table(title="HL7 v2 outbox")
    for column in ("receiver", "address", "pending", "delivered", "skipped", "failing",
                   "blocked on", "last error", "next attempt (UTC)"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.receiver, r.address, str(r.pending), str(r.delivered), str(r.skipped),
                      f"[red]{r.failing}[/red]" if r.failing else "0",
                      "-" if r.head_id is None else f"#{r.head_id}",
                      r.last_error or "-", _when(r.next_attempt))
    console.print(table)
    if not rows:
        console.print("No receivers configured (VARDNAV_HL7_RECEIVERS) and nothing queued.")


@hl7.command("skip")
def skip_command(message_id: int = typer.Argument(..., help="The outbox row id ('blocked "
                                                  "on' in `vardnav hl7 outbox`).")) -> None:
    """Give up on one pending message so the receiver's later messages are delivered."""
    from vardnav.db.engine import make_engine
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.integrations.hl7v2.outbox import skip

    engine = make_engine(Settings().database_url)
    try:
        done = run_in_transaction(engine, lambda conn: skip(conn, message_id))
    finally:
        engine.dispose()
    if not done:
        console.print(f"[red]No pending message #{message_id}.[/red]")
        raise typer.Exit(1)
    console.print(f"Message #{message_id} skipped.")


@hl7.command("deliver")
def deliver_command() -> None:
    """Deliver the outbox to the configured receivers until stopped (Ctrl-C); `vardnav serve`
    does the same unless VARDNAV_HL7_DELIVER=false."""
    from vardnav.db.engine import make_engine
    from vardnav.integrations.hl7v2.runtime import deliver, receivers

    settings = Settings()
    configured = receivers(settings)
    if not configured:
        console.print("[red]No receivers configured: set VARDNAV_HL7_RECEIVERS "
                      "(name=host:port,…).[/red]")
        raise typer.Exit(1)
    engine = make_engine(settings.database_url)

    async def main() -> None:
        async with deliver(settings, engine):
            console.print("Delivering to " + ", ".join(map(str, configured)) + " (Ctrl-C "
                          "stops).")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    engine.dispose()


@hl7.command("listen")
def listen_command(port: int = typer.Option(2575, help="TCP port for MLLP."),
                   host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
                   deliver: bool = typer.Option(False, "--deliver",
                                                help="Also deliver the outbox.")) -> None:
    """Accept inbound ADT over MLLP and apply it with the ADT workflow (ACK AA/AE/AR). Steps
    are taken as the system principal system:hl7/<MSH-3>, audited like API calls."""
    from vardnav.integrations.hl7v2.listener import bound_port, listening
    from vardnav.integrations.hl7v2.runtime import deliver as delivering
    from vardnav.integrations.hl7v2.runtime import processor_for
    from vardnav.main import create_app

    settings = Settings()
    app = create_app(settings)  # the same services, access layers and workflow as the API
    # As `vardnav serve` does at startup: the definitions and compiled search parameters are
    # millions of long-lived objects, and each full collection walked them all (≈0.3 s, with
    # every message waiting) — about 0.3 ms per inbound message.
    gc.collect()
    gc.freeze()

    async def main() -> None:
        async with contextlib.AsyncExitStack() as stack:
            if deliver:
                await stack.enter_async_context(delivering(settings, app.state.engine))
            server = await stack.enter_async_context(listening(
                processor_for(app), host, port, max_frame=settings.hl7_max_frame_bytes))
            console.print(f"HL7 v2 MLLP listener on {host}:{bound_port(server)} (database: "
                          f"{settings.database_url}; Ctrl-C stops).")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
