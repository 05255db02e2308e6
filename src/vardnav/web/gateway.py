"""The pages' only way into the record: the signed-in person's principal, and FHIR requests
through the same engine router and Repository as the API.

A page never reads tables itself. It builds `FhirRequest`s and hands them to
`vardnav.fhir.router.dispatch` inside one transaction, so scopes, municipality options, the
patient data law (PDL), block notices and the access log apply to every page exactly as they
apply to the API — including which patients a search finds and what an operation may do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.access.scopes import parse_scopes
from vardnav.domains.identity.signin.session import SignIn
from vardnav.errors import NotFound
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository

T = TypeVar("T")
CLIENT_ID = "vardnav-web"
# What the pages may do on a person's behalf: staff as any staff app (the access layers
# decide per patient); residents read their own record and register or lift their own blocks.
STAFF_SCOPES = "user/*.cruds"
RESIDENT_SCOPES = "patient/*.rs patient/Consent.cu"


def principal_of(who: SignIn) -> Principal:
    """The principal a token minted at this sign-in would carry (see identity/access)."""
    if who.kind == "staff":
        return Principal(kind="staff", subject=who.subject, client_id=CLIENT_ID,
                         scope_text=STAFF_SCOPES, scopes=tuple(parse_scopes(STAFF_SCOPES)),
                         unit=who.unit, provider=who.provider, role=who.role,
                         assignment=who.assignment, fhir_user=who.fhir_user)
    return Principal(kind="resident", subject=f"patient:{who.patient}", client_id=CLIENT_ID,
                     scope_text=RESIDENT_SCOPES, scopes=tuple(parse_scopes(RESIDENT_SCOPES)),
                     patient=who.patient, fhir_user=who.fhir_user)


@dataclass
class Found:
    """A search's matches, what it included, and its notices (e.g. blocked data exists)."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    included: dict[str, dict[str, Any]] = field(default_factory=dict)  # "Type/id" → resource
    notices: list[str] = field(default_factory=list)
    total: int | None = None


class Fhir:
    """FHIR interactions of one page, in one transaction, as the signed-in person."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    @property
    def principal(self) -> Principal:
        p = self.repo.ctx.principal
        assert isinstance(p, Principal)
        return p

    def call(self, method: str, path: str, query: list[tuple[str, str]] | None = None,
             body: Any = None) -> FhirResponse:
        """One interaction; refusals raise the engine's VardnavError like the API's."""
        return dispatch(self.repo, FhirRequest(method, path, list(query or []), {}, body))

    def search(self, rtype: str, *pairs: tuple[str, str]) -> Found:
        bundle = self.call("GET", rtype, list(pairs)).body or {}
        found = Found(total=bundle.get("total"))
        for entry in bundle.get("entry", []):
            res = entry.get("resource") or {}
            mode = (entry.get("search") or {}).get("mode")
            if mode == "outcome":
                found.notices += [i.get("diagnostics", "") for i in res.get("issue", [])
                                  if i.get("code") == "suppressed"]
            elif mode == "include":
                found.included[f"{res.get('resourceType')}/{res.get('id')}"] = res
            else:
                found.matches.append(res)
        return found

    def read(self, reference: str) -> dict[str, Any] | None:
        """The resource, or None when it does not exist or the access layers hide it."""
        try:
            return self.call("GET", reference).body
        except NotFound:
            return None

    def operation(self, path: str, parameters: list[dict[str, Any]] | None = None,
                  method: str = "POST", query: list[tuple[str, str]] | None = None
                  ) -> dict[str, Any]:
        body = {"resourceType": "Parameters", "parameter": parameters or []} \
            if method == "POST" else None
        return self.call(method, path, query, body).body or {}


class Gateway:
    def __init__(self, engine: Engine, services: EngineServices, base_url: str) -> None:
        self.engine = engine
        self.services = services
        self.base_url = base_url.rstrip("/")

    async def run(self, who: SignIn, work: Callable[[Fhir], T], *, write: bool = False,
                  client_address: str | None = None) -> T:
        """Run `work` in one transaction (a write commits only if it all succeeds)."""
        attributes = {"client_address": client_address} if client_address else {}
        principal = principal_of(who)

        def in_transaction(conn: Connection) -> T:
            ctx = RequestContext(principal=principal, base_url=self.base_url,
                                 attributes=dict(attributes))
            return work(Fhir(Repository(conn, self.services, ctx)))

        return await run_in_threadpool(run_in_transaction, self.engine, in_transaction,
                                       write=write)


def param(name: str, value: Any) -> dict[str, Any]:
    """One Parameters entry with the value[x] that fits the Python value."""
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, dict):
        return {"name": name, "valueReference": value}
    return {"name": name, "valueString": str(value)}
