"""HTTP route of the discharge report ahead of the generic FHIR routes, so that
`GET /fhir/$discharge-report?…&_format=csv` (or `Accept: text/csv`) answers CSV; JSON is the
engine operation's Parameters, as for every other caller."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_router import wants_csv
from vardnav.domains.discharge.report import Report, as_csv, as_parameters
from vardnav.domains.discharge.service import DischargeWorkflow
from vardnav.errors import Conflict, VardnavError
from vardnav.fhir.api import ContextFactory, error_response, render
from vardnav.fhir.http_types import FhirResponse
from vardnav.fhir.storage.repository import EngineServices, Repository

CSV = "text/csv; charset=utf-8"


def build_discharge_router(engine: Engine, services: EngineServices,
                           workflow: Callable[[], DischargeWorkflow],
                           context_factory: ContextFactory) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/fhir/$discharge-report")
    async def report(request: Request) -> Response:
        query = dict((k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)
                     if k != "_format")

        def work(repo: Repository) -> Report:
            repo.authorize("operation:discharge-report", None)
            return workflow().report(repo, municipality=query.get("municipality") or None,
                                     hospital=query.get("hospital") or None,
                                     period=query.get("period") or None)

        try:
            csv = wants_csv(request)
            ctx = context_factory(request, False)
            result = await run_in_threadpool(
                run_in_transaction, engine,
                lambda conn: work(Repository(conn, services, ctx)), write=False)
        except VardnavError as exc:
            return error_response(exc)
        except OperationalError:
            return error_response(Conflict("The database was busy; retry the request"))
        if csv:
            name = f"utskrivningsklara-{result.start:%Y-%m-%d}.csv"
            return Response(content=as_csv(result).encode("utf-8"), media_type=CSV,
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return render(FhirResponse(200, as_parameters(result)))

    return router
