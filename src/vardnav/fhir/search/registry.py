"""Search parameters per resource type, from the official R4 SearchParameter definitions.

Each official expression is a union over many base types ("Observation.subject | ..."); we
split it per type and compile each part once. Plain dotted paths (most of them) take a fast
navigator; anything else is compiled with fhirpathpy against the R4 model.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from vardnav.fhir import definitions

Evaluator = Callable[[dict[str, Any]], list[Any]]

# Parameters answered from the resource table itself, never extracted.
RESOURCE_COLUMN_PARAMS = {"_id", "_lastUpdated"}
SUPPORTED_TYPES = {"string", "token", "date", "number", "quantity", "uri", "reference",
                   "composite"}


@dataclass(frozen=True)
class SearchParam:
    resource_type: str
    name: str
    type: str
    expression: str
    targets: tuple[str, ...]
    url: str
    param_hash: int
    evaluate: Evaluator = field(compare=False, repr=False)
    # Composite parameters: (component type, evaluator relative to each composite element).
    components: tuple[tuple[str, Evaluator], ...] = field(default=(), compare=False)


def param_hash(resource_type: str, name: str) -> int:
    """Signed 64-bit hash of (type, name): the key of every index row."""
    digest = hashlib.blake2b(f"{resource_type}|{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath expression on top-level '|' (not inside parentheses or strings)."""
    parts, depth, start, in_str = [], 0, 0, False
    for i, ch in enumerate(expression):
        if ch == "'":
            in_str = not in_str
        elif in_str:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


_HEAD = re.compile(r"^\(*\s*([A-Z][A-Za-z]+)(?:\.|$)")
_AS_PAREN = re.compile(r"\(([A-Za-z][\w.]*) as ([A-Za-z]+)\)")
_RESOLVE_IS = re.compile(r"resolve\(\) is ([A-Z][A-Za-z]+)")
_DOTTED = re.compile(r"^\(?([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z]*)+)(?: as ([A-Za-z]+))?\)?$")
# Dotted path ending in one common filter: .where(resolve() is T), .where(f='v'), .as(T).
_FILTERED = re.compile(
    r"^([A-Z][A-Za-z]+)((?:\.[a-z][A-Za-z]*)+)"
    r"(?:\.where\(resolve\(\) is ([A-Z][A-Za-z]+)\)"
    r"|\.where\(([a-z][A-Za-z]*)='([^']*)'\)"
    r"|\.as\(([A-Za-z]+)\))$"
)
_EXTENSION = re.compile(r"^([A-Z][A-Za-z]+)\.extension\('([^']+)'\)$")


def parts_for_type(expression: str, resource_type: str) -> list[str]:
    out = []
    for part in split_union(expression):
        m = _HEAD.match(part)
        if not m:
            continue
        head = m.group(1)
        if head == resource_type:
            out.append(part)
        elif head in ("Resource", "DomainResource"):
            out.append(part.replace(f"{head}.", f"{resource_type}.", 1))
    return out


def _navigator(resource_type: str, path: list[str], as_type: str | None) -> Evaluator:
    """Evaluate `Type.a.b.c` (optionally `as T` on the last step) without the FHIRPath engine."""
    last = len(path) - 1

    def step(nodes: list[Any], name: str, choice: str | None) -> list[Any]:
        out: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if choice is not None:
                value = node.get(name + choice[0].upper() + choice[1:])
            else:
                value = node.get(name)
                if value is None:  # a choice element ("value[x]") named without its type
                    for key, v in node.items():
                        if key.startswith(name) and len(key) > len(name) \
                                and key[len(name)].isupper():
                            value = v
                            break
            if value is None:
                continue
            if isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
        return out

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        if resource.get("resourceType") != resource_type:
            return []
        nodes: list[Any] = [resource]
        for i, name in enumerate(path):
            nodes = step(nodes, name, as_type if i == last else None)
            if not nodes:
                break
        return nodes

    return evaluate


def _filtered(nav: Evaluator, ref_type: str | None, field_name: str | None,
              field_value: str | None) -> Evaluator:
    def evaluate(resource: dict[str, Any]) -> list[Any]:
        out = []
        for node in nav(resource):
            if not isinstance(node, dict):
                continue
            if ref_type is not None:
                ref = node.get("reference")
                if not isinstance(ref, str) or not (
                        ref.startswith(ref_type + "/") or f"/{ref_type}/" in ref):
                    continue
            elif node.get(field_name) != field_value:
                continue
            out.append(node)
        return out

    return evaluate


def _extension_values(resource_type: str, url: str) -> Evaluator:
    """`Type.extension('url')`, answering the extensions' values: the index wants the value
    (a string, a Coding...), not the Extension element that wraps it."""
    def evaluate(resource: dict[str, Any]) -> list[Any]:
        if resource.get("resourceType") != resource_type:
            return []
        out = []
        for ext in resource.get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") == url:
                out.extend(v for k, v in ext.items() if k.startswith("value"))
        return out

    return evaluate


def compile_relative(expression: str) -> Evaluator:
    """A component expression ("code", "value.as(Quantity)") evaluated on an element."""
    evaluators = []
    for part in split_union(expression):
        path = part.strip().split(".")
        choice = None
        if path and path[-1].startswith("as(") and path[-1].endswith(")"):
            choice = path.pop()[3:-1]
        if not path or not all(re.fullmatch(r"[a-z][A-Za-z]*", p) for p in path):
            raise ValueError(f"unsupported component expression {expression!r}")
        nav = _navigator("", path, choice)
        evaluators.append(lambda element, nav=nav: nav({**element, "resourceType": ""})
                          if isinstance(element, dict) else [])
    return _union(evaluators)


