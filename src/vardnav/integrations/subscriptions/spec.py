"""A Subscription resource read into what the engine needs, or refused with a 4xx.

R4 core gives `criteria` (a search, `Type?params`), `channel.type`, `endpoint`, `payload`
(a MIME type) and `header`; the Subscriptions R5 Backport IG adds, as extensions, topics with
filter criteria, the payload content (empty | id-only | full-resource), a heartbeat period
and a timeout. See docs/subscriptions.md for what is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from vardnav.errors import BusinessRuleViolation, VardnavError
from vardnav.fhir import definitions
from vardnav.fhir.search.query import QueryBuilder
from vardnav.fhir.search.registry import SearchRegistry
from vardnav.fhir.search.request import CONTROL, SearchRequest, parse_search
from vardnav.fhir.storage.tables import resource
from vardnav.integrations.subscriptions.topics import Topic, get_topic

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
HEARTBEAT_PERIOD = BACKPORT + "backport-heartbeat-period"
TIMEOUT = BACKPORT + "backport-timeout"
CONTENTS = ("empty", "id-only", "full-resource")
CHANNELS = ("rest-hook", "websocket")
MIME_TYPES = ("application/fhir+json", "application/json")
MAX_TIMEOUT = 60
MAX_HEADERS = 20


@dataclass(frozen=True)
class Spec:
    id: str
    status: str
    resource_type: str  # what the criteria (or the topic) are about
    search: SearchRequest  # criteria, or the topic's filters; AND'ed
    topic: Topic | None
    channel: str  # rest-hook | websocket
    endpoint: str | None
    headers: tuple[tuple[str, str], ...]
    content: str  # empty | id-only | full-resource
    heartbeat: int | None  # seconds
    timeout: int  # seconds, for one rest-hook POST
    end: str | None  # Subscription.end (instant)


def _refuse(message: str, where: str) -> BusinessRuleViolation:
    return BusinessRuleViolation(message, expression=[f"Subscription.{where}"])


def _extensions(element: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(element, dict):
        return []
    return [e for e in element.get("extension") or [] if isinstance(e, dict)
            and e.get("url") == url]


def _one_int(element: Any, url: str, where: str, low: int, high: int) -> int | None:
    found = _extensions(element, url)
    if not found:
        return None
    value = found[0].get("valueUnsignedInt", found[0].get("valuePositiveInt"))
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _refuse(f"{url.rpartition('/')[2]} must be a whole number of seconds from "
                      f"{low} to {high}", where)
    return value


def _search(rtype: str, query: str, registry: SearchRegistry, where: str) -> SearchRequest:
    pairs = parse_qsl(query, keep_blank_values=True)
    for name, _ in pairs:
        if name.split(":")[0] in CONTROL:
            raise _refuse(f"'{name}' cannot be part of subscription criteria", where)
    try:
        search = parse_search(rtype, pairs, registry, strict=True)
        # Values (dates, numbers, prefixes) are read when the SQL is built: build it once.
        queries = QueryBuilder(lambda _t, _table: None)
        for criterion in search.criteria:
            queries.criterion(criterion, resource, rtype)
    except VardnavError as exc:
        raise _refuse(f"The criteria are not a valid search: {exc.message}", where) from exc
    return search


def _criteria_search(criteria: str, registry: SearchRegistry) -> tuple[str, SearchRequest]:
    rtype, _, query = criteria.partition("?")
    if not definitions.is_resource_type(rtype):
        raise _refuse(f"criteria must be '[type]?[search]' on a known resource type or a "
                      f"registered topic URL; {rtype!r} is neither", "criteria")
    return rtype, _search(rtype, query, registry, "criteria")


def _topic_search(topic: Topic, element: Any, registry: SearchRegistry) -> SearchRequest:
    combined = SearchRequest(resource_type=topic.resource_type)
    for ext in _extensions(element, FILTER_CRITERIA):
        text = ext.get("valueString")
        if not isinstance(text, str) or not text:
            raise _refuse("filterCriteria must be a string '[type]?[search]'", "_criteria")
        rtype, _, query = text.partition("?")
        if rtype != topic.resource_type:
            raise _refuse(f"filterCriteria of topic {topic.url} must search "
                          f"{topic.resource_type}, not {rtype}", "_criteria")
        for name, _value in parse_qsl(query, keep_blank_values=True):
            base = name.split(":")[0].split(".")[0]
            if base not in topic.filters:
                allowed = ", ".join(topic.filters) or "none"
                raise _refuse(f"Topic {topic.url} cannot be filtered by '{base}' (allowed: "
                              f"{allowed})", "_criteria")
        combined.criteria.extend(_search(rtype, query, registry, "_criteria").criteria)
    return combined


def _headers(channel: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    raw = channel.get("header") or []
    if len(raw) > MAX_HEADERS:
        raise _refuse(f"At most {MAX_HEADERS} headers", "channel.header")
    out = []
    for n, text in enumerate(raw):
        name, colon, value = str(text).partition(":")
        name = name.strip()
        if (not colon or not name or any(c in str(text) for c in "\r\n\x00")
                or not all(c.isalnum() or c in "-_" for c in name)):
            raise _refuse(f"header[{n}] must be 'Name: value' on one line",
                          f"channel.header[{n}]")
        if name.lower() in ("content-type", "content-length", "host"):
            raise _refuse(f"header[{n}]: {name} is set by the server", f"channel.header[{n}]")
        out.append((name, value.strip()))
    return tuple(out)


def _content(channel: dict[str, Any]) -> str:
    payload = channel.get("payload")
    if payload is not None and payload not in MIME_TYPES:
        raise _refuse(f"payload {payload!r} is not supported; use application/fhir+json or "
                      "leave it out", "channel.payload")
    found = _extensions(channel.get("_payload"), PAYLOAD_CONTENT)
    if found:
        code = found[0].get("valueCode")
        if code not in CONTENTS:
            raise _refuse(f"payload content must be one of {', '.join(CONTENTS)}",
                          "channel.payload")
        if code != "empty" and payload is None:
            raise _refuse(f"payload content {code} needs payload application/fhir+json",
                          "channel.payload")
        return str(code)
    # R4 core: a payload MIME type means the resource is sent; none means no body.
    return "empty" if payload is None else "full-resource"


def read_spec(content: dict[str, Any], registry: SearchRegistry) -> Spec:
    """The subscription as the engine uses it; BusinessRuleViolation (422) if unusable."""
    criteria = content.get("criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise _refuse("criteria is required", "criteria")
    topic = get_topic(criteria)
    if topic is not None:
        rtype, search = topic.resource_type, _topic_search(topic, content.get("_criteria"),
                                                          registry)
    elif criteria.startswith(("http://", "https://", "urn:")):
        raise _refuse(f"No topic {criteria} is registered (GET /fhir/$topics lists them)",
                      "criteria")
    else:
        if _extensions(content.get("_criteria"), FILTER_CRITERIA):
            raise _refuse("filterCriteria apply to topic subscriptions only", "_criteria")
        rtype, search = _criteria_search(criteria, registry)
    channel = content.get("channel") or {}
    kind = channel.get("type")
    if kind not in CHANNELS:
        raise _refuse(f"channel type {kind!r} is not supported; use rest-hook or websocket",
                      "channel.type")
    endpoint = channel.get("endpoint")
    if kind == "rest-hook":
        parts = urlsplit(endpoint or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _refuse("A rest-hook channel needs an http(s) endpoint URL",
                          "channel.endpoint")
    return Spec(
        id=str(content.get("id")), status=str(content.get("status")), resource_type=rtype,
        search=search, topic=topic, channel=kind, endpoint=endpoint if kind == "rest-hook"
        else None, headers=_headers(channel), content=_content(channel),
        heartbeat=_one_int(channel, HEARTBEAT_PERIOD, "channel.extension", 1, 86400),
        timeout=_one_int(channel, TIMEOUT, "channel.extension", 1, MAX_TIMEOUT) or 10,
        end=content.get("end") if isinstance(content.get("end"), str) else None)
