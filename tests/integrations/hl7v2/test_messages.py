"""Outbound rendering: every trigger parses back with python-hl7 to the fields docs/adt.md
promises; delimiters in names and addresses are escaped."""

from __future__ import annotations

from typing import Any

import hl7
import pytest

from vardnav.domains.adt.codes import PLANNED_START
from vardnav.domains.adt.events import AdtEvent
from vardnav.integrations.hl7v2.codec import escape, hl7_ts, parse_ts
from vardnav.integrations.hl7v2.messages import STRUCTURE, new_control_id, render

HSA = "urn:oid:1.2.752.29.4.19"


def loc(hsa: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Location", "identifier": [{"system": HSA, "value": hsa}], **extra}


PATIENT = {
    "resourceType": "Patient", "id": "pat-1",
    "identifier": [{"system": "http://electronichealth.se/identifier/personnummer",
                    "value": "191212121212"}],
    "name": [{"family": "Öst|lund^&", "given": ["Anna", "Maria~Lisa"]}],
    "birthDate": "1912-12-12", "gender": "female",
    "address": [{"use": "home", "line": ["Storgatan 1\\B", "lgh 1102"], "city": "Göteborg",
                 "postalCode": "41101", "country": "SE"}]}
WARD = loc("SE2321000131-S000000000001-MED1-L", id="ward-1")
ROOM = loc("SE2321000131-S000000000001-MED1-R1", id="room-1")
BED = loc("SE2321000131-S000000000001-MED1-R1-B1", id="bed-1")
BED2 = loc("SE2321000131-S000000000001-MED1-R2-B1", id="bed-2")
ROOM2 = loc("SE2321000131-S000000000001-MED1-R2", id="room-2")
DOCTOR = {"resourceType": "Practitioner", "id": "doc",
          "identifier": [{"system": HSA, "value": "SE2321000131-P00001"}],
          "name": [{"family": "Holm", "given": ["Erik"]}]}
NURSE = {"resourceType": "Practitioner", "id": "nurse",
         "identifier": [{"system": HSA, "value": "SE2321000131-P00002"}],
         "name": [{"family": "Ek", "given": ["Ylva"]}]}


def event(trigger: str, **overrides: Any) -> AdtEvent:
    encounter = {"resourceType": "Encounter", "id": "enc-1", "status": "in-progress",
                 "class": {"code": "IMP"},
                 "period": {"start": "2026-01-26T09:30:00Z"}}
    args: dict[str, Any] = {
        "trigger": trigger, "patient": PATIENT, "encounter": encounter,
        "occurred": "2026-01-26T10:00:00Z", "location": (WARD, ROOM, BED),
        "practitioners": {"attending": DOCTOR, "nurse": NURSE}}
    args.update(overrides)
    return AdtEvent(**args)


def parsed(ev: AdtEvent, control_id: str = "CTRL1") -> hl7.Message:
    text = render(ev, receiver="LAB", control_id=control_id, facility="SE2321000131-S-L")
    assert "\n" not in text and text.endswith("\r")
    return hl7.parse(text)


@pytest.mark.parametrize("trigger", sorted(STRUCTURE))
def test_every_trigger_renders_header_patient_and_visit(trigger: str) -> None:
    m = parsed(event(trigger))
    assert str(m["MSH.F2"]) == "^~\\&"
    assert str(m["MSH.F3"]) == "VARDNAV" and str(m["MSH.F5"]) == "LAB"
    assert [str(m[f"MSH.F9.R1.C{n}"]) for n in (1, 2, 3)] == ["ADT", trigger,
                                                             STRUCTURE[trigger]]
    assert str(m["MSH.F10"]) == "CTRL1" and str(m["MSH.F12"]) == "2.5"
    assert str(m["MSH.F18"]) == "UNICODE UTF-8"
    assert str(m["EVN.F1"]) == trigger
    assert parse_ts(str(m["EVN.F6"])) == "2026-01-26T10:00:00Z"
    assert str(m["PID.F3.R1.C1"]) == "191212121212"
    assert str(m["PID.F3.R1.C4.S2"]) == "1.2.752.129.2.1.3.1"
    assert str(m["PID.F3.R1.C4.S3"]) == "ISO" and str(m["PID.F3.R1.C5"]) == "PN"
    assert (str(m["PID.F3.R2.C1"]), str(m["PID.F3.R2.C5"])) == ("pat-1", "PI")
    assert str(m["PID.F7"]) == "19121212" and str(m["PID.F8"]) == "F"
    assert str(m["PV1.F19.R1.C1"]) == "enc-1" and str(m["PV1.F19.R1.C5"]) == "VN"
    assert str(m["PV1.F7.R1.C1"]) == "SE2321000131-P00001"
    assert str(m["PV1.F7.R1.C2"]) == "Holm"


def test_assigned_location_is_ward_room_bed_facility_by_hsa_id() -> None:
    m = parsed(event("A01"))
    assert str(m["PV1.F2"]) == "I"
    assert [str(m[f"PV1.F3.R1.C{n}"]) for n in (1, 2, 3, 4)] == [
        "SE2321000131-S000000000001-MED1-L", "SE2321000131-S000000000001-MED1-R1",
        "SE2321000131-S000000000001-MED1-R1-B1", "SE2321000131-S-L"]
    assert parse_ts(str(m["PV1.F44"])) == "2026-01-26T09:30:00Z"
    assert str(m["PV1.F45"]) == ""
    # The responsible nurse travels in a visit ROL segment.
    assert str(m["ROL.F3.R1.C1"]) == "NUR" and str(m["ROL.F4.R1.C1"]) == "SE2321000131-P00002"


@pytest.mark.parametrize("trigger", ["A02", "A12"])
def test_transfer_and_its_cancellation_carry_the_prior_location(trigger: str) -> None:
    m = parsed(event(trigger, location=(WARD, ROOM2, BED2), prior_location=(WARD, ROOM, BED)))
    assert str(m["PV1.F3.R1.C3"]) == "SE2321000131-S000000000001-MED1-R2-B1"
    assert str(m["PV1.F6.R1.C3"]) == "SE2321000131-S000000000001-MED1-R1-B1"
    assert str(m["PV1.F6.R1.C1"]) == "SE2321000131-S000000000001-MED1-L"


def test_discharge_has_disposition_time_and_the_location_left() -> None:
    ev = event("A03", location=(), prior_location=(WARD, ROOM, BED), disposition="nursing-home",
               encounter={"resourceType": "Encounter", "id": "enc-1", "status": "finished",
                          "class": {"code": "IMP"},
                          "period": {"start": "2026-01-20T08:00:00Z",
                                     "end": "2026-01-26T10:00:00Z"}})
    m = parsed(ev)
    assert str(m["PV1.F36.R1.C1"]) == "03" and str(m["PV1.F36.R1.C2"]) == "Särskilt boende"
    assert parse_ts(str(m["PV1.F45"])) == "2026-01-26T10:00:00Z"
    assert str(m["PV1.F3.R1.C3"]) == "SE2321000131-S000000000001-MED1-R1-B1"


def test_pre_admission_is_class_p_with_the_expected_arrival() -> None:
    encounter = {"resourceType": "Encounter", "id": "enc-2", "status": "planned",
                 "class": {"code": "IMP"},
                 "extension": [{"url": PLANNED_START, "valueDateTime": "2026-02-01T07:00:00Z"}]}
    m = parsed(event("A05", encounter=encounter, location=(WARD,)))
    assert str(m["PV1.F2"]) == "P"
    assert parse_ts(str(m["PV2.F8"])) == "2026-02-01T07:00:00Z"
    assert str(m["PV1.F3.R1.C1"]) == WARD["identifier"][0]["value"]
    assert str(m["PV1.F3.R1.C3"]) == ""


@pytest.mark.parametrize(("code", "expected"), [("AMB", "O"), ("EMER", "E"), ("IMP", "I")])
def test_patient_class_follows_the_encounter_class(code: str, expected: str) -> None:
    encounter = {"resourceType": "Encounter", "id": "e", "status": "in-progress",
                 "class": {"code": code}}
    assert str(parsed(event("A04", encounter=encounter))["PV1.F2"]) == expected


def test_delimiters_in_names_and_addresses_are_escaped() -> None:
    text = render(event("A08"), receiver="LAB", control_id="C")
    pid = next(s for s in text.split("\r") if s.startswith("PID"))
    assert "Öst\\F\\lund\\S\\\\T\\" in pid and "Maria\\R\\Lisa" in pid
    m = hl7.parse(text)
    # python-hl7 unescapes on access: the values come back exactly.
    assert str(m["PID.F5.R1.C1"]) == "Öst|lund^&"
    assert str(m["PID.F5.R1.C2"]) == "Anna" and str(m["PID.F5.R1.C3"]) == "Maria~Lisa"
    assert str(m["PID.F11.R1.C1"]) == "Storgatan 1\\B"
    assert str(m["PID.F11.R1.C2"]) == "lgh 1102"
    assert str(m["PID.F11.R1.C3"]) == "Göteborg" and str(m["PID.F11.R1.C5"]) == "41101"
    assert len(m["PID"][0]) == 12  # no field was split by a stray delimiter


def test_line_breaks_become_escapes() -> None:
    assert escape("a\r\nb\nc") == "a\\.br\\b\\.br\\c"


def test_samordningsnummer_has_its_own_oid() -> None:
    patient = {**PATIENT, "identifier": [{
        "system": "urn:oid:1.2.752.129.2.1.3.3", "value": "197010632391"}]}
    m = parsed(event("A08", patient=patient))
    assert str(m["PID.F3.R1.C1"]) == "197010632391"
    assert str(m["PID.F3.R1.C4.S2"]) == "1.2.752.129.2.1.3.3"


def test_protected_identity_sends_no_address_and_a_protection_indicator() -> None:
    patient = {**PATIENT, "meta": {"security": [{"code": "protected-information"}]}}
    m = parsed(event("A01", patient=patient))
    assert str(m["PID.F11"]) == ""
    assert str(m["PD1.F12"]) == "Y"


def test_control_ids_are_unique_and_fit_msh_10() -> None:
    ids = {new_control_id() for _ in range(10_000)}
    assert len(ids) == 10_000 and all(len(i) == 20 for i in ids)


def test_times_are_local_with_offset_and_parse_back() -> None:
    assert hl7_ts("2026-07-01T10:00:00Z") == "20260701120000+0200"
    assert parse_ts("20260701120000+0200") == "2026-07-01T10:00:00Z"
    assert parse_ts("202601261200") == "2026-01-26T11:00:00Z"  # no offset: Swedish time
    assert hl7_ts("1912-12-12") == "19121212"
