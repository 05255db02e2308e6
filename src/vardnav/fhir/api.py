"""FHIR REST over HTTP: content types, body limits, Prefer, ETag, errors as OperationOutcome.

Every route is a thin adapter over `vardnav.fhir.router.dispatch`; the explicit routes exist
so the OpenAPI document describes the API for clients and for fuzz testing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Request, Response
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.errors import (
    BadRequest,
    Conflict,
    PayloadTooLarge,
    TooCostly,
    UnsupportedMediaType,
    VardnavError,
)
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.router import dispatch
from vardnav.fhir.storage.repository import EngineServices, Repository

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
PATCH_TYPES = ("application/json-patch+json",)
FORM = "application/x-www-form-urlencoded"
READ_METHODS = {"GET", "HEAD"}

# Builds the caller's context (authenticating them); `public=True` for paths anyone may read.
ContextFactory = Callable[[Request, bool], RequestContext]
PUBLIC_PATHS = {"metadata"}


def render(response: FhirResponse) -> Response:
    body = b"" if response.body is None else orjson.dumps(response.body)
    headers = dict(response.headers)
    return Response(content=body, status_code=response.status, headers=headers,
                    media_type=FHIR_JSON if response.body is not None else None)


def error_response(exc: VardnavError) -> Response:
    return render(FhirResponse(exc.status, exc.outcome(), dict(exc.headers)))


def build_router(engine: Engine, services: EngineServices, *, max_body_bytes: int,
                 context_factory: ContextFactory) -> APIRouter:
    router = APIRouter()

    async def handle(request: Request, path: str) -> Response:
        try:
            fhir_req = await _to_fhir_request(request, path, max_body_bytes)
            ctx = context_factory(request, fhir_req.method == "GET"
                                  and fhir_req.path in PUBLIC_PATHS)
            # POST _search and bundles count as writes: simpler than inspecting them.
            write = fhir_req.method not in READ_METHODS

            def work(conn: Any) -> FhirResponse:
                return dispatch(Repository(conn, services, ctx), fhir_req)

            response = await run_in_threadpool(run_in_transaction, engine, work, write=write)
            if fhir_req.method == "HEAD":
                response.body = None
            return render(response)
        except VardnavError as exc:
            return error_response(exc)
        except IntegrityError:
            return error_response(Conflict("A concurrent change conflicted with this one; "
                                           "retry the request"))
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "57014":  # statement timeout
                return error_response(TooCostly("The request took too long to evaluate; "
                                                "narrow the search"))
            return error_response(Conflict("The database was busy; retry the request"))

    async def base(request: Request) -> Response:
        return await handle(request, "")

    async def with_path(request: Request, path: str) -> Response:
        return await handle(request, path)

    async def type_level(request: Request, resource_type: str) -> Response:
        return await handle(request, resource_type)

    async def instance(request: Request, resource_type: str, resource_id: str) -> Response:
        return await handle(request, f"{resource_type}/{resource_id}")

    async def history_instance(request: Request, resource_type: str,
                               resource_id: str) -> Response:
        return await handle(request, f"{resource_type}/{resource_id}/_history")

    async def version(request: Request, resource_type: str, resource_id: str,
                      version_id: str) -> Response:
        return await handle(request, f"{resource_type}/{resource_id}/_history/{version_id}")

    async def type_history(request: Request, resource_type: str) -> Response:
        return await handle(request, f"{resource_type}/_history")

    async def type_search(request: Request, resource_type: str) -> Response:
        return await handle(request, f"{resource_type}/_search")

    async def metadata(request: Request) -> Response:
        return await handle(request, "metadata")

    async def system_history(request: Request) -> Response:
        return await handle(request, "_history")

    add = router.add_api_route
    add("/metadata", metadata, methods=["GET"], summary="CapabilityStatement")
    add("/_history", system_history, methods=["GET"], summary="System history")
    add("", base, methods=["GET", "POST"], summary="System search; batch/transaction")
    add("/", base, methods=["GET", "POST"], include_in_schema=False)
    add("/{resource_type}", type_level, methods=["GET", "POST", "PUT", "DELETE"],
        summary="Search, create, conditional update/delete")
    add("/{resource_type}/_search", type_search, methods=["POST"], summary="Search by POST")
    add("/{resource_type}/_history", type_history, methods=["GET"], summary="Type history")
    add("/{resource_type}/{resource_id}", instance,
        methods=["GET", "PUT", "PATCH", "DELETE"], summary="Read, update, patch, delete")
    add("/{resource_type}/{resource_id}/_history", history_instance, methods=["GET"],
        summary="Instance history")
    add("/{resource_type}/{resource_id}/_history/{version_id}", version, methods=["GET"],
        summary="Version read")
    add("/{path:path}", with_path, methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False)
    return router


async def _to_fhir_request(request: Request, path: str, max_body_bytes: int) -> FhirRequest:
    declared = request.headers.get("content-length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > max_body_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_body_bytes} bytes")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_body_bytes:
            raise PayloadTooLarge(f"The body is larger than {max_body_bytes} bytes")
    query = parse_qsl(request.url.query, keep_blank_values=True)
    if "\x00" in path:
        raise BadRequest("The URL path holds a NUL character (%00)")
    fmt = dict(query).get("_format")
    if fmt and not any(t in fmt for t in ("json", "fhir+json")):
        raise UnsupportedMediaType(f"_format={fmt} is not supported; this server speaks JSON")
    headers = {k.lower(): v for k, v in request.headers.items()}
    body: Any = None
    if raw:
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == FORM and request.method == "POST" and path.endswith("_search"):
            body = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
        elif ctype in JSON_TYPES or (ctype in PATCH_TYPES and request.method == "PATCH"):
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise BadRequest(f"The body is not valid JSON: {exc}") from exc
            _check_depth(body)
        elif ctype == "":
            raise UnsupportedMediaType("Content-Type is missing; use application/fhir+json")
        else:
            raise UnsupportedMediaType(f"Content-Type {ctype} is not supported here; use "
                                       "application/fhir+json"
                                       + (" or application/json-patch+json"
                                          if request.method == "PATCH" else ""))
    return FhirRequest(request.method, path, query, headers, body)


def _check_depth(body: Any) -> None:
    """Refuse JSON nested deeper than any resource may be (orjson reads up to 1024 levels),
    and NUL characters, which FHIR strings may not hold and PostgreSQL cannot store.

    Deeper input could only be refused later, by code that walks it recursively in Python.
    """
    try:
        dumped = orjson.dumps(body)  # raises beyond 255 levels
    except TypeError as exc:
        raise BadRequest("The body is nested too deeply (more than 255 levels)") from exc
    if b"\\u0000" in dumped and _has_nul(body):
        raise BadRequest("The body holds a NUL character (\\u0000), which FHIR strings may "
                         "not contain")


def _has_nul(node: Any) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
