"""`vardnav user add|list|disable|enable`: sign-in accounts, from the server host."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from vardnav.config import Settings

users = typer.Typer(help="Sign-in accounts of staff (HSA-id) and residents (personnummer).",
                    no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _in_transaction(work: Callable[[Connection], T]) -> T:
    from vardnav.db.engine import make_engine
    from vardnav.db.unit_of_work import run_in_transaction

    engine = make_engine(Settings().database_url)
    try:
        return run_in_transaction(engine, work)
    finally:
        engine.dispose()


@users.command("add")
def add(username: str = typer.Option(..., help="HSA-id (staff) or 12-digit personnummer "
                                               "(resident)."),
        kind: str = typer.Option(..., help="staff or resident."),
        password: str | None = typer.Option(
            None, help="The password (visible in the shell history: prefer "
                       "--password-stdin)."),
        password_stdin: bool = typer.Option(False, "--password-stdin",
                                            help="Read the password from standard input.")
        ) -> None:
    """Create an account; the password is stored only as an argon2id hash."""
    from vardnav.domains.identity.signin.accounts import create_account
    from vardnav.errors import VardnavError

    if password_stdin == (password is not None):
        raise typer.BadParameter("Give exactly one of --password and --password-stdin")
    secret = sys.stdin.readline().rstrip("\r\n") if password_stdin else password or ""
    try:
        account = _in_transaction(lambda conn: create_account(
            conn, username=username, kind=kind, password=secret))
    except VardnavError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"Created {account.kind} account {account.username}.")


@users.command("list")
def list_() -> None:
    """List accounts (never their password hashes)."""
    from vardnav.domains.identity.signin.accounts import list_accounts

    table = Table("username", "kind", "status", "created")
    for a in _in_transaction(list_accounts):
        created = datetime.fromtimestamp(a.created, UTC).strftime("%Y-%m-%d %H:%M")
        table.add_row(a.username, a.kind, "disabled" if a.disabled else "active", created)
    console.print(table)


def _set_disabled(username: str, disabled: bool) -> None:
    from vardnav.domains.identity.signin.accounts import normalise_username, set_disabled

    name = normalise_username(username)
    if not _in_transaction(lambda conn: set_disabled(conn, name, disabled)):
        console.print(f"[red]No account named {name}.[/red]")
        raise typer.Exit(1)
    console.print(f"{name} is {'disabled' if disabled else 'enabled'}.")


@users.command("disable")
def disable(username: str = typer.Argument(..., help="The account to block.")) -> None:
    """Block an account from signing in (it is kept, for the audit trail)."""
    _set_disabled(username, True)


@users.command("enable")
def enable(username: str = typer.Argument(..., help="The account to unblock.")) -> None:
    """Let a disabled account sign in again."""
    _set_disabled(username, False)


def print_demo_accounts(settings: Settings) -> None:
    """Create the demo accounts (`vardnav demo`) and say how to sign in with them."""
    from vardnav.demo.accounts import DEMO_PASSWORD, create_demo_accounts

    made = create_demo_accounts(settings)
    console.print(f"Guardianship: {made.guardianships_created} RelatedPerson resources added "
                  "(the population has no guardians of its own).")
    console.print(f"Sign-in accounts at /login, all with the demo password "
                  f"[bold]{DEMO_PASSWORD}[/bold] (`vardnav user list` shows them all):")
    console.print(f"  staff: {len(made.staff)} accounts (username = HSA-id)", end="")
    console.print(f", e.g. {made.two_assignments} (two assignments: chooses one)"
                  if made.two_assignments else "")
    for pnr, who in made.residents:
        console.print(f"  resident {pnr}: {who}")
