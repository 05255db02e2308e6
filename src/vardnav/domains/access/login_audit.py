"""Sign-in attempts in the access log: who tried, how, from where, and whether it worked.

Called by the sign-in routes after a password check or an identity provider's answer. The
attempt is recorded in a transaction of its own (there is no request transaction to join).
"""

from __future__ import annotations

from sqlalchemy import Engine

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.access.audit_events import CLIENT_ADDRESS, LOGIN
from vardnav.domains.identity.access.principal import Principal
from vardnav.fhir.hooks import AuditRecord, AuditSink, RequestContext

SIGNIN_CLIENT = "vardnav-signin"


def record_login(engine: Engine, audit: AuditSink, *, username: str, kind: str | None,
                 method: str, result: str, client_address: str | None) -> None:
    """`result` is "ok" or why not ("wrong", "disabled", "limited", an IdP error...);
    `kind` (staff/resident) is known only when the account is."""
    who: Principal | str = username or "unknown"
    if kind:
        who = Principal(kind=kind, subject=username, client_id=SIGNIN_CLIENT, scope_text="")
    ctx = RequestContext(principal=who,
                         attributes={CLIENT_ADDRESS: client_address} if client_address else {})
    record = AuditRecord(LOGIN, None, [], outcome="success" if result == "ok" else "failure",
                         detail={"method": method, "result": result})
    run_in_transaction(engine, lambda conn: audit.record(conn, ctx, record))
