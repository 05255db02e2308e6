"""Reading an operation's `Parameters` body: one place for every `$operation` that takes one."""

from __future__ import annotations

from typing import Any

from vardnav.errors import BadRequest


def parameters(body: Any) -> dict[str, Any]:
    """The `value[x]` of each named parameter (the last one wins if a name repeats).

    A body that is not a Parameters resource is a 400; parameters without a name are skipped.
    """
    if not (isinstance(body, dict) and body.get("resourceType") == "Parameters"):
        raise BadRequest("This operation takes a Parameters resource")
    out: dict[str, Any] = {}
    for p in body.get("parameter") or []:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            value = next((v for k, v in p.items() if k.startswith("value")), None)
            out[p["name"]] = value
    return out
