"""Subscription operations, each with its OperationDefinition (listed in /metadata):

- `Subscription/{id}/$get-ws-binding-token` (GET or POST): a token to bind a websocket to
  the subscription (backport IG); the caller must be allowed to read the Subscription.
  Answers Parameters `token`, `expiration`, `subscription`, `websocket-url`.
- `$topics` (GET, system level): the registered topics as a searchset Bundle of Basic
  resources (R4 has no SubscriptionTopic; see topics.py and docs/subscriptions.md).
"""

from __future__ import annotations

import re
import time
from typing import Any

from vardnav.db.unit_of_work import run_in_transaction
from vardnav.errors import NotFound
from vardnav.fhir.http_types import FhirRequest, FhirResponse
from vardnav.fhir.operations.registry import Operation
from vardnav.fhir.storage.repository import Repository
from vardnav.integrations.subscriptions.notifications import instant
from vardnav.integrations.subscriptions.topics import Topic, all_topics
from vardnav.integrations.subscriptions.websocket import (
    TOKEN_SECONDS,
    issue_token,
    websocket_url,
)

R5 = "http://hl7.org/fhir/5.0/StructureDefinition/extension-SubscriptionTopic."
FHIR_TYPES = "http://hl7.org/fhir/fhir-types"


def _definition(code: str, *, resource: list[str], system: bool, instance: bool,
                parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "OperationDefinition", "id": f"vardnav-{code}",
            "url": f"https://vardnav.se/fhir/OperationDefinition/{code}", "name": code,
            "status": "active", "kind": "operation", "code": code, "resource": resource,
            "system": system, "type": False, "instance": instance, "affectsState": False,
            "parameter": parameters}


def _param(name: str, use: str, kind: str, maximum: str = "1") -> dict[str, Any]:
    return {"name": name, "use": use, "min": 1 if use == "out" else 0, "max": maximum,
            "type": kind}


def get_ws_binding_token(repo: Repository, req: FhirRequest, rtype: str | None,
                         fhir_id: str | None) -> FhirResponse:
    assert fhir_id is not None
    repo.read("Subscription", fhir_id)  # 404 unless the caller may read it; audited
    now = time.time()
    conn = repo.conn
    if conn.dialect.name == "sqlite" and not conn.info.get("write"):
        # A GET runs in a read transaction; SQLite would refuse to upgrade it if a writer
        # holds the lock, so the token goes in a short write transaction of its own.
        token = run_in_transaction(conn.engine, lambda own: issue_token(own, fhir_id, now))
    else:
        token = issue_token(conn, fhir_id, now)
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": [
        {"name": "token", "valueString": token},
        {"name": "expiration", "valueDateTime": instant(now + TOKEN_SECONDS)},
        {"name": "subscription", "valueString": f"{repo.ctx.base_url}/Subscription/{fhir_id}"},
        {"name": "websocket-url", "valueUrl": websocket_url(repo.ctx.base_url)}]})


def topic_as_basic(topic: Topic) -> dict[str, Any]:
    """A topic as an R4 Basic resource with R5 cross-version extensions."""
    ext: list[dict[str, Any]] = [{"url": R5 + "url", "valueUri": topic.url}]
    if topic.title:
        ext.append({"url": R5 + "title", "valueString": topic.title})
    if topic.description:
        ext.append({"url": R5 + "description", "valueMarkdown": topic.description})
    trigger: list[dict[str, Any]] = [{"url": "resource", "valueUri": topic.resource_type}]
    trigger += [{"url": "supportedInteraction", "valueCode": i}
                for i in sorted(topic.interactions)]
    if topic.fhirpath:
        trigger.append({"url": "fhirPathCriteria", "valueString": topic.fhirpath})
    ext.append({"url": R5 + "resourceTrigger", "extension": trigger})
    ext += [{"url": R5 + "canFilterBy", "extension": [
        {"url": "resource", "valueUri": topic.resource_type},
        {"url": "filterParameter", "valueString": f}]} for f in topic.filters]
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", topic.url.split("://", 1)[-1])[-64:].strip("-")
    return {"resourceType": "Basic", "id": slug or "topic",
            "code": {"coding": [{"system": FHIR_TYPES, "code": "SubscriptionTopic"}]},
            "extension": ext}


def list_topics(repo: Repository, req: FhirRequest, rtype: str | None,
                fhir_id: str | None) -> FhirResponse:
    if rtype is not None:
        raise NotFound("$topics is a system-level operation: GET [base]/$topics")
    entries = [{"fullUrl": t.url, "resource": topic_as_basic(t), "search": {"mode": "match"}}
               for t in all_topics()]
    return FhirResponse(200, {"resourceType": "Bundle", "type": "searchset",
                              "total": len(entries), "entry": entries})


def subscription_operations() -> list[Operation]:
    return [
        Operation("get-ws-binding-token", _definition(
            "get-ws-binding-token", resource=["Subscription"], system=False, instance=True,
            parameters=[_param("token", "out", "string"),
                        _param("expiration", "out", "dateTime"),
                        _param("subscription", "out", "string"),
                        _param("websocket-url", "out", "url")]),
            get_ws_binding_token, ("Subscription",), ("GET", "POST")),
        Operation("topics", _definition(
            "topics", resource=["Basic"], system=True, instance=False,
            parameters=[_param("return", "out", "Bundle")]),
            list_topics, None, ("GET",)),
    ]
