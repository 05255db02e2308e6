"""Topic-based subscriptions in R4 (the R5 backport pattern).

R4 has no SubscriptionTopic resource, so topics are defined in code with `register_topic`
and listed at `GET /fhir/$topics` (as Basic resources, see operations.py). A Subscription
names a topic by putting its canonical URL in `criteria`, and narrows it with backport
`filterCriteria` extensions, each a search on the topic's resource type using only the
topic's allowed filter parameters (e.g. `Task?owner=Organization/123`).

A topic fires for a create, update or delete of its resource type, and optionally only when
a FHIRPath expression is true on the new version (on the last version for a delete).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from vardnav.fhir import definitions

INTERACTIONS = ("create", "update", "delete")


@dataclass(frozen=True)
class Topic:
    url: str  # canonical URL, what a Subscription's criteria names
    resource_type: str
    interactions: frozenset[str] = frozenset(INTERACTIONS)
    fhirpath: str | None = None  # must be true on the new version
    filters: tuple[str, ...] = ()  # search parameters a subscriber may filter on
    title: str = ""
    description: str = ""
    _compiled: Any = field(default=None, compare=False, repr=False)

    def fires(self, interaction: str, content: dict[str, Any] | None) -> bool:
        """Whether this change is an event of the topic (before any subscriber's filter)."""
        if interaction not in self.interactions:
            return False
        if self._compiled is None:
            return True
        if content is None:
            return False
        try:
            result = self._compiled(content)
        except Exception:  # a resource the expression cannot walk simply does not match
            return False
        return result == [True]


_TOPICS: dict[str, Topic] = {}


def register_topic(url: str, resource_type: str, *,
                   interactions: Iterable[str] = INTERACTIONS, fhirpath: str | None = None,
                   filters: Iterable[str] = (), title: str = "",
                   description: str = "") -> Topic:
    """Define (or redefine) a topic; workflows call this when the application is built.

    Filters must be search parameters of `resource_type` (checked when a Subscription uses
    them); the FHIRPath expression is compiled now, so a typo fails at start-up."""
    if not definitions.is_resource_type(resource_type):
        raise ValueError(f"Unknown resource type {resource_type!r} for topic {url}")
    wanted = frozenset(interactions)
    if not wanted or not wanted <= set(INTERACTIONS):
        raise ValueError(f"Topic {url}: interactions must be among {INTERACTIONS}")
    compiled = fhirpath_compile(fhirpath, model=models["r4"]) if fhirpath else None
    topic = Topic(url, resource_type, wanted, fhirpath, tuple(filters), title, description,
                  compiled)
    _TOPICS[url] = topic
    return topic


def get_topic(url: str) -> Topic | None:
    return _TOPICS.get(url)


def all_topics() -> list[Topic]:
    return sorted(_TOPICS.values(), key=lambda t: t.url)


def unregister_topic(url: str) -> None:
    """Remove a topic (tests); existing Subscriptions naming it stop matching."""
    _TOPICS.pop(url, None)
