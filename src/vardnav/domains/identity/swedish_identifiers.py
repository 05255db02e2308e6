"""Swedish national identity numbers on FHIR resources: personnummer and samordningsnummer.

`check_swedish_identifiers` is an extra check for `ResourceValidator`. It looks at the
resource's own `identifier` element (a list, or a single Identifier) and validates every
value whose `system` is one of:

* personnummer (personal identity number, Skatteverket):
  `PERSONNUMMER_SYSTEM` = http://electronichealth.se/identifier/personnummer
  `PERSONNUMMER_OID`    = urn:oid:1.2.752.129.2.1.3.1
* samordningsnummer (coordination number, for people not registered in Sweden; the
  same shape as a personnummer with 60 added to the day of birth):
  `SAMORDNINGSNUMMER_SYSTEM` = http://electronichealth.se/identifier/samordningsnummer
  `SAMORDNINGSNUMMER_OID`    = urn:oid:1.2.752.129.2.1.3.3

Accepted forms are 12 digits, YYYYMMDDNNNC (the canonical stored form) or YYYYMMDD-NNNC.
10-digit forms (YYMMDD-NNNC) are rejected: their century is implied by a '-' or '+' whose
meaning changes with today's date, so they cannot be stored safely.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from personnummer import personnummer

from vardnav.fhir.validation import Issue, issue

PERSONNUMMER_SYSTEM = "http://electronichealth.se/identifier/personnummer"
PERSONNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_SYSTEM = "http://electronichealth.se/identifier/samordningsnummer"
SAMORDNINGSNUMMER_OID = "urn:oid:1.2.752.129.2.1.3.3"

# ASCII digits only: Python's \d would also accept e.g. Arabic-Indic digits.
_TWELVE_DIGITS = re.compile(r"([0-9]{8})-?([0-9]{4})")
_TEN_DIGITS = re.compile(r"[0-9]{6}[-+]?[0-9]{4}")
_COORDINATION_DAY_OFFSET = 60


@dataclass(frozen=True)
class NumberKind:
    label: str
    coordination: bool  # True: the day must carry the +60 of a samordningsnummer


PERSONNUMMER = NumberKind("Personnummer", coordination=False)
SAMORDNINGSNUMMER = NumberKind("Samordningsnummer", coordination=True)

_KIND_BY_SYSTEM = {
    PERSONNUMMER_SYSTEM: PERSONNUMMER,
    PERSONNUMMER_OID: PERSONNUMMER,
    SAMORDNINGSNUMMER_SYSTEM: SAMORDNINGSNUMMER,
    SAMORDNINGSNUMMER_OID: SAMORDNINGSNUMMER,
}


def check_swedish_identifiers(resource: dict[str, Any]) -> list[Issue]:
    """Issues (code "value") for every malformed Swedish identity number on the resource.

    Tolerates any shape of input: structural problems are the schema's to report.
    """
    if not isinstance(resource, dict):
        return []
    resource_type = resource.get("resourceType")
    base = f"{resource_type if isinstance(resource_type, str) else 'Resource'}.identifier"
    found: list[Issue] = []
    for where, identifier in _identifiers(resource.get("identifier"), base):
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(system, str) or not isinstance(value, str):
            continue
        kind = _KIND_BY_SYSTEM.get(system)
        problem = number_problem(value, kind) if kind else None
        if problem:
            found.append(issue("value", problem, f"{where}.value"))
    return found


def number_problem(value: str, kind: NumberKind) -> str | None:
    """Why `value` is not a valid number of this kind, or None when it is."""
    shown = value if len(value) <= 24 else value[:21] + "..."
    digits = canonical_number(value)
    if digits is None:
        if _TEN_DIGITS.fullmatch(value):
            return (f"{kind.label} {shown} has 10 digits: write it with 12 digits, "
                    "century included, as YYYYMMDDNNNC")
        return (f"{kind.label} {shown} is not in the form YYYYMMDDNNNC "
                "(12 digits, optionally with '-' before the last four)")
    try:
        number = personnummer.parse(digits)
    except personnummer.PersonnummerParseException:
        return f"{kind.label} {shown} has the serial number 000, which is never issued"
    except personnummer.PersonnummerException:
        # The library does not say why; a date that cannot exist is the more basic fault.
        if not _date_exists(digits):
            return f"{kind.label} {shown} has an impossible date"
        return f"{kind.label} {shown} has a wrong check digit"
    return _kind_problem(shown, kind, number.is_coordination_number())


def canonical_number(value: str) -> str | None:
    """The canonical 12-digit form (YYYYMMDDNNNC) of an accepted value, else None."""
    match = _TWELVE_DIGITS.fullmatch(value)
    return match.group(1) + match.group(2) if match else None


def _kind_problem(shown: str, kind: NumberKind, is_coordination: bool) -> str | None:
    if is_coordination == kind.coordination:
        return None
    if is_coordination:
        return (f"{kind.label} {shown} is a samordningsnummer (day of birth + 60): "
                f"use the system {SAMORDNINGSNUMMER_SYSTEM}")
    return (f"{kind.label} {shown} is not a samordningsnummer: its day must be the day of "
            f"birth + 60 (61-91); a personnummer belongs in the system {PERSONNUMMER_SYSTEM}")


def _date_exists(digits: str) -> bool:
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    if day > _COORDINATION_DAY_OFFSET:
        day -= _COORDINATION_DAY_OFFSET
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def _identifiers(value: Any, base: str) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):
        return [(base, value)]
    if isinstance(value, list):
        return [(f"{base}[{i}]", item) for i, item in enumerate(value) if isinstance(item, dict)]
    return []
