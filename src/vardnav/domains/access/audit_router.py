"""HTTP routes of the access log, ahead of the generic FHIR routes:

- `GET /fhir/Patient/{id}/$log-extract` and `GET /fhir/$log-review` answer JSON as the engine
  operations do, or CSV with `?_format=csv` or `Accept: text/csv` (a download for the patient
  or the reviewer); the engine's own routes speak JSON only;
- writes to `/fhir/AuditEvent…` are 405 at once: the log is append-only (a PATCH would
  otherwise be a 404, since no AuditEvent is stored as a resource). Bundle entries are
  refused by AppendOnlyAuditPolicy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access import log_extract, log_review
from vardnav.domains.access.append_only import APPEND_ONLY
from vardnav.errors import Conflict, MethodNotAllowed, UnsupportedMediaType, VardnavError
from vardnav.fhir.api import ContextFactory, error_response, render
from vardnav.fhir.http_types import FhirResponse
from vardnav.fhir.ids import check_id
from vardnav.fhir.storage.repository import EngineServices, Repository

T = TypeVar("T")
CSV = "text/csv; charset=utf-8"


def wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("_format")
    if fmt is not None:
        if fmt in ("csv", "text/csv"):
            return True
        if "json" not in fmt:
            raise UnsupportedMediaType(f"_format={fmt}: the log is given as JSON or csv")
        return False
    return "text/csv" in request.headers.get("accept", "")


def build_audit_router(engine: Engine, services: EngineServices, settings: Settings,
                       context_factory: ContextFactory) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def run(request: Request, work: Callable[[Repository], T],
                  answer: Callable[[T, bool], Response]) -> Response:
        try:
            csv = wants_csv(request)
            ctx = context_factory(request, False)
            result = await run_in_threadpool(
                run_in_transaction, engine,
                lambda conn: work(Repository(conn, services, ctx)), write=False)
            return answer(result, csv)
        except VardnavError as exc:
            return error_response(exc)
        except OperationalError:
            return error_response(Conflict("The database was busy; retry the request"))

    def query(request: Request) -> list[tuple[str, str]]:
        return [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True)
                if k != "_format"]

    @router.get("/fhir/Patient/{patient_id}/$log-extract")
    async def extract(request: Request, patient_id: str) -> Response:
        def work(repo: Repository) -> list[log_extract.Access]:
            check_id(patient_id)
            repo.authorize("operation:log-extract", "Patient")
            since, until = log_extract.window(query(request))
            return log_extract.extract(repo, patient_id, since, until,
                                       shows_users=settings.log_extract_shows_users)

        def answer(accesses: list[log_extract.Access], csv: bool) -> Response:
            if csv:
                return _csv(log_extract.as_csv(accesses), f"loggutdrag-{patient_id}.csv")
            return render(FhirResponse(200, log_extract.as_bundle(accesses, patient_id)))

        return await run(request, work, answer)

    @router.get("/fhir/$log-review")
    async def review(request: Request) -> Response:
        def work(repo: Repository) -> list[log_review.Finding]:
            repo.authorize("operation:log-review", None)
            return log_review.run(repo.conn, repo.ctx, repo.s.audit, query(request),
                                  daily_threshold=settings.audit_review_daily_patients)

        def answer(findings: list[log_review.Finding], csv: bool) -> Response:
            if csv:
                return _csv(log_review.as_csv(findings), "loggranskning.csv")
            return render(FhirResponse(200, log_review.as_parameters(findings)))

        return await run(request, work, answer)

    async def refuse_write(_request: Request) -> Response:
        error = MethodNotAllowed(APPEND_ONLY)
        error.headers["Allow"] = "GET, HEAD"
        return error_response(error)

    # Type level: create, conditional update and delete. Instance level: update, patch,
    # delete (POST there is _search or an operation such as $validate: not writes).
    router.add_api_route("/fhir/AuditEvent", refuse_write, methods=["POST", "PUT", "DELETE"])
    router.add_api_route("/fhir/AuditEvent/{fhir_id}", refuse_write,
                         methods=["PUT", "PATCH", "DELETE"])
    return router


def _csv(text: str, filename: str) -> Response:
    return Response(content=text.encode("utf-8"), media_type=CSV,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
