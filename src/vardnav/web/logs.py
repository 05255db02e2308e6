"""Reading an access log extract ($log-extract) and a log review ($log-review) for the pages."""

from __future__ import annotations

from datetime import date
from typing import Any

from vardnav.web import views
from vardnav.web.gateway import Fhir
from vardnav.web.site import Page

INTERACTIONS = {"read": "Läste", "vread": "Läste", "search": "Sökte", "include": "Läste",
                "history": "Läste historik", "create": "Registrerade", "update": "Ändrade",
                "patch": "Ändrade", "delete": "Tog bort", "operation": "Åtgärd"}
RULES = {"asserted-relationship": "Egen registrerad vårdrelation",
         "emergency": "Nödåtkomst", "same-name-address": "Samma efternamn och adress",
         "own-record": "Egen journal", "protected-identity": "Skyddad identitet",
         "volume": "Många patienter på en dag"}


def check_day(value: str) -> str | None:
    """A YYYY-MM-DD date from a filter form, or None if malformed."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def date_filters(p: Page) -> tuple[str | None, str | None]:
    """The `since`/`until` filters of a log page; a malformed one is a field error."""
    out: list[str | None] = []
    for name in ("since", "until"):
        value = p.request.query_params.get(name, "").strip()
        day = check_day(value) if value else None
        if value and day is None:
            p.errors[name] = p.t("Ange ett datum som ÅÅÅÅ-MM-DD.")
        out.append(day)
    return out[0], out[1]


def extract(fhir: Fhir, patient_id: str, since: str | None,
            until: str | None) -> list[dict[str, Any]]:
    query = [(k, v) for k, v in (("since", since), ("until", until)) if v]
    bundle = fhir.call("GET", f"Patient/{patient_id}/$log-extract", query).body or {}
    rows = []
    for entry in reversed(bundle.get("entry", [])):  # newest first
        e = entry["resource"]
        agents = e.get("agent", [])
        person = agents[0].get("who", {}) if agents else {}
        orgs = {views.code_of(a.get("type")): a.get("who", {}) for a in agents[1:]}
        # The first subtype is the FHIR interaction (read, search…), the last Vårdnav's own.
        subtypes = e.get("subtype") or [{}]
        interaction = subtypes[0].get("code") or ""
        emergency = any(views.code_of(p) == "ETREAT" for p in e.get("purposeOfEvent", []))
        detail = next((d.get("valueString") for x in e.get("entity", [])
                       for d in x.get("detail", [])), "")
        rows.append({"when": views.when(e.get("recorded")),
                     "unit": (orgs.get("care-unit") or {}).get("display")
                     or ((orgs.get("care-unit") or {}).get("identifier") or {}).get("value", ""),
                     "unit_hsa": ((orgs.get("care-unit") or {}).get("identifier") or {}
                                  ).get("value", ""),
                     "provider": (orgs.get("care-provider") or {}).get("display", ""),
                     "provider_hsa": ((orgs.get("care-provider") or {}).get("identifier")
                                      or {}).get("value", ""),
                     "user": person.get("display") or (person.get("identifier") or {}
                                                       ).get("value", ""),
                     # A resident's own access (or a guardian's) is named as such.
                     "resident": "who" in person and "identifier" not in person
                     and person.get("display", "").startswith("the patient"),
                     "what": INTERACTIONS.get(interaction, interaction),
                     "type": detail or "", "emergency": emergency,
                     "outcome": e.get("outcome", "0")})
    return rows


def review(fhir: Fhir, since: str, until: str | None) -> list[dict[str, Any]]:
    query = [("since", since)] + ([("until", until)] if until else [])
    answer = fhir.call("GET", "$log-review", query).body or {}
    rows = []
    for finding in answer.get("parameter", []):
        parts = {x["name"]: next((v for k, v in x.items() if k.startswith("value")), None)
                 for x in finding.get("part", [])}
        rows.append({"when": views.when(parts.get("when")), "rule": parts.get("rule", ""),
                     "rule_text": RULES.get(parts.get("rule") or "", parts.get("rule") or ""),
                     "user": parts.get("user") or "", "unit": parts.get("unit") or "",
                     "provider": parts.get("provider") or "",
                     "patient": views.ref_id(parts.get("patient")) if parts.get("patient")
                     else "", "reason": parts.get("reason") or ""})
    return rows
