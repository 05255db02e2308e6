"""One exception hierarchy. Each error maps to an HTTP status and an OperationOutcome issue."""

from __future__ import annotations

from typing import Any


class VardnavError(Exception):
    """Base class: anything raised on purpose carries a status, an issue code and a message."""

    status: int = 400
    code: str = "invalid"
    severity: str = "error"

    def __init__(self, message: str, *, expression: list[str] | None = None,
                 issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression or []
        self.extra_issues = issues or []
        self.headers: dict[str, str] = {}  # e.g. WWW-Authenticate on a 401

    def issues(self) -> list[dict[str, Any]]:
        first: dict[str, Any] = {"severity": self.severity, "code": self.code,
                                 "diagnostics": self.message}
        if self.expression:
            first["expression"] = self.expression
        return [first, *self.extra_issues]

    def outcome(self) -> dict[str, Any]:
        return {"resourceType": "OperationOutcome", "issue": self.issues()}


class BadRequest(VardnavError):
    status, code = 400, "invalid"


class InvalidResource(VardnavError):
    """Structural validation failed (R4 base definitions)."""

    status, code = 400, "structure"


class BusinessRuleViolation(VardnavError):
    status, code = 422, "business-rule"


class NotFound(VardnavError):
    status, code = 404, "not-found"


class Gone(VardnavError):
    status, code = 410, "deleted"


class NotSupported(VardnavError):
    status, code = 400, "not-supported"


class MethodNotAllowed(VardnavError):
    status, code = 405, "not-supported"


class Conflict(VardnavError):
    status, code = 409, "conflict"


class PreconditionFailed(VardnavError):
    status, code = 412, "conflict"


class MultipleMatches(VardnavError):
    status, code = 412, "multiple-matches"


class TooCostly(VardnavError):
    """A request whose evaluation would cost more than the server allows."""

    status, code = 400, "too-costly"


class PayloadTooLarge(VardnavError):
    status, code = 413, "too-costly"


class UnsupportedMediaType(VardnavError):
    status, code = 415, "not-supported"


class Unauthorized(VardnavError):
    """No valid access token: answered 401 with a WWW-Authenticate challenge."""

    status, code = 401, "login"


class Forbidden(VardnavError):
    status, code = 403, "forbidden"


def outcome(severity: str, code: str, message: str,
            expression: list[str] | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": message}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}
