"""Routes `$operation` URLs to their implementations and lists them for the CapabilityStatement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vardnav.errors import MethodNotAllowed, NotFound
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations import everything, validate
from vardnav.fhir.storage.repository import Repository, check_type

Handler = Callable[[Repository, FhirRequest, str | None, str | None], FhirResponse]


@dataclass(frozen=True)
class Operation:
    name: str
    definition: dict[str, Any]
    handler: Handler
    types: tuple[str, ...] | None  # None: every resource type
    methods: tuple[str, ...]


OPERATIONS: dict[str, Operation] = {
    "validate": Operation("validate", validate.DEFINITION, validate.handle, None,
                          ("POST",)),
    "everything": Operation("everything", everything.DEFINITION, everything.handle,
                            ("Patient",), ("GET", "POST")),
}


def register_operation(op: Operation) -> None:
    """Add an operation defined outside the engine (a domain's); idempotent by name."""
    OPERATIONS[op.name] = op


def invoke(repo: Repository, req: FhirRequest, parts: list[str]) -> FhirResponse:
    op_part = next(p for p in parts if p.startswith("$"))
    position = parts.index(op_part)
    if position != len(parts) - 1 or position > 2:
        raise NotFound(f"No operation at /{req.path}")
    op = OPERATIONS.get(op_part[1:])
    if op is None:
        raise NotFound(f"Unknown operation {op_part}")
    rtype = parts[0] if position >= 1 else None
    fhir_id = parts[1] if position == 2 else None
    if rtype is not None:
        check_type(rtype)
    if op.types is not None and rtype not in op.types:
        raise NotFound(f"Operation {op_part} is not defined for {rtype or 'the system'}")
    if req.method.upper() not in op.methods:
        raise MethodNotAllowed(f"Operation {op_part} takes {' or '.join(op.methods)}")
    repo.authorize(f"operation:{op.name}", rtype)
    return op.handler(repo, req, rtype, fhir_id)
