"""`vardnav audit seal|verify|review`: the access log, from the server host."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from vardnav.config import Settings
from vardnav.errors import VardnavError

if TYPE_CHECKING:
    from vardnav.domains.access.log_review import Finding

audit = typer.Typer(help="The access log: seal it into its hash chain, verify the chain, "
                         "review accesses.", no_args_is_help=True)
console = Console()


@contextmanager
def _engine() -> Iterator[Engine]:
    from vardnav.db.engine import make_engine

    engine = make_engine(Settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


@audit.command("seal")
def seal_command() -> None:
    """Seal unsealed log rows into the hash chain (the server does this every second)."""
    from vardnav.domains.access.audit_chain import seal

    with _engine() as engine:
        done = seal(engine)
    console.print(f"Sealed {done} record(s).")


@audit.command("verify")
def verify_command(anchor: str | None = typer.Option(
        None, help="SEAL:HASH of a chain head noted earlier (printed by verify): checks that "
                   "nothing was removed from the end or rewritten since.")) -> None:
    """Recompute the hash chain; exit 1 on altered, removed, reordered or long-unsealed records."""
    from vardnav.domains.access.audit_chain import verify

    expected = _anchor(anchor) if anchor else None
    with _engine() as engine:
        report = verify(engine, anchor=expected)
    summary = Table(title="Access log", show_header=False)
    summary.add_row("sealed records", str(report.sealed))
    summary.add_row("unsealed records", str(report.unsealed))
    summary.add_row("seals", str(report.seals))
    summary.add_row("frames", str(len(report.frames_checked)))
    summary.add_row("recorded", f"{_when(report.first_recorded)} – "
                                f"{_when(report.last_recorded)} UTC")
    console.print(summary)
    console.print(f"chain head: {report.head_seal}:{report.head_hash}", soft_wrap=True)
    if report.ok:
        console.print("[green]The chain is intact.[/green] Keep the chain head above "
                      "elsewhere to check later that nothing was removed from its end "
                      "(--anchor).")
        return
    problems = Table(title=f"{len(report.problems)} problem(s)")
    for column in ("kind", "seal", "seq", "what"):
        problems.add_column(column)
    for p in report.problems:
        problems.add_row(p.kind, "" if p.seal is None else str(p.seal),
                         "" if p.seq is None else str(p.seq), p.message)
    console.print(problems)
    console.print("[red]The access log does not verify.[/red]")
    raise typer.Exit(1)


def _anchor(text: str) -> tuple[int, str]:
    number, _, digest = text.partition(":")
    if not (number.isdigit() and len(digest) == 64):
        raise typer.BadParameter("--anchor is SEAL:HASH, e.g. 1200:3f2a… (64 hex digits)")
    return int(number), digest


@audit.command("review")
def review_command(
        since: str = typer.Option(..., help="Start of the window: a date or date-time."),
        until: str | None = typer.Option(None, help="End of the window (its whole day)."),
        output: str = typer.Option("table", "--format", help="table, csv or json."),
        threshold: int | None = typer.Option(
            None, help="Distinct patients per user and day that count as unusual "
                       "(default: VARDNAV_AUDIT_REVIEW_DAILY_PATIENTS, 50).")) -> None:
    """Accesses needing a human look (asserted relationships, emergencies, relatives, protected identities, volumes)."""  # noqa: E501
    from vardnav.domains.access import log_review

    if output not in ("table", "csv", "json"):
        raise typer.BadParameter("--format is table, csv or json")
    settings = Settings()
    query = [("since", since), *([("until", until)] if until else [])]
    with _engine() as engine:
        try:
            findings = _reviewed(engine, query,
                                 threshold or settings.audit_review_daily_patients)
        except VardnavError as exc:  # e.g. a malformed date
            console.print(f"[red]{exc.message}[/red]")
            raise typer.Exit(2) from exc
    if output == "csv":
        sys.stdout.write(log_review.as_csv(findings))
    elif output == "json":
        sys.stdout.write(json.dumps(log_review.as_json(findings), ensure_ascii=False,
                                    indent=1) + "\n")
    else:
        table = Table(title=f"{len(findings)} finding(s)")
        for column in ("when (UTC)", "rule", "user", "unit", "patient", "reason"):
            table.add_column(column)
        for f in findings:
            table.add_row(_when(f.when), f.rule, f.user or "", f.unit or "", f.patient or "",
                          f.reason)
        console.print(table)


def _reviewed(engine: Engine, query: list[tuple[str, str]],
              threshold: int) -> list[Finding]:
    """Run the review as the command line's system caller: it is logged like any other."""
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.domains.access.audit_log import DatabaseAuditSink
    from vardnav.domains.access.log_review import run
    from vardnav.domains.identity.access.principal import Principal
    from vardnav.fhir.hooks import RequestContext

    who = Principal(kind="system", subject=f"system:vardnav-cli ({getpass.getuser()})",
                    client_id="vardnav-cli", scope_text="")
    ctx, sink = RequestContext(principal=who), DatabaseAuditSink()
    return run_in_transaction(engine, lambda conn: run(conn, ctx, sink, query,
                                                       daily_threshold=threshold),
                              write=False)
