"""ACK messages (original mode) for inbound ADT: AA accepted, AE application error (a business
rule or unknown reference; ERR says which), AR rejected (malformed or unsupported).

Built from the header fields we could read rather than with python-hl7's `create_ack`, which
needs a fully parsed MSH: a rejected message may have none.
"""

from __future__ import annotations

from dataclasses import dataclass

from vardnav.integrations.hl7v2.codec import ENCODING_CHARACTERS, components, escape, now_ts
from vardnav.integrations.hl7v2.messages import SENDING_APPLICATION, new_control_id

# HL7 table 0357 (message error condition codes) used in ERR-3.
SEGMENT_SEQUENCE = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_PROCESSING_ID = "202"
UNSUPPORTED_VERSION = "203"
UNKNOWN_KEY = "204"
DUPLICATE_KEY = "205"
RECORD_LOCKED = "206"
INTERNAL_ERROR = "207"
_TEXT = {SEGMENT_SEQUENCE: "Segment sequence error", REQUIRED_FIELD_MISSING:
         "Required field missing", DATA_TYPE_ERROR: "Data type error",
         TABLE_VALUE_NOT_FOUND: "Table value not found", UNSUPPORTED_MESSAGE_TYPE:
         "Unsupported message type", UNSUPPORTED_EVENT: "Unsupported event code",
         UNSUPPORTED_PROCESSING_ID: "Unsupported processing id", UNSUPPORTED_VERSION:
         "Unsupported version id", UNKNOWN_KEY: "Unknown key identifier", DUPLICATE_KEY:
         "Duplicate key identifier", RECORD_LOCKED: "Application record locked",
         INTERNAL_ERROR: "Application internal error"}


@dataclass(frozen=True)
class Header:
    """What an ACK echoes from the message it answers (empty when unreadable). Values are the
    fields' text as received (still escaped), so they are echoed unchanged."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = "2.5"


def ack(header: Header, code: str, *, text: str = "", error: str | None = None,
        location: str = "") -> str:
    """An ACK for `header` with MSA-1 `code`; `error` (a table 0357 code) adds an ERR segment
    with `text` as its user message and `location` (e.g. `PV1^1^3`) as ERR-2."""
    msh = "|".join([
        "MSH", ENCODING_CHARACTERS, SENDING_APPLICATION, _raw(header.receiving_facility),
        _raw(header.sending_application), _raw(header.sending_facility), now_ts(), "",
        components("ACK", escape(header.trigger), "ACK"), new_control_id(),
        escape(header.processing_id or "P"), "2.5", "", "", "", "", "", "UNICODE UTF-8"])
    msa = "|".join(["MSA", code, _raw(header.control_id), escape(text[:80])]).rstrip("|")
    segments = [msh, msa]
    if error:
        severity = "E"
        segments.append("|".join(["ERR", "", location,
                                  components(error, escape(_TEXT.get(error, "")), "HL70357"),
                                  severity, "", "", "", escape(text)]))
    return "\r".join(segments) + "\r"


def _raw(value: str) -> str:
    """A received field echoed back: without anything that could end the field, segment or
    frame (it may come from a message read with other delimiters)."""
    return value.translate(_UNSAFE)[:200]


_UNSAFE = str.maketrans("", "", "|\r\n\x0b\x1c")
