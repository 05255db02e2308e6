"""Dates in consent, block and care periods are Swedish calendar days: a consent registered
at 00:30 in Sweden with today's date holds at once (UTC's date is still yesterday's)."""

from __future__ import annotations

from datetime import UTC, datetime

from vardnav.domains.access.derivations import _period


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_a_date_is_the_swedish_day_in_winter_and_summer() -> None:
    assert _period({"start": "2026-11-27", "end": "2026-11-27"}) == (
        ts("2026-11-26T23:00:00+00:00"), ts("2026-11-27T23:00:00+00:00"))
    assert _period({"start": "2026-07-01"})[0] == ts("2026-06-30T22:00:00+00:00")


def test_a_consent_given_today_holds_just_after_swedish_midnight() -> None:
    start, _ = _period({"start": "2026-11-27"})
    half_past_midnight_in_sweden = datetime(2026, 11, 26, 23, 30, tzinfo=UTC).timestamp()
    assert start is not None and start <= half_past_midnight_in_sweden


def test_times_keep_their_own_zone_and_months_and_years_are_swedish_too() -> None:
    assert _period({"start": "2026-11-27T10:00:00Z"})[0] == ts("2026-11-27T10:00:00+00:00")
    assert _period({"end": "2026-12"})[1] == ts("2026-12-31T23:00:00+00:00")
    assert _period({"start": "not a date", "end": 5}) == (None, None)
