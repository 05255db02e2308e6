"""The access log is append-only over the API: no one creates, changes or deletes an
AuditEvent through FHIR. The log lives in `audit_log`, written only by the audit sink; the
FHIR resource table holds no AuditEvents to read either.

`AppendOnlyAuditPolicy` wraps any access policy (outermost, so it answers before scopes are
weighed) and refuses every write of type AuditEvent, in a batch or transaction entry too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Table

from vardnav.errors import MethodNotAllowed
from vardnav.fhir.hooks import AccessPolicy, RequestContext

WRITES = frozenset({"create", "update", "patch", "delete"})
APPEND_ONLY = "The access log is append-only: AuditEvents are recorded by the server and are "\
              "never created, changed or deleted through the API"


class AppendOnlyAuditPolicy:
    def __init__(self, inner: AccessPolicy) -> None:
        self.inner = inner

    def authorize(self, ctx: RequestContext, interaction: str, resource_type: str | None,
                  resource: dict[str, Any] | None = None) -> None:
        if resource_type == "AuditEvent" and interaction in WRITES:
            raise MethodNotAllowed(APPEND_ONLY)
        self.inner.authorize(ctx, interaction, resource_type, resource)

    def query_filter(self, ctx: RequestContext, resource_type: str | None,
                     table: Table, *, one_row: bool = False) -> ColumnElement[bool] | None:
        return self.inner.query_filter(ctx, resource_type, table, one_row=one_row)

    def redact(self, ctx: RequestContext, resource: dict[str, Any]) -> dict[str, Any]:
        return self.inner.redact(ctx, resource)
