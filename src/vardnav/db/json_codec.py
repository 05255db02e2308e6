"""JSON encoding used for stored resources (orjson: fast and exact for FHIR decimals as floats)."""

from __future__ import annotations

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(value: str | bytes) -> Any:
    return orjson.loads(value)
