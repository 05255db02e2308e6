"""Parse a FHIR search query (name/value pairs) into a SearchRequest. Pure: no SQL here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vardnav.errors import BadRequest, TooCostly
from vardnav.fhir import definitions
from vardnav.fhir.search.registry import SearchParam, SearchRegistry

CONTROL = {
    "_count", "_offset", "_sort", "_include", "_revinclude", "_summary", "_elements",
    "_total", "_format", "_pretty", "_contained", "_containedType",
}
MODIFIERS_BY_TYPE = {
    "string": {"exact", "contains", "missing", "text"},
    "token": {"missing", "not", "text", "of-type"},
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"missing", "below", "above"},
    "reference": {"missing", "identifier"},  # plus a resource type as modifier
    "composite": {"missing"},
}
SORTABLE_TYPES = {"string", "token", "date", "number", "quantity", "uri", "reference"}
MAX_CHAIN_DEPTH = 2
# Every criterion is a subquery: PostgreSQL plans hundreds of them for minutes, and SQLite
# refuses ~1000 ORs. Real searches use a handful, so these bounds only stop abuse.
MAX_CRITERIA = 50
MAX_VALUES = 500


@dataclass
class Criterion:
    """One search parameter occurrence: values are OR'ed; criteria are AND'ed."""

    param: SearchParam | None  # None for _id / _lastUpdated
    name: str
    modifier: str | None
    values: list[str]
    # Chained parameters (subject:Patient.name=x): one inner criterion per target type that
    # has the chained parameter; a resource matches if any of them does.
    chain: list[tuple[str, Criterion]] = field(default_factory=list)
    has: HasCriterion | None = None


@dataclass
class HasCriterion:
    """_has:Observation:patient:code=X — resources referenced by matching Observations."""

    source_type: str
    reference_param: SearchParam
    inner: Criterion


@dataclass
class Include:
    source_type: str
    param: SearchParam | None  # None for "*"
    target_type: str | None
    iterate: bool


@dataclass
class SortKey:
    name: str
    param: SearchParam | None
    descending: bool


@dataclass
class SearchRequest:
    resource_type: str | None  # None for a system-level search
    criteria: list[Criterion] = field(default_factory=list)
    count: int | None = None
    offset: int = 0
    sort: list[SortKey] = field(default_factory=list)
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] = field(default_factory=list)
    total: str = "accurate"
    warnings: list[str] = field(default_factory=list)


def split_values(raw: str) -> list[str]:
    """Split on unescaped commas; `\\,` is a literal comma."""
    parts = re.split(r"(?<!\\),", raw)
    return [p.replace("\\,", ",") for p in parts]


def parse_search(resource_type: str | None, pairs: list[tuple[str, str]],
                 registry: SearchRegistry, *, strict: bool = False,
                 default_count: int = 50, max_count: int = 1000) -> SearchRequest:
    req = SearchRequest(resource_type=resource_type, count=default_count)

    def unknown(message: str) -> None:
        if strict:
            raise BadRequest(message)
        req.warnings.append(message)

    values = 0
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            raise BadRequest("A search parameter holds a NUL character (%00)")
        if name.split(":")[0] in CONTROL:
            _parse_control(req, name, value, registry, max_count)
            continue
        try:
            crit = _parse_criterion(resource_type, name, value, registry, depth=0)
        except _Unknown as exc:
            unknown(str(exc))
            continue
        req.criteria.append(crit)
        values += max(1, len(crit.values))
        if len(req.criteria) > MAX_CRITERIA or values > MAX_VALUES:
            raise TooCostly(f"A search may have at most {MAX_CRITERIA} parameters and "
                            f"{MAX_VALUES} values in all")
    return req


class _Unknown(Exception):
    """An unknown parameter or modifier: ignored (lenient) or refused (strict)."""


def _parse_criterion(resource_type: str | None, name: str, value: str,
                     registry: SearchRegistry, depth: int) -> Criterion:
    if name.startswith("_has:"):
        return _parse_has(resource_type, name, value, registry, depth)
    head, _, rest = name.partition(".")
    pname, _, modifier = head.partition(":")
    rtype = resource_type or "Resource"
    if pname in ("_id", "_lastUpdated"):
        if modifier and modifier != "missing":
            raise _Unknown(f"Modifier ':{modifier}' is not supported on {pname}")
        return Criterion(None, pname, modifier or None, split_values(value))
    param = registry.get(rtype, pname) if resource_type else _system_param(pname, registry)
    if param is None:
        raise _Unknown(f"Unknown search parameter '{pname}' for {rtype}")
    if param.type not in MODIFIERS_BY_TYPE:
        raise _Unknown(f"Search parameter '{pname}' has type {param.type}, not supported")
    if rest:  # chained
        if param.type != "reference":
            raise BadRequest(f"'{pname}' is not a reference parameter and cannot be chained")
        if depth >= MAX_CHAIN_DEPTH:
            raise BadRequest(f"Chains deeper than {MAX_CHAIN_DEPTH} levels are not supported")
        target = modifier or None
        targets = [target] if target else list(param.targets)
        if target and not definitions.is_resource_type(target):
            raise BadRequest(f"Unknown resource type '{target}' in chain '{name}'")
        inner_name = rest
        inner_head = inner_name.split(".")[0].split(":")[0]
        usable = [t for t in targets if registry.get(t, inner_head) or inner_head in
                  ("_id", "_lastUpdated")]
        if not usable:
            raise _Unknown(f"No target of '{pname}' has a search parameter '{inner_head}'")
        chain = [(t, _parse_criterion(t, inner_name, value, registry, depth + 1))
                 for t in usable]
        return Criterion(param, pname, None, [], chain=chain)
    if modifier:
        allowed = MODIFIERS_BY_TYPE[param.type]
        is_type_modifier = param.type == "reference" and definitions.is_resource_type(modifier)
        if modifier not in allowed and not is_type_modifier:
            raise BadRequest(f"Modifier ':{modifier}' is not supported on {param.type} "
                             f"parameter '{pname}'")
    values = split_values(value)
    if modifier == "missing" and value not in ("true", "false"):
        raise BadRequest(f"':missing' takes true or false, not '{value}'")
    return Criterion(param, pname, modifier or None, values)


def _system_param(name: str, registry: SearchRegistry) -> SearchParam | None:
    # System-level search supports the common Resource parameters, indexed per type.
    return registry.get("Patient", name) if name in ("_tag", "_profile", "_security") else None


def _parse_has(resource_type: str | None, name: str, value: str, registry: SearchRegistry,
               depth: int) -> Criterion:
    parts = name.split(":", 3)
    if len(parts) < 4 or not resource_type:
        raise BadRequest(f"Malformed _has parameter '{name}': use _has:Type:reference:param")
    _, source_type, ref_name, inner_name = parts
    if not definitions.is_resource_type(source_type):
        raise BadRequest(f"Unknown resource type '{source_type}' in '{name}'")
    ref_param = registry.get(source_type, ref_name)
    if ref_param is None or ref_param.type != "reference":
        raise BadRequest(f"'{ref_name}' is not a reference parameter of {source_type}")
    if depth >= MAX_CHAIN_DEPTH:
        raise BadRequest(f"_has nested deeper than {MAX_CHAIN_DEPTH} levels is not supported")
    inner = _parse_criterion(source_type, inner_name, value, registry, depth + 1)
    return Criterion(None, "_has", None, [],
                     has=HasCriterion(source_type, ref_param, inner))


def parse_int(name: str, value: str, low: int, high: int) -> int:
    try:
        n = int(value)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, not '{value}'") from exc
    if n < low:
        raise BadRequest(f"{name} must be at least {low}")
    return min(n, high)


def _parse_control(req: SearchRequest, name: str, value: str, registry: SearchRegistry,
                   max_count: int) -> None:
    if name == "_count":
        req.count = parse_int("_count", value, 0, max_count)
    elif name == "_offset":
        req.offset = parse_int("_offset", value, 0, 10**9)
    elif name == "_sort":
        for key in value.split(","):
            key = key.strip()
            if not key:
                continue
            desc = key.startswith("-")
            pname = key.lstrip("-")
            param = None
            if pname not in ("_id", "_lastUpdated"):
                param = registry.get(req.resource_type or "", pname)
                if param is None:
                    raise BadRequest(f"Cannot sort by unknown parameter '{pname}'")
                if param.type not in SORTABLE_TYPES:
                    raise BadRequest(f"Cannot sort by {param.type} parameter '{pname}'")
            req.sort.append(SortKey(pname, param, desc))
    elif name.split(":")[0] in ("_include", "_revinclude"):
        inc = _parse_include(name, value, registry)
        (req.includes if name.startswith("_include") else req.revincludes).append(inc)
    elif name == "_summary":
        if value not in ("true", "false", "count", "text", "data"):
            raise BadRequest(f"_summary must be true, false, count, text or data, not '{value}'")
        req.summary = None if value == "false" else value
    elif name == "_elements":
        req.elements = [e.strip() for e in value.split(",") if e.strip()]
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise BadRequest(f"_total must be none, estimate or accurate, not '{value}'")
        req.total = value


def _parse_include(name: str, value: str, registry: SearchRegistry) -> Include:
    # _include=Observation:subject[:Patient]; _include:iterate=...; "*" means every reference.
    base, _, mod = name.partition(":")
    iterate = mod in ("iterate", "recurse")
    if value == "*":  # every reference of every resource in the result
        return Include("*", None, None, iterate)
    parts = value.split(":")
    if len(parts) < 2 or not definitions.is_resource_type(parts[0]):
        raise BadRequest(f"{base} must look like Type:parameter[:TargetType], not '{value}'")
    source, pname = parts[0], parts[1]
    target = parts[2] if len(parts) > 2 else None
    if target and not definitions.is_resource_type(target):
        raise BadRequest(f"Unknown target type '{target}' in {base}")
    if pname == "*":
        return Include(source, None, target, iterate)
    param = registry.get(source, pname)
    if param is None or param.type != "reference":
        raise BadRequest(f"'{pname}' is not a reference parameter of {source}")
    return Include(source, param, target, iterate)
