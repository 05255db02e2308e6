"""Reading an inbound ADT message: decode, parse (python-hl7), validate, extract the fields the
workflow needs. Anything that makes the message unacceptable raises `Rejected` (answered AR);
whether the patient, ward or bed exists is the mapping's concern (answered AE).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import hl7

from vardnav.domains.identity.swedish_identifiers import (
    PERSONNUMMER,
    SAMORDNINGSNUMMER,
    number_problem,
)
from vardnav.integrations.hl7v2 import acks
from vardnav.integrations.hl7v2.acks import Header
from vardnav.integrations.hl7v2.codec import (
    ENCODING_CHARACTERS,
    PERSONNUMMER_OID,
    SAMORDNINGSNUMMER_OID,
    VARDNAV_NAMESPACE,
    TimestampError,
    parse_ts,
)

TRIGGERS = ("A01", "A02", "A03", "A04", "A05", "A08", "A11", "A12", "A13", "A21", "A22",
            "A38")
_NUMBER_KINDS = {PERSONNUMMER_OID: PERSONNUMMER, SAMORDNINGSNUMMER_OID: SAMORDNINGSNUMMER}


class Rejected(Exception):
    """The message cannot be accepted (AR)."""

    def __init__(self, header: Header, reason: str, error: str, location: str = "") -> None:
        super().__init__(reason)
        self.header = header
        self.reason = reason
        self.error = error
        self.location = location

    def ack(self) -> str:
        return acks.ack(self.header, "AR", text=self.reason, error=self.error,
                        location=self.location)


@dataclass(frozen=True)
class PatientId:
    value: str
    kind: str  # "personnummer", "samordningsnummer" or "vardnav" (the Patient id)


@dataclass(frozen=True)
class Where:
    ward: str = ""  # HSA-ids of the ward, room and bed Locations (PV1-3 / PV1-6)
    room: str = ""
    bed: str = ""

    def __bool__(self) -> bool:
        return bool(self.ward or self.bed)


@dataclass(frozen=True)
class InboundAdt:
    header: Header
    sender: str  # MSH-3 as received: the idempotency key with MSH-10
    trigger: str
    patient: PatientId
    patient_class: str = ""
    location: Where = field(default_factory=Where)
    prior_location: Where = field(default_factory=Where)
    attending: str = ""  # HSA-id (PV1-7.1)
    nurse: str = ""  # HSA-id (ROL with role NUR)
    visit: str = ""  # PV1-19.1: our Encounter id, if the sender knows it
    disposition: str = ""  # PV1-36.1
    occurred: str | None = None  # FHIR instant (EVN-6, else the trigger's PV1 time)
    expected: str | None = None  # PV2-8 (A05)


def decode(block: bytes) -> str:
    """The frame as text: UTF-8 unless MSH-18 declares ISO 8859-1 (as older Swedish systems
    do). Undecodable bytes are an AR, never a guess."""
    peek = block[:1024].decode("latin-1")
    charset = ""
    if peek.startswith("MSH") and len(peek) > 4:
        first = peek.split("\r", 1)[0].split(peek[3])
        charset = first[17].strip().upper() if len(first) > 17 else ""
    codec = "latin-1" if charset in ("8859/1", "ISO-8859-1", "ISO IR100") else "utf-8"
    try:
        return block.decode(codec)
    except UnicodeDecodeError as exc:
        raise Rejected(_header_guess(peek), f"The message is not valid {codec.upper()} "
                       f"(byte {exc.start}); declare the character set in MSH-18",
                       acks.DATA_TYPE_ERROR, "MSH^1^18") from exc


def _header_guess(text: str) -> Header:
    """Header fields read without trusting the message (for an AR to a broken one)."""
    if not text.startswith("MSH") or len(text) < 4:
        return Header()
    fields = text.split("\r", 1)[0].split(text[3])
    def f(n: int) -> str:  # MSH-n is fields[n - 1]
        return fields[n - 1] if len(fields) >= n else ""
    trigger = f(9).split("^")[1] if "^" in f(9) else ""
    return Header(sending_application=f(3), sending_facility=f(4),
                  receiving_facility=f(6), trigger=trigger[:3], control_id=f(10),
                  processing_id=f(11)[:1] or "P")


def read(text: str) -> InboundAdt:
    """Parse and validate an ADT message; Rejected if it cannot be accepted."""
    guess = _header_guess(text)
    if not text.startswith("MSH"):
        raise Rejected(guess, "The message does not begin with an MSH segment",
                       acks.SEGMENT_SEQUENCE, "MSH")
    if "\n" in text and "\r" not in text:
        raise Rejected(guess, "Segments must be separated by carriage returns (\\r)",
                       acks.SEGMENT_SEQUENCE)
    if text[3:8] != "|" + ENCODING_CHARACTERS:
        raise Rejected(guess, "The field separator and encoding characters must be "
                       "|^~\\&", acks.DATA_TYPE_ERROR, "MSH^1^2")
    try:
        msg = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises several types on malformed input
        raise Rejected(guess, f"The message cannot be parsed: {exc}",
                       acks.SEGMENT_SEQUENCE) from exc
    header = guess
    kind, trigger = _get(msg, "MSH.F9.R1.C1"), _get(msg, "MSH.F9.R1.C2")
    if kind != "ADT":
        raise Rejected(header, f"Message type {kind or '(none)'} is not supported; only ADT",
                       acks.UNSUPPORTED_MESSAGE_TYPE, "MSH^1^9")
    if trigger not in TRIGGERS:
        raise Rejected(header, f"Trigger event {trigger or '(none)'} is not supported "
                       f"(supported: {', '.join(TRIGGERS)})", acks.UNSUPPORTED_EVENT,
                       "MSH^1^9")
    for number, name in ((3, "sending application"), (10, "message control id")):
        if not _get(msg, f"MSH.F{number}"):
            raise Rejected(header, f"MSH-{number} ({name}) is missing",
                           acks.REQUIRED_FIELD_MISSING, f"MSH^1^{number}")
    if not _get(msg, "MSH.F12.R1.C1").startswith("2."):
        raise Rejected(header, f"Version {_get(msg, 'MSH.F12') or '(none)'} is not "
                       "supported; HL7 v2.x", acks.UNSUPPORTED_VERSION, "MSH^1^12")
    for segment in ("EVN", "PID", "PV1"):
        if not _has(msg, segment):
            raise Rejected(header, f"The {segment} segment is missing",
                           acks.SEGMENT_SEQUENCE, segment)
    adt = InboundAdt(
        header=header, sender=guess.sending_application, trigger=trigger,
        patient=_patient(msg, header), patient_class=_get(msg, "PV1.F2"),
        location=_where(msg, 3), prior_location=_where(msg, 6),
        attending=_get(msg, "PV1.F7.R1.C1"), nurse=_nurse(msg),
        visit=_get(msg, "PV1.F19.R1.C1"), disposition=_get(msg, "PV1.F36.R1.C1"),
        occurred=_time(msg, header, "EVN.F6", "EVN^1^6") or _time(
            msg, header, *_TRIGGER_TIME.get(trigger, ("", ""))),
        expected=_time(msg, header, "PV2.F8", "PV2^1^8") if _has(msg, "PV2") else None)
    _required(adt)
    return adt


# The PV1 time that says when the step happened, if EVN-6 is empty.
_TRIGGER_TIME = {"A01": ("PV1.F44", "PV1^1^44"), "A04": ("PV1.F44", "PV1^1^44"),
                 "A03": ("PV1.F45", "PV1^1^45")}


def _required(adt: InboundAdt) -> None:
    """Fields a trigger cannot do without (AR 101 when missing)."""
    def missing(what: str, location: str) -> Rejected:
        return Rejected(adt.header, f"{what} is required for {adt.trigger}",
                        acks.REQUIRED_FIELD_MISSING, location)
    if adt.trigger in ("A01", "A02", "A05", "A04") and not adt.location:
        raise missing("PV1-3 (assigned location: ward or bed HSA-id)", "PV1^1^3")
    if adt.trigger == "A01" and not adt.attending:
        raise missing("PV1-7 (attending doctor's HSA-id)", "PV1^1^7")
    if adt.trigger == "A03" and not adt.disposition:
        raise missing("PV1-36 (discharge disposition)", "PV1^1^36")
    if adt.trigger == "A05" and not adt.expected:
        raise missing("PV2-8 (expected admission date/time)", "PV2^1^8")
    if adt.trigger == "A04" and adt.patient_class not in ("O", "E"):
        raise Rejected(adt.header, "PV1-2 (patient class) must be O (outpatient) or E "
                       "(emergency) for A04", acks.TABLE_VALUE_NOT_FOUND, "PV1^1^2")


def _get(msg: Any, key: str) -> str:
    try:
        return str(msg[_accessor(key)]).strip()
    except (KeyError, IndexError, ValueError, TypeError):
        return ""


@lru_cache(maxsize=256)
def _accessor(key: str) -> hl7.Accessor:
    """python-hl7's parsed form of a key such as "PV1.F3.R1.C1" (what `msg[key]` parses on
    every lookup; a message takes about twenty)."""
    return hl7.Accessor.parse_key(key)


def _has(msg: Any, segment: str) -> bool:
    try:
        msg.segment(segment)
    except KeyError:
        return False
    return True


def _time(msg: Any, header: Header, key: str, location: str) -> str | None:
    value = _get(msg, key) if key else ""
    if not value:
        return None
    try:
        return parse_ts(value)
    except TimestampError as exc:
        raise Rejected(header, str(exc), acks.DATA_TYPE_ERROR, location) from exc


def _where(msg: Any, number: int) -> Where:
    base = f"PV1.F{number}.R1"
    return Where(ward=_get(msg, f"{base}.C1"), room=_get(msg, f"{base}.C2"),
                 bed=_get(msg, f"{base}.C3"))


def _nurse(msg: Any) -> str:
    try:
        roles = msg.segments("ROL")
    except KeyError:
        return ""
    for n in range(1, len(roles) + 1):
        if _get(msg, f"ROL{n}.F3.R1.C1") == "NUR":
            return _get(msg, f"ROL{n}.F4.R1.C1")
    return ""


def _patient(msg: Any, header: Header) -> PatientId:
    """PID-3: a personnummer or samordningsnummer by its OID (PN), else Vårdnav's own
    Patient id (PI, assigning authority VARDNAV)."""
    try:
        repetitions = len(msg.segment("PID")[3])
    except IndexError:
        repetitions = 0
    own = None
    for n in range(1, repetitions + 1):
        value = _get(msg, f"PID.F3.R{n}.C1")
        oid = _get(msg, f"PID.F3.R{n}.C4.S2")
        kind = _NUMBER_KINDS.get(oid)
        if value and kind:
            problem = number_problem(value, kind)
            if problem:
                raise Rejected(header, f"PID-3: {problem}", acks.DATA_TYPE_ERROR,
                               f"PID^1^3^{n}")
            label = "personnummer" if oid == PERSONNUMMER_OID else "samordningsnummer"
            return PatientId(value.replace("-", ""), label)
        if value and _get(msg, f"PID.F3.R{n}.C4.S1") == VARDNAV_NAMESPACE and own is None:
            own = PatientId(value, "vardnav")
    if own:
        return own
    raise Rejected(header, "PID-3 holds no personnummer (assigning authority "
                   f"&{PERSONNUMMER_OID}&ISO) or samordningsnummer (&{SAMORDNINGSNUMMER_OID}"
                   "&ISO)", acks.REQUIRED_FIELD_MISSING, "PID^1^3")
