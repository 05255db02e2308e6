"""`vardnav client add|list` (and the older `vardnav app register`): the app registry from
the server host."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console

from vardnav.config import Settings

clients = typer.Typer(help="Register and list apps and integrations (OAuth clients).",
                      no_args_is_help=True)
console = Console()


def add(client_id: str = typer.Option(..., help="The client id (3-128 characters)."),
        name: str = typer.Option(..., help="A name people recognise."),
        kind: str = typer.Option("backend", help="backend, confidential or public."),
        scope: list[str] = typer.Option(..., help="Scopes the app may be granted."),
        jwks_file: Path | None = typer.Option(
            None, help="JSON Web Key Set with the app's public keys (backend, or a "
                       "confidential app using private_key_jwt)."),
        redirect_uri: list[str] = typer.Option(
            [], help="Redirect URI (interactive apps; repeatable)."),
        secret_stdin: bool = typer.Option(
            False, "--secret-stdin", help="Read the confidential app's client secret (32+ "
                                          "characters) from standard input instead of "
                                          "generating one.")) -> None:
    """Register an OAuth client; a confidential app without keys gets a client secret,
    printed once (only its hash is stored)."""
    from vardnav.db.engine import make_engine
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.domains.identity.oauth.apps import register_app
    from vardnav.domains.identity.oauth.client_secrets import new_secret
    from vardnav.errors import VardnavError

    jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    secret = None
    if secret_stdin:
        secret = sys.stdin.readline().strip()
    elif kind == "confidential" and not jwks:
        secret = new_secret()
    engine = make_engine(Settings().database_url)
    try:
        registered = run_in_transaction(engine, lambda conn: register_app(
            conn, client_id=client_id, name=name, kind=kind,
            scopes=[s for item in scope for s in item.split()],
            redirect_uris=redirect_uri, jwks=jwks, client_secret=secret))
    except VardnavError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    console.print(f"Registered {registered.kind} client {registered.client_id} "
                  f"({' '.join(registered.scopes)}).")
    if secret and not secret_stdin:
        console.print("Client secret (shown once, store it now; the last line):")
        print(secret)


def list_clients() -> None:
    """List the registered clients."""
    from vardnav.db.engine import make_engine
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.domains.identity.oauth.apps import list_apps

    engine = make_engine(Settings().database_url)
    try:
        apps = run_in_transaction(engine, list_apps, write=False)
    finally:
        engine.dispose()
    for a in apps:
        auth = ("client_secret_basic" if a.secret_hash else
                "private_key_jwt" if a.jwks else "none (public)")
        console.print(f"{a.client_id}\t{a.kind}\t{a.name}\tauth: {auth}\t"
                      f"scopes: {' '.join(a.scopes)}\tredirects: {' '.join(a.redirect_uris)}",
                      soft_wrap=True, highlight=False)


clients.command("add")(add)
clients.command("list")(list_clients)