def compile_part(part: str) -> Evaluator:
    e = _EXTENSION.match(part)
    if e:
        return _extension_values(e.group(1), e.group(2))
    if re.fullmatch(r"[A-Z][A-Za-z]+", part):  # the resource itself (composite roots)
        return lambda resource: [resource] if resource.get("resourceType") == part else []
    m = _DOTTED.match(part)
    if m:
        return _navigator(m.group(1), m.group(2)[1:].split("."), m.group(3))
    f = _FILTERED.match(part)
    if f:
        path = f.group(2)[1:].split(".")
        if f.group(6):  # .as(T) on the last step is a choice-type selection
            return _navigator(f.group(1), path, f.group(6))
        return _filtered(_navigator(f.group(1), path, None), f.group(3), f.group(4),
                         f.group(5))
    # fhirpathpy: `(X as T)` silently yields nothing, `X.ofType(T)` works; resolve() is not
    # implemented, so type tests on references become a check of the reference's type prefix.
    text = _AS_PAREN.sub(lambda mm: f"{mm.group(1)}.ofType({mm.group(2)})", part)
    text = _RESOLVE_IS.sub(lambda mm: f"reference.startsWith('{mm.group(1)}/')", text)
    text = re.sub(r"\bas ([A-Za-z]+)\b", r"ofType(\1)", text) if " as " in text else text
    fn = fhirpath_compile(text, models["r4"])

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        return [_plain(v) for v in fn(resource)]

    return evaluate


def _plain(value: Any) -> Any:
    # fhirpathpy may hand back its own date/time wrappers; index code wants JSON values.
    if isinstance(value, (dict, list, str, bool, int, float)) or value is None:
        return value
    return str(value)


def _union(evaluators: list[Evaluator]) -> Evaluator:
    if len(evaluators) == 1:
        return evaluators[0]

    def evaluate(resource: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for ev in evaluators:
            out.extend(ev(resource))
        return out

    return evaluate


class SearchRegistry:
    """All search parameters by resource type; the one place the server looks them up."""

    def __init__(self, params: list[SearchParam]) -> None:
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        for p in params:
            self._by_type.setdefault(p.resource_type, {})[p.name] = p

    def get(self, resource_type: str, name: str) -> SearchParam | None:
        return self._by_type.get(resource_type, {}).get(name)

    def for_type(self, resource_type: str) -> dict[str, SearchParam]:
        return self._by_type.get(resource_type, {})

    def indexed_for_type(self, resource_type: str) -> list[SearchParam]:
        return [p for p in self.for_type(resource_type).values()
                if p.type in SUPPORTED_TYPES and p.name not in RESOURCE_COLUMN_PARAMS]


def build_registry(extra: list[dict[str, Any]] | None = None) -> SearchRegistry:
    """Compile the official definitions (plus `extra` SearchParameter resources)."""
    defs = definitions.load()
    all_types = defs.resource_types
    params: list[SearchParam] = []
    every = [*defs.search_parameters, *(extra or [])]
    type_by_url = {sp.get("url"): sp.get("type") for sp in every}
    for sp in every:
        if sp.get("status") == "retired":
            continue
        components = _components(sp, type_by_url)
        if sp["type"] == "composite" and components is None:
            continue  # e.g. three-component MolecularSequence coordinates: not supported
        expression = sp.get("expression") or ""
        bases = sp.get("base") or []
        expand = all_types if any(b in ("Resource", "DomainResource") for b in bases) else bases
        for rtype in expand:
            if not definitions.is_resource_type(rtype):
                continue
            if sp["code"] in RESOURCE_COLUMN_PARAMS:
                evaluator: Evaluator = _empty
            elif sp["type"] in SUPPORTED_TYPES or sp["type"] == "composite":
                parts = parts_for_type(expression, rtype)
                if not parts:
                    continue
                evaluator = _union([_compile_cached(p) for p in parts])
            else:
                evaluator = _empty
            params.append(SearchParam(
                resource_type=rtype, name=sp["code"], type=sp["type"],
                expression=expression, targets=tuple(sp.get("target") or ()),
                url=sp.get("url", ""), param_hash=param_hash(rtype, sp["code"]),
                evaluate=evaluator, components=components or (),
            ))
    return SearchRegistry(params)


_FIRST_COMPONENT = {"token", "reference"}
_SECOND_COMPONENT = {"token", "quantity", "date", "string", "number", "reference", "uri"}


def _components(sp: dict[str, Any],
                type_by_url: dict[str, str]) -> tuple[tuple[str, Evaluator], ...] | None:
    """Two-component composites whose first part is a token or reference."""
    comps = sp.get("component") or []
    if sp.get("type") != "composite":
        return None
    if len(comps) != 2:
        return None
    types = [type_by_url.get(c.get("definition")) for c in comps]
    if types[0] not in _FIRST_COMPONENT or types[1] not in _SECOND_COMPONENT:
        return None
    try:
        return tuple((t, compile_relative(c.get("expression", "")))
                     for t, c in zip(types, comps, strict=True))  # type: ignore[misc]
    except ValueError:
        return None


def _empty(_resource: dict[str, Any]) -> list[Any]:
    return []


@cache
def _compile_cached(part: str) -> Evaluator:
    return compile_part(part)


@cache
def default_registry() -> SearchRegistry:
    return build_registry()
