"""Care plan templates: PlanDefinition resources agreed in design work, vendored as JSON data
files in `templates/` (one file per template version) and installed into the store with
conditional creates on (url, version), so installing again changes nothing.

Templates are versioned content: a new version is a new PlanDefinition with the same `url`
and a higher `version` (or, for local content, an edited resource). Applying a template
copies its goals and actions into the patient's plan, recording the canonical `url|version`
it came from, so no later change of the template touches a plan already made.

A template's `topic` (senior-alert-risk) names the risk it answers, which is how an
assessment over its threshold finds the template whose interventions to propose.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from vardnav.domains.careplan import codes as c
from vardnav.domains.discharge.case import fetch, fetch_many
from vardnav.errors import BusinessRuleViolation, NotFound
from vardnav.fhir.storage.repository import Repository

TEMPLATE_DIR = Path(__file__).parent / "templates"
FOLLOW_UP_AFTER = f"{c.SD}/follow-up-after"  # PlanDefinition.action: valueDuration


@functools.cache
def vendored() -> tuple[dict[str, Any], ...]:
    """The vendored template files, parsed once."""
    return tuple(json.loads(p.read_text(encoding="utf-8"))
                 for p in sorted(TEMPLATE_DIR.glob("*.json")))


def install(repo: Repository) -> list[dict[str, Any]]:
    """Store every vendored template version that is not stored yet (idempotent)."""
    out = []
    for template in vendored():
        result = repo.create("PlanDefinition", dict(template), if_none_exist=[
            ("url", template["url"]), ("version", template["version"])])
        assert result.resource is not None
        out.append(result.resource)
    return out


def _version_key(version: str | None) -> tuple[Any, ...]:
    parts = (version or "").split(".")
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts)


def resolve(repo: Repository, canonical: str) -> dict[str, Any]:
    """The stored template for `url` or `url|version` (the highest active version if none is
    given); a vendored template not stored yet is installed first."""
    url, _, version = canonical.partition("|")
    found = _stored(repo, url, version)
    if not found and any(t["url"] == url for t in vendored()):
        install(repo)
        found = _stored(repo, url, version)
    if not found:
        raise NotFound(f"No care plan template {canonical}")
    active = [t for t in found if t.get("status") == "active"] or found
    return max(active, key=lambda t: _version_key(t.get("version")))


def _stored(repo: Repository, url: str, version: str) -> list[dict[str, Any]]:
    pairs = [("url", url)] + ([("version", version)] if version else [])
    ids = repo.search_ids("PlanDefinition", pairs, limit=50)
    return fetch_many(repo, [("PlanDefinition", i) for i in ids])


def load(repo: Repository, plan_definition_id: str) -> dict[str, Any]:
    template = fetch(repo, "PlanDefinition", plan_definition_id)
    if template is None:
        raise NotFound(f"PlanDefinition/{plan_definition_id} is not known")
    return template


def canonical(template: dict[str, Any]) -> str:
    if not template.get("url"):
        raise BusinessRuleViolation(f"PlanDefinition/{template.get('id')} has no url: a "
                                    "template is identified by its canonical url")
    version = template.get("version")
    return f"{template['url']}|{version}" if version else str(template["url"])


def risk_of(template: dict[str, Any]) -> str | None:
    return c.code_of(template.get("topic"), c.RISK)


def for_risk(repo: Repository, risk: str) -> dict[str, Any] | None:
    """The template answering a Senior alert risk (the vendored one, newest stored version)."""
    for template in vendored():
        if risk_of(template) == risk:
            return resolve(repo, template["url"])
    return None
