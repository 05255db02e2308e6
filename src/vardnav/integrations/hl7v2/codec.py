"""Small HL7 v2 value codecs: escaping, timestamps, identifiers. Parsing is python-hl7's.

Outbound messages are UTF-8 (declared in MSH-18 as `UNICODE UTF-8`), so only the delimiters
are escaped. `hl7.util.escape` is not used for that: it also turns every non-ASCII character
into `\\Xnn\\` with the Unicode code point as hex, which is neither UTF-8 nor Latin-1 for
"Ö" and friends once the receiver decodes it by MSH-18. Inbound values are unescaped with
python-hl7's `Message.unescape` (all standard escapes).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

# Local time of the region: HL7 timestamps are sent with an explicit offset in this zone
# (what Swedish receivers display), and inbound timestamps without an offset are read in it.
from vardnav.domains.swedish_time import SWEDEN as LOCAL_ZONE

ENCODING_CHARACTERS = "^~\\&"
FIELD_SEP = "|"

# Identifier OIDs (domain.md §4) and the HL7 v2 form of their assigning authority (HD).
PERSONNUMMER_OID = "1.2.752.129.2.1.3.1"
SAMORDNINGSNUMMER_OID = "1.2.752.129.2.1.3.3"
HSA_OID = "1.2.752.29.4.19"
HSA_OID_OLD = "1.2.752.129.2.1.4.1"  # older contracts; accepted inbound
# Namespace of Vårdnav's own ids (Patient id as PI, Encounter id as visit number).
VARDNAV_NAMESPACE = "VARDNAV"

_ESCAPES = {"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\",
            "\r": "\\.br\\", "\n": "\\.br\\"}
_NEEDS_ESCAPE = re.compile(r"[\\|^&~\r\n]")


def escape(value: object) -> str:
    """Text as an HL7 v2 primitive value: delimiters escaped, line breaks as `\\.br\\`."""
    if value is None:
        return ""
    text = str(value).replace("\r\n", "\n")
    if not _NEEDS_ESCAPE.search(text):
        return text
    return "".join(_ESCAPES.get(c, c) for c in text)


def hd(namespace: str = "", universal_id: str = "", id_type: str = "") -> str:
    """A hierarchic designator used as a component: namespace&universal id&type."""
    parts = [escape(namespace), escape(universal_id), escape(id_type)]
    while parts and not parts[-1]:
        parts.pop()
    return "&".join(parts)


def components(*values: str) -> str:
    """Join already-escaped components with `^`, dropping empty trailing ones."""
    parts = list(values)
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


# -- time ---------------------------------------------------------------------------------

def hl7_ts(value: str | None, *, date_only: bool = False) -> str:
    """A FHIR date/dateTime/instant as an HL7 TS: local time with its offset
    (`20260126121500+0100`), or YYYYMMDD for a date."""
    if not value:
        return ""
    if len(value) <= 10 or date_only:  # a date (or partial date): as given, no time zone
        return value[:10].replace("-", "")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_ZONE).strftime("%Y%m%d%H%M%S%z")


def now_ts() -> str:
    return datetime.now(LOCAL_ZONE).strftime("%Y%m%d%H%M%S%z")


_TS = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?"
                 r"([+-]\d{4})?$")


class TimestampError(ValueError):
    pass


def parse_ts(text: str) -> str:
    """An HL7 TS with at least minutes as a FHIR instant (UTC, `...Z`). Without an offset
    the time is read as Swedish local time."""
    m = _TS.match(text.strip())
    if not m:
        raise TimestampError(f"'{text}' is not an HL7 date/time with at least minutes "
                             "(YYYYMMDDHHMM[SS][+ZZZZ])")
    year, month, day, hour, minute, second, _frac, offset = m.groups()
    try:
        if offset:
            sign = 1 if offset[0] == "+" else -1
            tz: timezone | ZoneInfo = timezone(sign * timedelta(hours=int(offset[1:3]),
                                                                minutes=int(offset[3:5])))
        else:
            tz = LOCAL_ZONE
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute),
                          int(second or 0), tzinfo=tz)
    except ValueError as exc:
        raise TimestampError(f"'{text}' is not a real date/time: {exc}") from exc
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
