"""JSON answers of the non-FHIR identity endpoints (admin API, EHR launch): OAuth-style error
bodies, never cached, and the Bearer check those endpoints share."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from vardnav.domains.identity.access.bearer import BearerAuthenticator, challenge
from vardnav.domains.identity.access.principal import Principal
from vardnav.errors import Unauthorized

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_error(status: int, error: str, description: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status,
                        {**NO_STORE, **(headers or {})})


def bearer_principal(request: Request,
                     authenticator: BearerAuthenticator) -> Principal | JSONResponse:
    """The caller of a Bearer-protected JSON endpoint, or the 401 answer to send."""
    header = request.headers.get("authorization")
    try:
        return authenticator.principal(header)
    except Unauthorized as exc:
        return json_error(401, "invalid_token", exc.message,
                          {"WWW-Authenticate": challenge(exc, token_sent=bool(header))})
