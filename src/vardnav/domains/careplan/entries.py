"""Who recorded an entry in a plan: staff member, profession, care unit and care provider,
taken from the caller's assignment (the access token) and never from the request.

Every entry — the plan itself, a problem (Condition), a goal (Goal), an activity, an
evaluation, a note — carries the complex extension `recorded-by`:

    {"url": ".../recorded-by", "extension": [
       {"url": "practitioner", "valueReference": {"reference": "Practitioner/…"}},
       {"url": "staff", "valueIdentifier": {"system": "urn:oid:1.2.752.29.4.19", "value": HSA}},
       {"url": "profession", "valueCoding": {…profession…}},
       {"url": "unit", "valueIdentifier": {…HSA…}}, {"url": "provider", …},
       {"url": "time", "valueDateTime": "…"}]}

A system integration (an ADT message starting a plan) records on behalf of the ward's unit:
unit and provider then come from the custody it acts under, the part `system` (valueString,
the client) replaces `staff`, and there is no profession.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vardnav.domains.access.custody import ON_BEHALF_OF
from vardnav.domains.careplan.codes import RECORDED_BY, profession
from vardnav.domains.identity.access.principal import Principal
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.staff import PROFESSIONS
from vardnav.errors import Forbidden
from vardnav.fhir.datetimes import instant
from vardnav.fhir.hooks import Custody
from vardnav.fhir.storage.repository import Repository


@dataclass(frozen=True)
class Author:
    subject: str
    practitioner: str | None  # "Practitioner/…" (fhirUser) if known
    profession: str | None
    unit: str | None
    provider: str | None
    system: bool = False  # an integration acting for a unit, not a person


def author_of(repo: Repository) -> Author:
    """The caller as the author of plan entries: staff, or a system acting for a unit."""
    p = repo.ctx.principal
    if not isinstance(p, Principal) or p.kind not in ("staff", "system"):
        raise Forbidden("Care plans are written by staff (or by system integrations on a "
                        "unit's behalf)")
    if p.kind == "staff":
        if not p.unit:
            raise Forbidden("Plan entries are recorded at a care unit: sign in with an "
                            "assignment")
        person = p.fhir_user if (p.fhir_user or "").startswith("Practitioner/") else None
        role = p.role if p.role in PROFESSIONS else None
        return Author(p.subject, person, role, p.unit, p.provider)
    behalf = repo.ctx.attributes.get(ON_BEHALF_OF)
    custody = behalf if isinstance(behalf, Custody) else Custody()
    return Author(p.subject, None, None, custody.unit, custody.owner, system=True)


def stamp(author: Author, at: datetime) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if author.practitioner:
        parts.append({"url": "practitioner", "valueReference": {"reference": author.practitioner}})
    if author.system:  # the integration's client, not an HSA-id
        parts.append({"url": "system", "valueString": author.subject})
    else:
        parts.append({"url": "staff", "valueIdentifier": {"system": HSA_SYSTEM,
                                                          "value": author.subject}})
    if author.profession:
        parts.append({"url": "profession", "valueCoding": profession(author.profession)})
    for name, hsa in (("unit", author.unit), ("provider", author.provider)):
        if hsa:
            parts.append({"url": name, "valueIdentifier": {"system": HSA_SYSTEM, "value": hsa}})
    parts.append({"url": "time", "valueDateTime": instant(at.timestamp())})
    return {"url": RECORDED_BY, "extension": parts}


def mark(element: dict[str, Any], author: Author, at: datetime) -> dict[str, Any]:
    """Put the server's `recorded-by` on an element, dropping any the client sent."""
    kept = [e for e in element.get("extension") or [] if e.get("url") != RECORDED_BY]
    element["extension"] = [*kept, stamp(author, at)]
    return element


def recorded_by(element: dict[str, Any]) -> dict[str, Any]:
    """The parts of an element's `recorded-by` as plain values (for tests and work lists)."""
    for e in element.get("extension") or []:
        if e.get("url") == RECORDED_BY:
            out: dict[str, Any] = {}
            for part in e.get("extension") or []:
                value = next((v for k, v in part.items() if k.startswith("value")), None)
                if isinstance(value, dict):
                    value = value.get("value") or value.get("code") or value.get("reference")
                out[part.get("url")] = value
            return out
    return {}
