"""Reading the care plan operations' Parameters: typed values (a target may be a Quantity or
a string), repeated entries with parts (several activities in one call) and resources."""

from __future__ import annotations

from datetime import date
from typing import Any

from vardnav.errors import BadRequest
from vardnav.fhir.operations.parameters import ref

Typed = tuple[str, Any]  # ("Quantity", {...}), ("String", "…")


def _typed(param: dict[str, Any]) -> Typed | None:
    for key, value in param.items():
        if key.startswith("value") and len(key) > 5:
            return key[5:], value
    if "resource" in param:
        return "Resource", param["resource"]
    return None


def _collect(params: list[Any]) -> dict[str, list[Typed]]:
    out: dict[str, list[Typed]] = {}
    for p in params:
        if isinstance(p, dict) and isinstance(p.get("name"), str):
            typed = _typed(p)
            if typed is not None:
                out.setdefault(p["name"], []).append(typed)
    return out


class Params:
    """One level of parameters (the body, or the parts of one repeated entry)."""

    def __init__(self, values: dict[str, list[Typed]], label: str = "") -> None:
        self.values = values
        self.label = label

    @classmethod
    def of(cls, body: Any) -> Params:
        if body is None:
            return cls({})
        if not (isinstance(body, dict) and body.get("resourceType") == "Parameters"):
            raise BadRequest("This operation takes a Parameters resource")
        return cls(_collect(body.get("parameter") or []))

    @classmethod
    def of_query(cls, query: list[tuple[str, str]]) -> Params:
        out: dict[str, list[Typed]] = {}
        for k, v in query:
            out.setdefault(k, []).append(("String", v))
        return cls(out)

    def entries(self, body: Any, name: str) -> list[Params]:
        """Repeated `name` parameters with parts, or this level itself if there are none."""
        found = [Params(_collect(p.get("part") or []), f"{name}[{n}]")
                 for n, p in enumerate((body or {}).get("parameter") or [])
                 if isinstance(p, dict) and p.get("name") == name and p.get("part")]
        return found or [Params(self.values, name)]

    def _where(self, name: str) -> str:
        return f"{self.label}.{name}" if self.label else name

    def typed(self, name: str) -> Typed | None:
        found = self.values.get(name)
        return found[-1] if found else None

    def all(self, name: str) -> list[Typed]:
        return list(self.values.get(name) or [])

    def text(self, name: str, *, required: bool = False) -> str | None:
        typed = self.typed(name)
        if typed is None:
            if required:
                raise BadRequest(f"Parameter '{self._where(name)}' is required")
            return None
        value = typed[1]
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"Parameter '{self._where(name)}' must be text")
        return value.strip()

    def code(self, name: str) -> str | None:
        """A code given as valueCode/valueString or as a Coding."""
        typed = self.typed(name)
        if typed is not None and isinstance(typed[1], dict):
            code = typed[1].get("code")
            if isinstance(code, str):
                return code
            raise BadRequest(f"Parameter '{self._where(name)}' must be a code")
        return self.text(name)

    def concept(self, name: str) -> dict[str, Any] | None:
        """A CodeableConcept from valueCodeableConcept, valueCoding or text."""
        typed = self.typed(name)
        if typed is None:
            return None
        kind, value = typed
        if kind == "CodeableConcept" and isinstance(value, dict):
            return value
        if kind == "Coding" and isinstance(value, dict):
            return {"coding": [value], **({"text": value["display"]}
                                          if value.get("display") else {})}
        if isinstance(value, str) and value.strip():
            return {"text": value.strip()}
        raise BadRequest(f"Parameter '{self._where(name)}' must be a CodeableConcept, a "
                         "Coding or text")

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            return date.fromisoformat(value[:10] if "T" in value else value)
        except ValueError as exc:
            raise BadRequest(f"Parameter '{self._where(name)}' must be a date "
                             "(YYYY-MM-DD)") from exc

    def ref(self, name: str, rtype: str, *, required: bool = False) -> str | None:
        return _ref(self.typed(name), self._where(name), rtype, required)

    def refs(self, name: str, rtype: str) -> list[str]:
        return [r for t in self.all(name) if (r := _ref(t, self._where(name), rtype, True))]


def _ref(typed: Typed | None, where: str, rtype: str, required: bool) -> str | None:
    return ref(None if typed is None else typed[1], where, rtype, required=required)
