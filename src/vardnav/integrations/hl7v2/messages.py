"""Outbound HL7 v2.5 ADT messages, rendered from an `AdtEvent` (docs/adt.md, "HL7 v2 message
mapping").

Every value taken from a resource goes through `codec.escape`, so a `|`, `^`, `&`, `~` or `\\`
in a name or street never breaks the message structure. The rendered text is stored in the
outbox as it will be sent: what a receiver gets is what was true when the step committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from vardnav.domains.access.profiles import is_protected
from vardnav.domains.adt.codes import PLANNED_END, PLANNED_START
from vardnav.domains.adt.events import AdtEvent
from vardnav.integrations.hl7v2.codec import (
    ENCODING_CHARACTERS,
    HSA_OID,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    VARDNAV_NAMESPACE,
    components,
    escape,
    hd,
    hl7_ts,
    now_ts,
)

SENDING_APPLICATION = "VARDNAV"

# Message structure (MSH-9.3) per trigger, HL7 v2.5 table 0354.
STRUCTURE = {"A01": "ADT_A01", "A02": "ADT_A02", "A03": "ADT_A03", "A04": "ADT_A01",
             "A05": "ADT_A05", "A08": "ADT_A01", "A11": "ADT_A09", "A12": "ADT_A12",
             "A13": "ADT_A01", "A21": "ADT_A21", "A22": "ADT_A21", "A38": "ADT_A38"}
# Triggers whose structure carries a visit-level ROL segment (the responsible nurse).
_WITH_ROL = {"ADT_A01", "ADT_A05"}

# Discharge disposition (PV1-36, user-defined table 0112): Vårdnav's codes and the codes sent.
DISPOSITION_CODES = {"home": "01", "other-hospital": "02", "nursing-home": "03",
                     "home-municipal-care": "06", "deceased": "20"}
DISPOSITION_TEXT = {"home": "Hem", "other-hospital": "Annat sjukhus",
                    "nursing-home": "Särskilt boende", "home-municipal-care":
                    "Hem med kommunal vård och omsorg", "deceased": "Avliden"}

_PNR_SYSTEMS = {"http://electronichealth.se/identifier/personnummer": PERSONNUMMER_OID,
                f"urn:oid:{PERSONNUMMER_OID}": PERSONNUMMER_OID,
                "http://electronichealth.se/identifier/samordningsnummer": SAMORDNINGSNUMMER_OID,
                f"urn:oid:{SAMORDNINGSNUMMER_OID}": SAMORDNINGSNUMMER_OID}
_HSA_SYSTEMS = (f"urn:oid:{HSA_OID}", "urn:oid:1.2.752.129.2.1.4.1")
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
# Encounter.class (v3 ActCode) → PV1-2 patient class (table 0004).
_PATIENT_CLASS = {"IMP": "I", "ACUTE": "I", "NONAC": "I", "OBSENC": "I", "SS": "I",
                  "AMB": "O", "VR": "O", "HH": "O", "FLD": "O", "EMER": "E", "PRENC": "P"}


def new_control_id() -> str:
    """A unique MSH-10 (20 characters, the v2.5 length)."""
    return "VN" + uuid.uuid4().hex[:18].upper()


def render(event: AdtEvent, *, receiver: str, control_id: str,
           facility: str | None = None, recorded: str | None = None) -> str:
    """The HL7 v2.5 message for `event`, addressed to `receiver` (MSH-5/6); `facility` is the
    hospital's HSA-id (PV1-3.4 and MSH-4)."""
    trigger = event.trigger
    if trigger not in STRUCTURE:
        raise ValueError(f"No HL7 v2 message for ADT trigger {trigger!r}")
    structure = STRUCTURE[trigger]
    # MSH-1 is the "|" that _segment puts after the name; MSH-2 the encoding characters.
    msh = _segment("MSH", ENCODING_CHARACTERS, SENDING_APPLICATION, escape(facility or ""),
                   escape(receiver), escape(receiver), now_ts(), "",
                   components("ADT", trigger, structure), escape(control_id), "P", "2.5",
                   "", "", "", "", "SWE", "UNICODE UTF-8")
    evn = _segment("EVN", trigger, recorded or now_ts(), "", "", "", hl7_ts(event.occurred))
    segments = [msh, evn, pid(event.patient)]
    if is_protected(event.patient):
        # PD1-12 protection indicator: the identity is protected (skyddad folkbokföring).
        segments.append(_segment("PD1", *[""] * 11, "Y"))
    segments.append(pv1(event, facility))
    pv2_segment = pv2(event)
    if pv2_segment:
        segments.append(pv2_segment)
    nurse = event.practitioners.get("nurse")
    if nurse and structure in _WITH_ROL:
        role = components("NUR", "Ansvarig sjuksköterska", "L")
        segments.append(_segment("ROL", escape(f"{event.encounter.get('id', '')}-nurse"),
                                 "UC", role, xcn(nurse)))
    return "\r".join(segments) + "\r"


def _segment(name: str, *fields: str) -> str:
    values = list(fields)
    while values and not values[-1]:
        values.pop()
    return "|".join([name, *values])


# -- PID ----------------------------------------------------------------------------------

