"""Swedish local time: the zone in which a date without a time (a consent's start, a
discharge day, a bed board's "today") is a calendar day."""

from __future__ import annotations

from zoneinfo import ZoneInfo

SWEDEN = ZoneInfo("Europe/Stockholm")
