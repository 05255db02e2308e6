"""How the patient-data-law concepts look in FHIR (documented in docs/pdl.md).

- Custody: every stored resource carries `meta.tag` codes for the care provider and the care
  unit that recorded it (`CARE_PROVIDER_TAG`, `CARE_UNIT_TAG`, HSA-ids), set by the server.
- Consent to cross-provider access (samtycke, sammanhållen journalföring): a `Consent` with
  category `CONSENT_CATEGORY|sjf-consent`, `provision.type` permit, `provision.period`, and
  `provision.actor.reference` naming the care provider(s) that may read other providers' data.
  Withdrawal: status `inactive` (or an end to the period).
- Block (spärr): a `Consent` with category `CONSENT_CATEGORY|block`, `provision.type` deny,
  extension `BLOCK_KIND` (inner/outer), `provision.actor.reference` the unit (inner) or
  provider (outer) whose data is blocked, optional `provision.dataPeriod`, extension
  `BLOCK_EXEMPTS_ATTENTION`. Managed only through `$block`, `$lift-block`, `$void-block`.
"""

from __future__ import annotations

from typing import Any

CARE_PROVIDER_TAG = "https://vardnav.se/fhir/CodeSystem/care-provider"
CARE_UNIT_TAG = "https://vardnav.se/fhir/CodeSystem/care-unit"
CONSENT_CATEGORY = "https://vardnav.se/fhir/CodeSystem/pdl-consent-category"
BLOCK_KIND = "https://vardnav.se/fhir/StructureDefinition/block-kind"
BLOCK_EXEMPTS_ATTENTION = "https://vardnav.se/fhir/StructureDefinition/block-exempts-attention"
CONSENT_SCOPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                             "code": "patient-privacy"}]}
PROTECTED_IDENTITY = "protected-information"
# Attention information (domain.md §4) a block may exempt.
ATTENTION_TYPES = ("AllergyIntolerance", "Flag")


def consent_category(consent: dict[str, Any]) -> str | None:
    return next((c.get("code") for cat in consent.get("category", [])
                 for c in cat.get("coding", []) if c.get("system") == CONSENT_CATEGORY), None)


def extension_value(resource: dict[str, Any], url: str) -> Any:
    return next((next((v for k, v in e.items() if k.startswith("value")), None)
                 for e in resource.get("extension", []) if e.get("url") == url), None)


def is_protected(patient: dict[str, Any]) -> bool:
    return any(s.get("code") == PROTECTED_IDENTITY
               for s in (patient.get("meta") or {}).get("security", []))
