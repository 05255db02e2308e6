"""The `vardnav` command line: serve, migrate, demo, reindex."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from vardnav.cli_audit import audit
from vardnav.cli_clients import add as add_client
from vardnav.cli_clients import clients
from vardnav.cli_hl7 import hl7
from vardnav.cli_subscriptions import subscriptions
from vardnav.cli_users import print_demo_accounts, users
from vardnav.config import Settings

app = typer.Typer(help="Vårdnav: a FHIR R4 shared health record for a Swedish region.",
                  no_args_is_help=True, add_completion=False)
console = Console()


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


@app.command()
def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          port: int = typer.Option(8080, help="TCP port."),
          workers: int = typer.Option(1, help="Worker processes (uvicorn).")) -> None:
    """Serve the FHIR API (under /fhir) with uvicorn."""
    import uvicorn

    console.print(f"Vårdnav on http://{host}:{port}/fhir  (database: "
                  f"{Settings().database_url})")
    uvicorn.run("vardnav.main:create_app", factory=True, host=host, port=port,
                workers=workers, log_level="warning")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic) at VARDNAV_DATABASE_URL."""
    from vardnav.db.migrate import upgrade

    url = Settings().database_url
    upgrade(url)
    console.print(f"Database at {url} is up to date.")


@app.command()
def demo(patients: int = typer.Option(2000, help="How many synthetic patients."),
         seed: int = typer.Option(1, help="Random seed (same seed, same population)."),
         personnummer_file: Path | None = typer.Option(
             None, help="Skatteverket's test personnummer list (default: the setting "
                        "VARDNAV_TESTPERSONNUMMER_FILE; generated numbers if missing)."),
         if_empty: bool = typer.Option(False, "--if-empty",
                                       help="Do nothing if the database holds resources.")
         ) -> None:
    """Load the demo region and a synthetic population of patients with encounters, conditions, observations and allergies, every resource tagged HTEST."""  # noqa: E501
    from vardnav.demo.loader import database_is_empty, load_population, load_region

    settings = Settings()
    if if_empty and not database_is_empty(settings):
        console.print("The database already holds data; demo population not loaded.")
        return
    source = personnummer_file or settings.testpersonnummer_file
    if not source.is_file():
        console.print(f"[yellow]{source} not found: using generated valid personnummer "
                      "instead of Skatteverket's test list.[/yellow]")
    units = load_region(settings)
    console.print(f"Region: {units} organisations and locations (Västra Götaland model: "
                  "49 municipalities, hospitals with wards and beds).")
    with _progress() as progress:
        task = progress.add_task("Loading demo patients", total=patients)
        stats = load_population(settings, patients=patients, seed=seed,
                                personnummer_file=source,
                                on_patient=lambda: progress.advance(task))
    console.print(f"Loaded {stats.patients} patients, {stats.resources} resources in "
                  f"{stats.seconds:.1f} s ({stats.resources / max(stats.seconds, 1e-9):.0f} "
                  f"resources/s).")
    print_demo_accounts(settings)


@app.command()
def token(user: str | None = typer.Option(None, help="The staff member's HSA-id."),
          unit: str | None = typer.Option(
              None, help="HSA-id of the care unit, if the user has several assignments."),
          system: bool = typer.Option(False, "--system",
                                      help="A system (integration) token instead."),
          patient: str | None = typer.Option(
              None, help="Patient id in context (for patient/ scopes)."),
          client_id: str = typer.Option("vardnav-cli", help="Client id put in the token."),
          scope: list[str] = typer.Option(..., help="Scopes, e.g. user/*.rs (repeatable).")
          ) -> None:
    """Mint an access token on the server host (for scripts and tests); the token is the
    last line printed. A staff token carries the assignment (unit, provider, profession)
    read from the record, as a sign-in would."""
    from vardnav.domains.identity.access.keys import KeyStore
    from vardnav.domains.identity.access.principal import principal_claims
    from vardnav.domains.identity.access.staff_tokens import AssignmentError, staff_assignment
    from vardnav.domains.identity.access.tokens import mint

    if system == (user is not None):
        raise typer.BadParameter("Give either --user HSA-ID or --system")
    settings = Settings()
    if user is not None:
        try:
            a = staff_assignment(settings, user, unit)
        except AssignmentError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        claims = principal_claims(kind="staff", client_id=client_id, unit=a.unit_hsa,
                                  provider=a.provider_hsa, role=a.profession,
                                  assignment=a.assignment_id, patient=patient,
                                  fhir_user=f"Practitioner/{a.practitioner_id}")
        who = f"{a.name} ({user}) at {a.unit_name} as {a.profession_display}"
    else:
        claims = principal_claims(kind="system", client_id=client_id, patient=patient)
        who = f"system:{client_id}"
    scopes = [s for item in scope for s in item.split()]
    issued = mint(KeyStore(settings.key_dir), issuer=settings.issuer,
                  audience=settings.base_url, subject=user or f"system:{client_id}",
                  scopes=scopes, ttl_seconds=settings.token_ttl_seconds, claims=claims)
    console.print(f"Token for {who} ({' '.join(scopes)}), valid "
                  f"{settings.token_ttl_seconds} s:")
    print(issued)


apps = typer.Typer(help="Register apps and integrations (OAuth clients); see also "
                        "`vardnav client`.", no_args_is_help=True)
app.add_typer(apps, name="app")
app.add_typer(clients, name="client")
app.add_typer(users, name="user")
app.add_typer(audit, name="audit")
app.add_typer(hl7, name="hl7")
app.add_typer(subscriptions, name="subscriptions")
# `vardnav app register` is the older name of `vardnav client add`.
apps.command("register")(add_client)


@app.command()
def reindex(resource_type: str | None = typer.Option(None, "--type",
                                                     help="Only this resource type."),
            batch: int = typer.Option(500, help="Resources per transaction.")) -> None:
    """Rebuild search index rows from stored resources (after a search-parameter change)."""
    from vardnav.domains.access.protected_identity import searchable
    from vardnav.fhir.storage.reindex import count_current, reindex_all

    settings = Settings()
    total = count_current(settings, resource_type)
    with _progress() as progress:
        task = progress.add_task("Reindexing", total=total)
        done = reindex_all(settings, resource_type, batch=batch,
                           on_batch=lambda n: progress.advance(task, n),
                           searchable=searchable)
    console.print(f"Reindexed {done} resources.")


if __name__ == "__main__":
    app()
