"""Structural validation of FHIR R4 resources against the official base definitions.

What is checked, and where:

* Shape, datatypes, unknown elements, max cardinality (array vs single value) and required
  code bindings come from the official `fhir.schema.json`, compiled with `jsonschema_rs`
  into one validator per resource type (validated against that type's own definition, so
  errors point at real elements instead of a 146-way `oneOf`).
* What the official schema leaves out is added to a private copy of it, once, so that the
  Rust validator still does all the work on the fast path:
  - minimum cardinality of primitive and choice elements (the schema only lists required
    complex elements; a primitive counts as present with either `status` or `_status`);
  - at most one type of a choice element (`valueQuantity` *or* `valueString`);
  - real calendar dates (the schema's regex accepts 2021-02-30);
  - integers that are integers within FHIR's 32-bit range (the schema says "number");
  - Narrative.div must be a string.
* Resources inside resources (`contained`, `Bundle.entry.resource`, `Parameters...resource`)
  are validated with their own type's validator, found by walking only the element paths
  that can hold a resource.

Every problem becomes an OperationOutcome issue with a FHIRPath-style `expression`
(`Patient.name[0].given[1]`; `_birthDate` extensions are reported as `birthDate`).
Nothing about Swedish rules lives here: domain checks are passed in as `extra_checks`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from typing import Any

import jsonschema_rs
import orjson

from vardnav.errors import InvalidResource
from vardnav.fhir import definitions

Issue = dict[str, Any]
ExtraCheck = Callable[[dict[str, Any]], list[Issue]]

# Junk input can produce one error per array item; nobody reads past the first screenful.
MAX_ISSUES = 100

# Keys added to our private schema copy so that an error can be traced back to its rule.
_REQUIRED_MARK = "x-vardnav-required"
_CHOICE_MARK = "x-vardnav-choice"
_CALENDAR_FORMAT = "vardnav-calendar-date"

_INT32 = {"minimum": -2_147_483_648, "maximum": 2_147_483_647}

# Human wording for a failed `pattern`, keyed by FHIR primitive type.
_EXPECTED = {
    "date": "a date as YYYY, YYYY-MM or YYYY-MM-DD",
    "dateTime": "a dateTime as YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss(.sss)+zz:zz "
                "(a time needs seconds and a time zone)",
    "instant": "an instant as YYYY-MM-DDThh:mm:ss(.sss)+zz:zz or ...Z",
    "time": "a time as hh:mm:ss",
    "id": "1-64 characters from A-Z, a-z, 0-9, '-' and '.'",
    "code": "a code without leading, trailing or repeated whitespace",
    "string": "a non-empty string",
    "markdown": "non-empty markdown",
    "uri": "a URI without whitespace",
    "url": "a URL without whitespace",
    "canonical": "a canonical URL without whitespace",
    "oid": "an OID as urn:oid:1.2.3",
    "uuid": "a lower-case UUID as urn:uuid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
    "decimal": "a decimal number",
    "xhtml": "an XHTML <div> element",
}

_JSON_TYPE = {bool: "boolean", int: "number", float: "number", str: "string", list: "array",
              dict: "object", type(None): "null"}


def issue(code: str, diagnostics: str, expression: str | None = None) -> Issue:
    """One OperationOutcome issue of severity error (also handy for extra checks)."""
    found: Issue = {"severity": "error", "code": code, "diagnostics": diagnostics}
    if expression:
        found["expression"] = [expression]
    return found


# -- the compiled model (built once per process) ------------------------------------------

Slots = dict[str, "Slots | None"]  # element name -> deeper slots, or None: "a resource here"


@dataclass
class _Model:
    """Our amended copy of the official schema plus what we precomputed from it."""

    definitions: dict[str, Any]
    resource_types: frozenset[str]
    primitives: frozenset[str]
    choices: dict[str, dict[str, list[str]]]  # definition -> choice base -> typed names
    slots: dict[str, Slots]                   # resource type -> where nested resources live
    _validators: dict[str, jsonschema_rs.Validator] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def validator(self, resource_type: str) -> jsonschema_rs.Validator:
        """The compiled validator for one type; compiled on first use (~25 ms each)."""
        found = self._validators.get(resource_type)
        if found is None:
            with self._lock:
                found = self._validators.get(resource_type)
                if found is None:
                    found = self._compile(resource_type)
                    self._validators[resource_type] = found
        return found

    def _compile(self, resource_type: str) -> jsonschema_rs.Validator:
        schema = {"$ref": f"#/definitions/{resource_type}", "definitions": self.definitions}
        return jsonschema_rs.Draft6Validator(
            schema, formats={_CALENDAR_FORMAT: _is_calendar_date}, validate_formats=True)


@cache
def _model() -> _Model:
    r4 = definitions.load()
    sds = r4.structure_definitions
    defs = orjson.loads(orjson.dumps(r4.json_schema["definitions"]))  # private deep copy
    _tighten_primitives(defs)
    # Nested resources are validated by their own type's validator (see _Slots), which gives
    # precise messages; the official oneOf over all resource types only says "no match".
    defs["ResourceList"] = {"type": "object"}
    choices = _add_cardinality_rules(defs, sds)
    primitives = frozenset(t for t, sd in sds.items() if sd.get("kind") == "primitive-type")
    slots = {t: _slot_tree(sds[t]) for t in r4.resource_types}
    return _Model(defs, frozenset(r4.resource_types), primitives, choices, slots)


def _tighten_primitives(defs: dict[str, Any]) -> None:
    """Close gaps in the official primitive definitions (see module docstring)."""
    defs["integer"] = {"type": "integer", **_INT32}
    defs["positiveInt"] = {"type": "integer", **_INT32, "minimum": 1}
    defs["unsignedInt"] = {"type": "integer", **_INT32, "minimum": 0}
    defs["xhtml"] = {"type": "string", "pattern": r"^\s*<div[\s/>]"}
    # The official schema checks base64 only where it inlines the type; do it everywhere.
    defs["base64Binary"]["pattern"] = r"^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$"
    for name in ("date", "dateTime", "instant"):
        defs[name]["format"] = _CALENDAR_FORMAT


def _is_calendar_date(value: str) -> bool:
    """True unless the value has a YYYY-MM-DD part naming a day that does not exist.

    Anything else malformed is left to the `pattern` keyword, which words it better.
    """
    if len(value) < 10 or value[4] != "-" or value[7] != "-":
        return True
    digits = value[:4] + value[5:7] + value[8:10]
    if not (digits.isascii() and digits.isdigit()):
        return True
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    if not 1 <= month <= 12:
        return True
    return 1 <= day <= _days_in_month(year, month)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _definition_name(type_name: str, path: str) -> str:
    """The schema definition for an element path: Patient.link -> Patient_Link."""
    if "." not in path:
        return type_name
    last = path.rsplit(".", 1)[1]
    return f"{type_name}_{last[0].upper()}{last[1:]}"


def _typed_name(base: str, type_code: str) -> str:
    return base + type_code[0].upper() + type_code[1:]


def _add_cardinality_rules(defs: dict[str, Any],
                           sds: dict[str, dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """Add min-cardinality and one-type-per-choice rules the official schema lacks.

    Returns, per definition, its choice elements (base name -> typed names), for messages.
    Some backbone definitions are shared by several paths (TestScript_Action serves setup,
    test and teardown); an element is only required there if every sharing path requires it.
    """
    required: dict[str, dict[str, list[bool]]] = {}
    choices: dict[str, dict[str, list[str]]] = {}
    for type_name, sd in sds.items():
        if sd.get("kind") not in ("resource", "complex-type") or type_name not in defs:
            continue
        for element in sd.get("snapshot", {}).get("element", []):
            path: str = element["path"]
            if "." not in path:
                continue
            parent, name = path.rsplit(".", 1)
            def_name = _definition_name(type_name, parent)
            if def_name not in defs:
                continue
            if name.endswith("[x]"):
                base = name[:-3]
                codes = [t["code"] for t in element.get("type", [])]
                typed = [_typed_name(base, code) for code in codes]
                choices.setdefault(def_name, {})[base] = typed
                _share_primitive_definitions(defs, defs[def_name], typed, codes)
            required.setdefault(def_name, {}).setdefault(name, []).append(
                element.get("min", 0) >= 1)
    for def_name, elements in required.items():
        for name, mins in elements.items():
            if all(mins):
                _require(defs[def_name], name, choices.get(def_name, {}))
    for def_name, groups in choices.items():
        for base, typed in groups.items():
            _one_type_only(defs[def_name], base, typed)
    return choices


def _share_primitive_definitions(defs: dict[str, Any], definition: dict[str, Any],
                                 typed: list[str], codes: list[str]) -> None:
    """Point inline primitive choice types (valueDateTime) at the shared definitions.

    The official schema copies the primitive's pattern into each choice element instead of
    using $ref, which would bypass our tightened primitives and their messages.
    """
    props = definition.get("properties", {})
    for name, code in zip(typed, codes, strict=True):
        inline = props.get(name)
        if code in defs and isinstance(inline, dict) and "$ref" not in inline \
                and "pattern" in inline:
            props[name] = {"$ref": f"#/definitions/{code}"}


def _require(definition: dict[str, Any], name: str, choices: dict[str, list[str]]) -> None:
    props = definition.get("properties", {})
    if name.endswith("[x]"):
        # Any typed variant satisfies the minimum, with or without a value (_valueString).
        names = [n for typed in choices.get(name[:-3], []) for n in (typed, "_" + typed)]
    elif "_" + name in props:
        names = [name, "_" + name]  # a primitive may carry only extensions
    else:
        if name in props and name not in definition.get("required", []):
            definition.setdefault("required", []).append(name)
        return
    names = [n for n in names if n in props]
    if names:
        definition.setdefault("allOf", []).append(
            {_REQUIRED_MARK: name.replace("[x]", ""),
             "anyOf": [{"required": [n]} for n in names]})


def _one_type_only(definition: dict[str, Any], base: str, typed: list[str]) -> None:
    props = definition.get("properties", {})
    present = [{"required": [n]} for n in typed if n in props]
    if len(present) > 1:
        # Exactly one branch holds when zero or one typed variant is present.
        definition.setdefault("allOf", []).append(
            {_CHOICE_MARK: base, "oneOf": [*present, {"not": {"anyOf": present}}]})


def _slot_tree(sd: dict[str, Any]) -> Slots:
    """Element paths of one resource type that can hold a resource, as a (cyclic) tree.

    Parameters.parameter.part refers back to Parameters.parameter, so the tree may loop;
    the data it walks is finite.
    """
    children: dict[str, list[tuple[str, str | None]]] = {}
    for element in sd.get("snapshot", {}).get("element", []):
        path: str = element["path"]
        if "." not in path:
            continue
        parent, name = path.rsplit(".", 1)
        codes = [t.get("code") for t in element.get("type", [])]
        if "Resource" in codes:
            children.setdefault(parent, []).append((name, None))  # None: a resource
        elif "contentReference" in element:
            children.setdefault(parent, []).append((name, element["contentReference"][1:]))
        elif codes in (["BackboneElement"], ["Element"]):
            children.setdefault(parent, []).append((name, path))
    useful = _paths_holding_resources(children)
    nodes: dict[str, Slots] = {p: {} for p in useful}
    for parent in useful:
        for name, target in children.get(parent, []):
            if target is None:
                nodes[parent][name] = None
            elif target in useful:
                nodes[parent][name] = nodes[target]
    return nodes.get(sd["type"], {})


def _paths_holding_resources(children: dict[str, list[tuple[str, str | None]]]) -> set[str]:
    useful: set[str] = set()
    changed = True
    while changed:  # fixpoint, because content references can form loops
        changed = False
        for parent, kids in children.items():
            if parent not in useful and any(t is None or t in useful for _, t in kids):
                useful.add(parent)
                changed = True
    return useful


# -- the validator ------------------------------------------------------------------------

class ResourceValidator:
    """Validates resources against the R4 base definitions plus optional extra checks.

    Construct once and share: the schema model is process-wide, and each resource type's
    validator is compiled on first use (or up front with `warm_up`). Extra checks receive
    any dict that claims to be a resource (top level and nested) and must cope with
    malformed content; they return issues like `issue()` builds.
    """

    def __init__(self, extra_checks: Sequence[ExtraCheck] = ()) -> None:
        self._model = _model()
        self._extra_checks = tuple(extra_checks)

    def warm_up(self, resource_types: Sequence[str] | None = None) -> None:
        """Compile validators now instead of on the first resource of each type."""
        for resource_type in resource_types or sorted(self._model.resource_types):
            self._model.validator(resource_type)

    def validate(self, resource: Any) -> None:
        """Raise InvalidResource carrying every problem found, or return None."""
        found = self.issues(resource)
        if found:
            first, rest = found[0], found[1:]
            error = InvalidResource(first["diagnostics"], expression=first.get("expression"),
                                    issues=rest)
            # InvalidResource words its first issue with its class code ("structure");
            # keep the specific one (required, value, code-invalid) for that issue too.
            error.code = first["code"]
            raise error

    def issues(self, resource: Any) -> list[Issue]:
        """Every problem found, as OperationOutcome issues; empty when the resource is valid."""
        if not isinstance(resource, dict):
            return [issue("structure", "A resource must be a JSON object, got "
                          f"{_json_type(resource)}")]
        problem = _not_plain_json(resource)
        if problem:
            return [issue("structure", problem)]
        found: list[Issue] = []
        self._collect(resource, None, found)
        return _unique(found)[:MAX_ISSUES]

    # The prefix is None for the top-level resource, else where the nested one sits
    # (Bundle.entry[0].resource); expressions inside it continue from there.
    def _collect(self, resource: dict[str, Any], prefix: str | None,
                 found: list[Issue]) -> None:
        resource_type = resource.get("resourceType")
        type_problem = self._resource_type_problem(resource_type)
        if type_problem:
            where = f"{prefix}.resourceType" if prefix else "resourceType"
            code = "required" if resource_type is None else "value"
            found.append(issue(code, type_problem + (f" (at {prefix})" if prefix else ""),
                               where))
            return
        assert isinstance(resource_type, str)
        base = prefix or resource_type
        found.extend(self._schema_issues(resource, resource_type, base))
        self._collect_nested(self._model.slots.get(resource_type, {}), resource, base, found)
        for check in self._extra_checks:
            for problem in check(resource):
                found.append(_rebase(problem, resource_type, prefix))

    def _resource_type_problem(self, resource_type: Any) -> str | None:
        if resource_type is None:
            return "Missing resourceType: a resource must say what type it is"
        if not isinstance(resource_type, str):
            return f"resourceType must be a string, got {_json_type(resource_type)}"
        if resource_type in self._model.resource_types:
            return None
        hint = _case_insensitive(resource_type, self._model.resource_types)
        return (f"Unknown resourceType {_show(resource_type)}: not a FHIR R4 resource type"
                + (f" (did you mean {hint}?)" if hint else ""))

    def _schema_issues(self, resource: dict[str, Any], resource_type: str,
                       base: str) -> list[Issue]:
        validator = self._model.validator(resource_type)
        try:
            if validator.is_valid(resource):
                return []
            errors = list(islice(validator.iter_errors(resource), MAX_ISSUES))
            return [i for error in errors
                    for i in _translate(self._model, error, resource_type, base)]
        except (ValueError, TypeError, OverflowError) as exc:
            # Python objects that are not JSON (datetime, Decimal, ...) passed in by code.
            return [issue("structure", f"{base} holds a value that is not JSON data: {exc}",
                          base)]

    def _collect_nested(self, slots: Slots, data: dict[str, Any], path: str,
                        found: list[Issue]) -> None:
        for name, deeper in slots.items():
            value = data.get(name)
            if value is None:
                continue
            items = enumerate(value) if isinstance(value, list) else [(None, value)]
            for index, item in items:
                where = f"{path}.{name}" if index is None else f"{path}.{name}[{index}]"
                if not isinstance(item, dict):
                    continue  # the schema already reported the wrong type
                if deeper is None:
                    self._collect(item, where, found)
                else:
                    self._collect_nested(deeper, item, where, found)


# -- turning jsonschema errors into issues -------------------------------------------------

def _translate(model: _Model, error: jsonschema_rs.ValidationError, resource_type: str,
               base: str) -> list[Issue]:
    where = _expression(base, error.instance_path)
    def_name, node = _schema_node(model, resource_type, error.schema_path)
    kind = error.kind.name
    value = error.instance
    if kind == "additionalProperties":
        return [_unknown_element(model, def_name, where, name)
                for name in error.kind.as_dict().get("unexpected", [])]
    if kind == "required":
        name = error.kind.as_dict().get("property")
        return [issue("required", f"Missing required element {where}.{name}",
                      f"{where}.{name}")]
    if kind == "anyOf" and _REQUIRED_MARK in node:
        name = node[_REQUIRED_MARK]
        return [issue("required", f"Missing required element {where}.{name}"
                      + ("[x]" if name in model.choices.get(def_name, {}) else ""),
                      f"{where}.{name}")]
    if kind == "oneOf" and _CHOICE_MARK in node:
        name = node[_CHOICE_MARK]
        present = [n for n in model.choices.get(def_name, {}).get(name, []) if n in value]
        return [issue("structure", f"{where}.{name}[x] may have only one type, but "
                      f"{' and '.join(present)} are present", f"{where}.{name}")]
    if kind == "type":
        return [issue("structure", _type_message(model, def_name, where, value,
                                                 error.kind.as_dict().get("types", [])),
                      where)]
    if kind == "enum":
        allowed = ", ".join(str(o) for o in error.kind.as_dict().get("options", [])[:30])
        return [issue("code-invalid", f"{_show(value)} is not a valid code for {where} "
                      f"(allowed: {allowed})", where)]
    if kind == "pattern":
        expected = _EXPECTED.get(def_name or "", "a value of the right form")
        return [issue("value", f"Invalid value {_show(value)} at {where}: expected {expected}",
                      where)]
    if kind == "format":
        return [issue("value", f"Invalid {def_name} {_show(value)} at {where}: "
                      "no such calendar date", where)]
    if kind in ("minimum", "maximum"):
        return [issue("value", f"{_show(value)} at {where} is out of range for a FHIR "
                      f"{def_name} ({error.message})", where)]
    return [issue("structure", f"{where}: {error.message}", where)]


def _expression(base: str, path: Sequence[str | int]) -> str:
    parts = [base]
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            # FHIRPath has no `_birthDate`: its extensions belong to `birthDate`.
            parts.append("." + (step[1:] if step.startswith("_") else step))
    return "".join(parts)


def _schema_node(model: _Model, resource_type: str,
                 schema_path: Sequence[str | int]) -> tuple[str | None, dict[str, Any]]:
    """The definition name and the schema object holding the failed keyword."""
    defs = model.definitions
    path = list(schema_path[:-1])
    if len(path) >= 2 and path[0] == "definitions":
        def_name: str | None = str(path[1])
        node: Any = defs.get(path[1], {})
        path = path[2:]
    else:
        def_name, node = resource_type, defs[resource_type]
    for step in path:
        if isinstance(node, dict) and step == "$ref":
            def_name = str(node.get("$ref", "")).rsplit("/", 1)[-1]
            node = defs.get(def_name, {})
        elif isinstance(node, dict) and isinstance(step, str):
            node = node.get(step, {})
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return def_name, {}
    return def_name, node if isinstance(node, dict) else {}


def _unknown_element(model: _Model, def_name: str | None, where: str, name: str) -> Issue:
    definition = model.definitions.get(def_name or "", {})
    known = definition.get("properties", {})
    typed = model.choices.get(def_name or "", {}).get(name)
    if typed:
        hint = (f": {name}[x] needs its type in the name, one of "
                f"{', '.join(t for t in typed if t in known)}")
    else:
        similar = _case_insensitive(name, known)
        hint = f" (did you mean {similar}?)" if similar else ""
    return issue("structure", f"Unknown element {_show(name)} at {where}{hint}",
                 f"{where}.{name}")


def _type_message(model: _Model, def_name: str | None, where: str, value: Any,
                  expected: list[str]) -> str:
    got = _json_type(value)
    if not isinstance(value, dict | list):
        got = f"{got} {_show(value)}"
    if expected == ["array"]:
        return f"{where} repeats, so it must be a JSON array, got {got}"
    if isinstance(value, list):
        return f"{where} can occur only once, so it must not be an array"
    if def_name in model.primitives:
        return f"{where} must be a FHIR {def_name} (JSON {' or '.join(expected)}), got {got}"
    return f"{where} must be a JSON {' or '.join(expected)}, got {got}"


# -- small helpers --------------------------------------------------------------------------

# orjson (responses, storage) refuses JSON nested deeper than 255 levels. A stored resource
# is sent back inside a Bundle (Bundle.entry[i].resource: 3 levels more), so it must leave
# room for that envelope, or every search and history page holding it would fail.
_ORJSON_MAX_DEPTH = 255
_ENVELOPE_DEPTH = 15
MAX_RESOURCE_DEPTH = _ORJSON_MAX_DEPTH - _ENVELOPE_DEPTH


def _not_plain_json(resource: dict[str, Any]) -> str | None:
    """Reject what the Rust validator cannot take (it would crash on extreme nesting)."""
    wrapped: Any = resource
    for _ in range(_ENVELOPE_DEPTH):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)  # ~1 µs; enforces depth, string keys, 64-bit ints
    except TypeError as exc:
        text = str(exc)
        if "Recursion" in text:
            return f"The resource is nested too deeply (more than {MAX_RESOURCE_DEPTH} levels)"
        return f"The resource is not valid JSON data: {text}"
    return None


def _rebase(problem: Issue, resource_type: str, prefix: str | None) -> Issue:
    """Point an extra check's expressions (Patient.x) at a nested resource's location."""
    if prefix is None or "expression" not in problem:
        return problem
    moved = [prefix + e[len(resource_type):] if _starts_with_type(e, resource_type) else e
             for e in problem["expression"]]
    return {**problem, "expression": moved}


def _starts_with_type(expression: str, resource_type: str) -> bool:
    rest = expression[len(resource_type):]
    return expression.startswith(resource_type) and (not rest or rest[0] in ".[")


def _unique(found: list[Issue]) -> list[Issue]:
    """One issue per location: a bad boolean fails both `type` and `pattern`, say it once."""
    seen: set[tuple[str, ...]] = set()
    kept = []
    for problem in found:
        key = tuple(problem.get("expression", ())) or (problem["diagnostics"],)
        if key not in seen:
            seen.add(key)
            kept.append(problem)
    return kept


def _case_insensitive(name: str, candidates: Any) -> str | None:
    lowered = name.lower()
    return next((c for c in candidates if c.lower() == lowered and c != name), None)


def _json_type(value: Any) -> str:
    return _JSON_TYPE.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A short, quoted rendering of a value for a message."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
