"""Resource → index rows, one list per index table. Pure: no database access.

Values are recognised by shape (a CodeableConcept has `coding`, a Period has `start`/`end`),
because the FHIRPath result carries no datatype of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vardnav.fhir.datetimes import MAX_TIME, MIN_TIME, DateFormatError, parse_range
from vardnav.fhir.search.normalize import normalize
from vardnav.fhir.search.registry import SearchParam, SearchRegistry

Rows = dict[str, list[dict[str, Any]]]


def extract(registry: SearchRegistry, resource: dict[str, Any]) -> Rows:
    """Index rows (without `rid`) for every indexed parameter of the resource's type."""
    rows: Rows = {k: [] for k in
                  ("string", "token", "date", "number", "quantity", "uri", "reference",
                   "composite", "present")}
    for param in registry.indexed_for_type(resource["resourceType"]):
        try:
            values = param.evaluate(resource)
        except Exception:
            continue
        if not values:
            continue
        produced = _EXTRACTORS[param.type](param, values, rows)
        if param.type == "reference":
            produced = _reference_identifiers(param, values, rows) or produced
        if produced:
            rows["present"].append({"param_hash": param.param_hash})
    return rows


def _strings(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["string"])
    h = param.param_hash
    for text in _texts(values):
        rows["string"].append({"param_hash": h, "value_norm": normalize(text),
                               "value_exact": text[:2000]})
    return len(rows["string"]) > before


def _texts(values: Iterable[Any]) -> Iterable[str]:
    for v in values:
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            # HumanName / Address: every part is searchable, plus the display text.
            for key in ("text", "family", "given", "prefix", "suffix", "line", "city",
                        "district", "state", "postalCode", "country"):
                part = v.get(key)
                if isinstance(part, str):
                    yield part
                elif isinstance(part, list):
                    yield from (p for p in part if isinstance(p, str))
            if "value" in v and isinstance(v["value"], str):
                yield v["value"]


def _tokens(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["token"])
    h = param.param_hash
    out = rows["token"]
    for v in values:
        if isinstance(v, bool):
            out.append({"param_hash": h, "system": None, "code": "true" if v else "false",
                        "text_norm": None})
        elif isinstance(v, (str, int, float)):
            out.append({"param_hash": h, "system": None, "code": str(v), "text_norm": None})
        elif isinstance(v, dict):
            if "coding" in v or ("text" in v and "code" not in v and "value" not in v):
                text = v.get("text")
                codings = v.get("coding") or []
                for c in codings:
                    display = c.get("display") or text
                    out.append({"param_hash": h, "system": c.get("system"),
                                "code": c.get("code"),
                                "text_norm": normalize(display) if display else None})
                if not codings and text:
                    out.append({"param_hash": h, "system": None, "code": None,
                                "text_norm": normalize(text)})
            elif "code" in v or ("system" in v and "value" not in v):  # Coding
                display = v.get("display")
                out.append({"param_hash": h, "system": v.get("system"), "code": v.get("code"),
                            "text_norm": normalize(display) if display else None})
            elif "value" in v:  # Identifier or ContactPoint
                type_text = None
                id_type = v.get("type")
                if isinstance(id_type, dict):
                    type_text = id_type.get("text")
                    for c in id_type.get("coding") or []:
                        # :of-type matches on type system|code|value; index it as its own row.
                        out.append({"param_hash": h, "system": f"of-type:{c.get('system')}",
                                    "code": f"{c.get('code')}|{v.get('value')}",
                                    "text_norm": None})
                out.append({"param_hash": h, "system": v.get("system"),
                            "code": str(v.get("value")),
                            "text_norm": normalize(type_text) if type_text else None})
    return len(out) > before


def _dates(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["date"])
    h = param.param_hash
    for v in values:
        for low, high in _date_ranges(v):
            rows["date"].append({"param_hash": h, "low": low, "high": high})
    return len(rows["date"]) > before