def pid(patient: dict[str, Any]) -> str:
    """PID: identifiers (personnummer/samordningsnummer by OID, Vårdnav id), name, birth date,
    sex, address (left out for a protected identity), death."""
    ids = []
    for ident in patient.get("identifier") or []:
        oid = _PNR_SYSTEMS.get(ident.get("system", ""))
        if oid and ident.get("value"):
            number = str(ident["value"]).replace("-", "")
            ids.append(components(escape(number), "", "", hd("", oid, "ISO"), "PN"))
    if patient.get("id"):
        ids.append(components(escape(patient["id"]), "", "", VARDNAV_NAMESPACE, "PI"))
    address = "" if is_protected(patient) else xad(_first(patient.get("address"), "home"))
    deceased = patient.get("deceasedDateTime")
    died = "Y" if deceased or patient.get("deceasedBoolean") else ""
    return _segment("PID", "1", "", "~".join(ids), "", xpn(_first(patient.get("name"),
                                                                   "official")),
                    "", hl7_ts(patient.get("birthDate"), date_only=True),
                    _SEX.get(patient.get("gender", ""), ""), "", "", address,
                    *[""] * 17, hl7_ts(deceased) if deceased else "", died)


def _first(items: Any, use: str) -> dict[str, Any]:
    if not isinstance(items, list) or not items:
        return {}
    return next((i for i in items if i.get("use") == use), items[0])


def xpn(name: dict[str, Any]) -> str:
    """family^given^further given names (XPN), name type L (legal)."""
    if not name:
        return ""
    given = name.get("given") or []
    return components(escape(name.get("family", "")), escape(given[0] if given else ""),
                      escape(" ".join(given[1:])), "", "", "", "L")


def xad(address: dict[str, Any]) -> str:
    """street^other designation^city^^postal code^country^H (XAD)."""
    if not address:
        return ""
    lines = address.get("line") or []
    return components(escape(lines[0] if lines else ""), escape(", ".join(lines[1:])),
                      escape(address.get("city", "")), "",
                      escape(address.get("postalCode", "")),
                      escape(address.get("country", "")), "H")


def xcn(practitioner: dict[str, Any]) -> str:
    """HSA-id^family^given^^^^^^&1.2.752.29.4.19&ISO (XCN)."""
    hsa = next((i.get("value", "") for i in practitioner.get("identifier") or []
                if i.get("system") in _HSA_SYSTEMS), "")
    name = _first(practitioner.get("name"), "official")
    given = name.get("given") or []
    authority = hd("", HSA_OID, "ISO") if hsa else ""
    return components(escape(hsa), escape(name.get("family", "")),
                      escape(given[0] if given else ""), "", "", "", "", "", authority)


# -- PV1 / PV2 ----------------------------------------------------------------------------

def hsa_id(resource: dict[str, Any] | None) -> str:
    if not resource:
        return ""
    return next((i.get("value", "") for i in resource.get("identifier") or []
                 if i.get("system") in _HSA_SYSTEMS), "")


def pl(location: Sequence[dict[str, Any]], facility: str | None) -> str:
    """ward^room^bed^facility (PL) with the Locations' HSA-ids, outermost first."""
    if not location:
        return ""
    parts = [escape(hsa_id(loc)) for loc in location[:3]]
    parts += [""] * (3 - len(parts))
    return components(*parts, hd(facility or ""))


def patient_class(event: AdtEvent) -> str:
    encounter = event.encounter
    if encounter.get("status") == "planned" or event.trigger in ("A05", "A38"):
        return "P"
    code = (encounter.get("class") or {}).get("code", "")
    return _PATIENT_CLASS.get(code, "I")


def pv1(event: AdtEvent, facility: str | None) -> str:
    encounter = event.encounter
    trigger = event.trigger
    # A discharge or a cancelled admission leaves no assigned location: PV1-3 then names the
    # location the patient left, as receivers expect.
    here = event.location or (event.prior_location if trigger in ("A03", "A11") else ())
    prior = event.prior_location if trigger in ("A02", "A12") else ()
    attending = event.practitioners.get("attending")
    period = encounter.get("period") or {}
    disposition = ""
    if trigger == "A03" and event.disposition:
        code = DISPOSITION_CODES.get(event.disposition, event.disposition)
        disposition = components(escape(code), escape(DISPOSITION_TEXT.get(event.disposition,
                                                                            "")))
    admitted = "" if trigger in ("A05", "A38") else hl7_ts(period.get("start"))
    discharged = hl7_ts(period.get("end")) if trigger == "A03" else ""
    visit = components(escape(encounter.get("id", "")), "", "", VARDNAV_NAMESPACE, "VN")
    fields = ["1", patient_class(event), pl(here, facility), "", "", pl(prior, facility),
              xcn(attending) if attending else ""]
    fields += [""] * 11  # PV1-8 .. PV1-18
    fields += [visit]  # PV1-19
    fields += [""] * 16  # PV1-20 .. PV1-35
    fields += [disposition]  # PV1-36
    fields += [""] * 7  # PV1-37 .. PV1-43
    fields += [admitted, discharged]  # PV1-44, PV1-45
    return _segment("PV1", *fields)


def pv2(event: AdtEvent) -> str:
    """PV2-8 expected admission (A05) and PV2-9 expected discharge, when planned."""
    encounter = event.encounter
    expected_start = _extension(encounter, PLANNED_START)
    if event.trigger == "A05" and not expected_start:
        expected_start = (encounter.get("period") or {}).get("start")
    if event.trigger not in ("A05", "A38"):  # A38: the arrival that will not happen
        expected_start = None
    expected_end = _extension(encounter, PLANNED_END)
    if not (expected_start or expected_end):
        return ""
    return _segment("PV2", *[""] * 7, hl7_ts(expected_start), hl7_ts(expected_end))


def _extension(resource: dict[str, Any], url: str) -> str | None:
    return next((e.get("valueDateTime") for e in resource.get("extension") or []
                 if e.get("url") == url), None)
