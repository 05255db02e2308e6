"""`vardnav subscriptions status|deliver`: FHIR Subscriptions from the server host."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from vardnav.config import Settings

subscriptions = typer.Typer(help="FHIR Subscriptions: delivery status and the delivery worker.",
                            no_args_is_help=True)
console = Console()


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@subscriptions.command("status")
def status_command() -> None:
    """Per subscription: status, channel, events, delivered, pending, failing, last error."""
    from vardnav.db.engine import make_engine
    from vardnav.integrations.subscriptions.status import status

    engine = make_engine(Settings().database_url)
    try:
        with engine.connect() as conn:
            rows = status(conn)
    finally:
        engine.dispose()
    table = Table(title="FHIR Subscriptions")
    for column in ("id", "status", "endpoint", "criteria", "owner", "events", "delivered",
                   "pending", "failing", "last error", "next attempt (UTC)"):
        table.add_column(column)
    for r in rows:
        colour = {"active": "green", "error": "red", "requested": "yellow"}.get(r.status, "")
        table.add_row(r.id, f"[{colour}]{r.status}[/{colour}]" if colour else r.status,
                      r.target, r.criteria, r.owner, str(r.events), str(r.delivered),
                      str(r.pending), f"[red]{r.attempts}[/red]" if r.attempts else "0",
                      r.last_error or "-", _when(r.next_attempt))
    console.print(table)
    if not rows:
        console.print("No subscriptions.")


@subscriptions.command("deliver")
def deliver_command() -> None:
    """Deliver rest-hook notifications until stopped (Ctrl-C); `vardnav serve` does the same
    unless VARDNAV_SUBSCRIPTIONS_DELIVER=false."""
    from vardnav.db.engine import make_engine
    from vardnav.integrations.subscriptions.runtime import deliver
    from vardnav.main import build_services

    settings = Settings()
    engine = make_engine(settings.database_url)
    services = build_services(settings, engine=engine)

    async def main() -> None:
        async with deliver(settings, engine, services):
            console.print(f"Delivering subscription notifications from "
                          f"{settings.database_url} (Ctrl-C stops).")
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    engine.dispose()