def _date_ranges(v: Any) -> Iterable[tuple[float, float]]:
    try:
        if isinstance(v, str):
            yield parse_range(v)
        elif isinstance(v, dict):
            if "start" in v or "end" in v:  # Period
                low = parse_range(v["start"])[0] if v.get("start") else MIN_TIME
                high = parse_range(v["end"])[1] if v.get("end") else MAX_TIME
                yield low, high
            elif "event" in v:  # Timing
                events = [parse_range(e) for e in v["event"] if isinstance(e, str)]
                if events:
                    yield min(e[0] for e in events), max(e[1] for e in events)
    except DateFormatError:
        return


def _numbers(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["number"])
    for v in values:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            rows["number"].append({"param_hash": param.param_hash, "value": float(v)})
    return len(rows["number"]) > before


def _quantities(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["quantity"])
    for v in values:
        if isinstance(v, dict) and isinstance(v.get("value"), (int, float)):
            rows["quantity"].append({
                "param_hash": param.param_hash, "system": v.get("system"),
                "code": v.get("code") or v.get("unit"), "value": float(v["value"]),
            })
    return len(rows["quantity"]) > before


def _uris(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["uri"])
    for v in values:
        if isinstance(v, str):
            rows["uri"].append({"param_hash": param.param_hash, "value": v})
    return len(rows["uri"]) > before


def _references(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    before = len(rows["reference"])
    for v in values:
        ref = v.get("reference") if isinstance(v, dict) else v if isinstance(v, str) else None
        if not ref or ref.startswith("#"):
            continue
        target_type, target_id = split_reference(ref)
        rows["reference"].append({
            "param_hash": param.param_hash, "target_type": target_type,
            "target_id": target_id, "target_url": None if target_id else ref,
        })
    return len(rows["reference"]) > before


def _reference_identifiers(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    """Reference.identifier rows, searched with the `:identifier` modifier."""
    before = len(rows["token"])
    h = identifier_hash(param)
    for v in values:
        ident = v.get("identifier") if isinstance(v, dict) else None
        if isinstance(ident, dict) and ident.get("value") is not None:
            rows["token"].append({"param_hash": h, "system": ident.get("system"),
                                  "code": str(ident["value"]), "text_norm": None})
    return len(rows["token"]) > before


def identifier_hash(param: SearchParam) -> int:
    from vardnav.fhir.search.registry import param_hash
    return param_hash(param.resource_type, param.name + ":identifier")


def split_reference(ref: str) -> tuple[str | None, str | None]:
    """'Patient/123' or 'http://x/fhir/Patient/123/_history/2' → ('Patient', '123')."""
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper() and parts[-2].isalpha() and parts[-1]:
        if ref.startswith(("http://", "https://")) and len(parts) < 4:
            return None, None
        return parts[-2], parts[-1]
    return None, None


def _composites(param: SearchParam, values: list[Any], rows: Rows) -> bool:
    """One row per combination of the two components' values within each element."""
    before = len(rows["composite"])
    (t1, ev1), (t2, ev2) = param.components
    for element in values:
        for a in _component_rows(t1, ev1(element)):
            first = {"c1_system": a.get("system", a.get("target_type")),
                     "c1_code": a.get("code", a.get("target_id"))}
            for b in _component_rows(t2, ev2(element)):
                rows["composite"].append({"param_hash": param.param_hash, **first,
                                          **_as_second(b)})
    return len(rows["composite"]) > before


def _component_rows(ptype: str, values: list[Any]) -> list[dict[str, Any]]:
    """A component's values as that type's own index rows."""
    scratch: Rows = {k: [] for k in _EXTRACTORS}
    _EXTRACTORS[ptype](_SCRATCH_PARAM, values, scratch)
    return scratch[ptype]


def _as_second(row: dict[str, Any]) -> dict[str, Any]:
    value = row.get("value")
    return {"c2_system": row.get("system", row.get("target_type")),
            "c2_code": row.get("code", row.get("target_id")),
            "c2_value": value if isinstance(value, float) else None,
            "c2_low": row.get("low"), "c2_high": row.get("high"),
            "c2_text": row.get("value_norm") or (value if isinstance(value, str) else None)}


class _Scratch:
    param_hash = 0


_SCRATCH_PARAM: Any = _Scratch()

_EXTRACTORS = {
    "string": _strings,
    "token": _tokens,
    "date": _dates,
    "number": _numbers,
    "quantity": _quantities,
    "uri": _uris,
    "reference": _references,
    "composite": _composites,
}
