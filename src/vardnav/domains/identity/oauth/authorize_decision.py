"""From a checked authorization request and a completed sign-in to a code (or to the patient
picker first).

There is no consent screen: apps are registered by the region's administrators, who decide
which scopes each may get, so a signed-in user is not asked again (documented in README).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from vardnav.domains.identity.access.scopes import parse_scope
from vardnav.domains.identity.oauth.authorize_request import AuthorizeRequest, with_query
from vardnav.domains.identity.oauth.codes import issue_code
from vardnav.domains.identity.oauth.grant import Grant
from vardnav.domains.identity.oauth.grant_scopes import user_scopes
from vardnav.domains.identity.oauth.launch import take_launch
from vardnav.domains.identity.oauth.pending_authorizations import hold
from vardnav.domains.identity.signin import SignIn


@dataclass(frozen=True)
class Decision:
    location: str | None = None  # redirect back to the app with a code
    pending: str | None = None  # or: the staff member must pick a patient first


def grant_sign_in(sign_in: SignIn) -> dict[str, Any]:
    """What a grant keeps of the sign-in: the claims, and the subject (HSA-id or
    personnummer) to check the person's entitlement again at each refresh (grant_checks)."""
    keep = {"kind": sign_in.kind, "subject": sign_in.subject, "auth_time": sign_in.auth_time,
            "unit": sign_in.unit, "provider": sign_in.provider, "role": sign_in.role,
            "assignment": sign_in.assignment, "patient": sign_in.patient,
            "fhir_user": sign_in.fhir_user}
    return {k: v for k, v in keep.items() if v is not None}


def decide(conn: Connection, request: AuthorizeRequest, sign_in: SignIn, *,
           issuer: str) -> Decision:
    if sign_in.kind not in ("staff", "resident"):
        raise request.fail("access_denied", "This kind of user cannot authorize apps")
    scopes = user_scopes(request.scopes, sign_in.kind)
    context: dict[str, Any] = {}
    if request.launch:
        launch = (take_launch(conn, request.launch, sign_in.subject)
                  if sign_in.kind == "staff" else None)
        if launch is None:
            raise request.fail("invalid_request", "The launch is unknown, used, expired or was "
                               "made for someone else")
        context = {"patient": launch.patient, "encounter": launch.encounter,
                   "need_patient_banner": False}  # the EHR shows the patient
    elif sign_in.kind == "resident":
        context = {"patient": sign_in.patient, "need_patient_banner": True}
    if sign_in.kind == "staff" and not context:
        if "launch/patient" in scopes:
            return Decision(pending=hold(conn, request, sign_in.subject))
        # patient/ scopes mean nothing without a patient in context.
        scopes = [s for s in scopes if (p := parse_scope(s)) is None or p.context != "patient"]
    return issue(conn, request, sign_in, scopes, context, issuer=issuer)


def decide_with_patient(conn: Connection, request: AuthorizeRequest, sign_in: SignIn,
                        patient: str, *, issuer: str) -> Decision:
    """The staff member picked the patient for a standalone launch."""
    context = {"patient": patient, "need_patient_banner": True}
    return issue(conn, request, sign_in, user_scopes(request.scopes, sign_in.kind), context,
                 issuer=issuer)


def issue(conn: Connection, request: AuthorizeRequest, sign_in: SignIn, scopes: list[str],
          context: dict[str, Any], *, issuer: str) -> Decision:
    if not scopes:
        raise request.fail("invalid_scope", f"None of the requested scopes can be granted to "
                           f"a {sign_in.kind} user")
    context = {k: v for k, v in context.items() if v is not None}
    grant = Grant(request.client_id, scopes, grant_sign_in(sign_in), context,
                  family=uuid.uuid4().hex, nonce=request.nonce)
    code = issue_code(conn, grant, redirect_uri=request.redirect_uri,
                      code_challenge=request.code_challenge)
    # `iss` lets the app check which server answered (RFC 9207, mix-up attacks).
    return Decision(location=with_query(request.redirect_uri, {
        "code": code, "state": request.state, "iss": issuer}))
