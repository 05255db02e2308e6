"""`POST /oauth/launch`: an EHR (a staff member's Bearer token) registers the patient and
encounter it opens an app in, and gets the opaque `launch` value to hand to the app.

The patient (and encounter) are read as the caller, so an EHR can only launch into records its
token may read, and the encounter must belong to the patient.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.access.bearer import BearerAuthenticator
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.oauth.json_errors import NO_STORE, bearer_principal, json_error
from vardnav.domains.identity.oauth.launch import LAUNCH_SECONDS, create_launch
from vardnav.errors import BadRequest, Forbidden, VardnavError
from vardnav.fhir.hooks import RequestContext
from vardnav.fhir.storage.repository import EngineServices, Repository

_FHIR_ID = re.compile(r"^[A-Za-z0-9.-]{1,64}$")


def _launch_body(raw: bytes) -> tuple[str, str | None]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Send JSON: {\"patient\": id, \"encounter\": id}") from exc
    patient = body.get("patient") if isinstance(body, dict) else None
    encounter = body.get("encounter") if isinstance(body, dict) else None
    if not isinstance(patient, str) or not _FHIR_ID.match(patient):
        raise BadRequest("patient must be a Patient id")
    if encounter is not None and (not isinstance(encounter, str)
                                  or not _FHIR_ID.match(encounter)):
        raise BadRequest("encounter must be an Encounter id")
    return patient, encounter


def _register(conn: Connection, services: EngineServices, principal: Principal,
              base_url: str, patient: str, encounter: str | None) -> str:
    repo = Repository(conn, services, RequestContext(principal=principal, base_url=base_url))
    repo.read("Patient", patient)  # NotFound / Gone / Forbidden as the caller
    if encounter is not None:
        found = repo.read("Encounter", encounter)
        if (found.get("subject") or {}).get("reference") != f"Patient/{patient}":
            raise BadRequest("The encounter is not the patient's")
    return create_launch(conn, subject=principal.subject, patient=patient, encounter=encounter)


async def create_launch_response(request: Request, engine: Engine,
                                 authenticator: BearerAuthenticator,
                                 base_url: str) -> JSONResponse:
    principal = bearer_principal(request, authenticator)
    if isinstance(principal, JSONResponse):
        return principal
    if principal.kind != "staff":
        return json_error(403, "insufficient_scope", "Only a staff member's EHR session can "
                      "launch an app")
    services: EngineServices = request.app.state.services
    try:
        patient, encounter = _launch_body(await request.body())

        def work(conn: Connection) -> Any:
            return _register(conn, services, principal, base_url, patient, encounter)

        value = await run_in_threadpool(run_in_transaction, engine, work)
    except Forbidden as exc:
        return json_error(403, "insufficient_scope", exc.message)
    except VardnavError as exc:
        return json_error(400, "invalid_request", exc.message)
    return JSONResponse({"launch": value, "expires_in": LAUNCH_SECONDS}, 200, NO_STORE)
