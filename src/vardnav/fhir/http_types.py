"""HTTP-independent request/response values: the API adapter and bundle entries both use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FhirRequest:
    method: str
    path: str  # below the FHIR base, without leading slash: "Patient/1/_history/2"
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: Any = None  # parsed JSON

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class FhirResponse:
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
