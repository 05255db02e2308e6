"""Notification bundles in the R4 form of the Subscriptions R5 Backport IG.

A notification is a Bundle of type `history` whose first entry is a Parameters resource
(profile backport-subscription-status-r4) with the subscription, topic (topic subscriptions
only), status, type (handshake | heartbeat | event-notification) and
events-since-subscription-start, plus a `notification-event` part per event with its
`event-number` and `timestamp` and, unless the payload is `empty`, its `focus`. Receivers
detect a gap by the event numbers. After it, per event:

- empty: nothing more;
- id-only: an entry with `fullUrl` and `request` (method and URL of the change), no resource;
- full-resource: the same with the resource as the owner may see it (none for a delete).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vardnav.integrations.subscriptions.spec import Spec

STATUS_PROFILE = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                  "backport-subscription-status-r4")
NOTIFICATION_PROFILE = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                        "backport-subscription-notification-r4")
_METHOD = {"create": ("POST", "201"), "update": ("PUT", "200"), "delete": ("DELETE", "204")}


@dataclass(frozen=True)
class Event:
    number: int
    timestamp: float
    resource_type: str
    resource_id: str
    action: str  # create, update, delete
    resource: dict[str, Any] | None = None  # full-resource payloads only


def instant(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def notification(spec: Spec, *, base_url: str, kind: str, status: str, events_since: int,
                 events: tuple[Event, ...] = (), now: float) -> dict[str, Any]:
    """The Bundle for one notification (kind: handshake, heartbeat, event-notification)."""
    base = base_url.rstrip("/")
    parameters: list[dict[str, Any]] = [
        {"name": "subscription",
         "valueReference": {"reference": f"{base}/Subscription/{spec.id}"}}]
    if spec.topic is not None:
        parameters.append({"name": "topic", "valueCanonical": spec.topic.url})
    parameters += [{"name": "status", "valueCode": status},
                   {"name": "type", "valueCode": kind},
                   {"name": "events-since-subscription-start",
                    "valueString": str(events_since)}]
    entries: list[dict[str, Any]] = []
    for event in events:
        parts: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(event.number)},
            {"name": "timestamp", "valueInstant": instant(event.timestamp)}]
        if spec.content != "empty":
            url = f"{event.resource_type}/{event.resource_id}"
            parts.append({"name": "focus", "valueReference": {"reference": f"{base}/{url}"}})
            method, code = _METHOD[event.action]
            entry: dict[str, Any] = {
                "fullUrl": f"{base}/{url}",
                "request": {"method": method,
                            "url": event.resource_type if method == "POST" else url},
                "response": {"status": code}}
            if spec.content == "full-resource" and event.resource is not None:
                entry["resource"] = event.resource
            entries.append(entry)
        parameters.append({"name": "notification-event", "part": parts})
    status_id = str(uuid.uuid4())
    first = {"fullUrl": f"urn:uuid:{status_id}",
             "resource": {"resourceType": "Parameters", "id": status_id,
                          "meta": {"profile": [STATUS_PROFILE]}, "parameter": parameters},
             "request": {"method": "GET", "url": f"Subscription/{spec.id}/$status"},
             "response": {"status": "200"}}
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()),
            "meta": {"profile": [NOTIFICATION_PROFILE]}, "type": "history",
            "timestamp": instant(now), "entry": [first, *entries]}
