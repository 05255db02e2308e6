"""FHIR date/dateTime/instant values as half-open [low, high) ranges in epoch seconds (UTC).

A partial date covers its whole period: "2024" is [2024-01-01, 2025-01-01). Values without a
time zone are read as UTC (documented in docs/api.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from dateutil.relativedelta import relativedelta

MIN_TIME = -9.9e12
MAX_TIME = 9.9e12

_DATE_RE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<H>\d{2})(?::(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class DateFormatError(ValueError):
    pass


def parse_range(value: str) -> tuple[float, float]:
    """Return the [low, high) range covered by a FHIR date, dateTime or instant string."""
    if isinstance(value, str):
        return _parse_range_cached(value)
    return _parse_range(value)


# The same few dates recur in every write of a resource (an Encounter's period and location
# periods are indexed and read for care relationships on each ADT step): parsed once.
@lru_cache(maxsize=8192)
def _parse_range_cached(value: str) -> tuple[float, float]:
    return _parse_range(value)


def _parse_range(value: str) -> tuple[float, float]:
    m = _DATE_RE.match(value.strip())
    if not m:
        raise DateFormatError(f"'{value}' is not a valid FHIR date/dateTime")
    g = m.groupdict()
    try:
        tz = UTC
        if g["tz"] and g["tz"] != "Z":
            sign = 1 if g["tz"][0] == "+" else -1
            hh, mm = int(g["tz"][1:3]), int(g["tz"][4:6])
            from datetime import timezone
            tz = timezone(sign * timedelta(hours=hh, minutes=mm))
        year = int(g["y"])
        if g["m"] is None:
            start = datetime(year, 1, 1, tzinfo=tz)
            end = start + relativedelta(years=1)
        elif g["d"] is None:
            start = datetime(year, int(g["m"]), 1, tzinfo=tz)
            end = start + relativedelta(months=1)
        elif g["H"] is None:
            start = datetime(year, int(g["m"]), int(g["d"]), tzinfo=tz)
            end = start + timedelta(days=1)
        elif g["M"] is None:
            start = datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), tzinfo=tz)
            end = start + timedelta(hours=1)
        elif g["S"] is None:
            start = datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]), tzinfo=tz)
            end = start + timedelta(minutes=1)
        else:
            frac = g["f"] or ""
            micro = int((frac[1:] + "000000")[:6]) if frac else 0
            start = datetime(year, int(g["m"]), int(g["d"]), int(g["H"]), int(g["M"]),
                             int(g["S"]), micro, tzinfo=tz)
            digits = len(frac) - 1 if frac else 0
            end = start + timedelta(seconds=10 ** -min(digits, 6)) if digits else \
                start + timedelta(seconds=1)
        # Near year 1 or 9999 the period's end (or the UTC instant) leaves datetime's range.
        return start.timestamp(), end.timestamp()
    except (ValueError, OverflowError) as exc:
        raise DateFormatError(f"'{value}' is not a valid date: {exc}") from exc


def now() -> float:
    return datetime.now(UTC).timestamp()


def instant(ts: float) -> str:
    """Render epoch seconds as a FHIR instant with millisecond precision."""
    # isoformat cuts to milliseconds as the FHIR instant wants, faster than strftime; the
    # first 23 characters are the time without its "+00:00".
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")[:23] + "Z"
