"""Payment days under the default rule and custom rules, on case facts (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from vardnav.domains.discharge.facts import CaseFacts, Notice
from vardnav.domains.discharge.payment import (
    CalendarDaysAfterNotice,
    PaymentRules,
    rule_from_spec,
)

MUNI = {"reference": "Organization/m", "display": "Göteborg"}


def _t(day: int, hour: int = 10, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def facts(ready: list[tuple[datetime, datetime | None]], *, discharged: datetime | None,
          notice_sent: datetime | None = _t(1), status: str = "in-progress",
          code: str = "1480") -> CaseFacts:
    return CaseFacts(
        case_id="c", status=status, business_status=None, patient_id="p", encounter_id="e",
        municipality=MUNI, municipality_code=code, hospital={}, judged=_t(1, 8),
        admitted=_t(1, 8), notices=(Notice("n", MUNI, "requested", _t(2, 8), notice_sent),),
        ready_periods=tuple(ready), discharged=discharged, sip_needed=False, sip_called=None,
        discharge_info_sent=None)


def days(rule: CalendarDaysAfterNotice, f: CaseFacts, today: date = date(2026, 4, 1)) -> list:
    return [d.day for d in rule.payable_days(f, today)]


def test_default_pays_from_three_days_after_the_notice_until_the_discharge_day() -> None:
    f = facts([(_t(5), None)], discharged=_t(12, 11))
    assert days(CalendarDaysAfterNotice(), f) == [8, 9, 10, 11]


def test_discharged_within_the_grace_days_costs_nothing() -> None:
    assert days(CalendarDaysAfterNotice(), facts([(_t(5), None)], discharged=_t(8))) == []


def test_a_notice_late_in_the_evening_counts_by_its_swedish_date() -> None:
    # 23:30 UTC on the 4th is 00:30 on the 5th in Sweden.
    f = facts([(_t(4, 23), None)], discharged=_t(10))
    assert days(CalendarDaysAfterNotice(), f) == [8, 9]


def test_no_admission_notice_no_payment() -> None:
    f = facts([(_t(5), None)], discharged=_t(12), notice_sent=None)
    assert days(CalendarDaysAfterNotice(), f) == []
    # ... and an admission notice sent after the ready notice does not count for it.
    late = facts([(_t(5), None)], discharged=_t(12), notice_sent=_t(6))
    assert days(CalendarDaysAfterNotice(), late) == []


def test_ready_withdrawn_ready_restarts_the_grace_days() -> None:
    # Ready on the 5th, withdrawn on the 9th (8th payable, not the 9th), ready again on
    # the 15th: payable again from the 18th until the discharge on the 20th.
    f = facts([(_t(5), _t(9)), (_t(15), None)], discharged=_t(20))
    assert days(CalendarDaysAfterNotice(), f) == [8, 18, 19]


def test_withdrawn_within_the_grace_days_pays_nothing_for_that_period() -> None:
    f = facts([(_t(5), _t(7)), (_t(10), None)], discharged=_t(14))
    assert days(CalendarDaysAfterNotice(), f) == [13]


def test_a_patient_still_in_hospital_accrues_up_to_yesterday() -> None:
    f = facts([(_t(5), None)], discharged=None)
    assert days(CalendarDaysAfterNotice(), f, today=date(2026, 3, 11)) == [8, 9, 10]


def test_a_cancelled_case_pays_nothing() -> None:
    f = facts([(_t(5), None)], discharged=_t(12), status="cancelled")
    assert days(CalendarDaysAfterNotice(), f) == []


def test_custom_rules_from_configuration() -> None:
    f = facts([(_t(5), None)], discharged=_t(12))
    assert days(rule_from_spec("calendar-days:1:with-discharge-day"), f) == list(range(6, 13))
    no_notice = facts([(_t(5), None)], discharged=_t(12), notice_sent=None)
    assert days(rule_from_spec("calendar-days:3:without-admission-notice"),
                no_notice) == [8, 9, 10, 11]
    for bad in ("calendar-days:x", "calendar-days:3:weekends", "nonsense"):
        with pytest.raises(ValueError):
            rule_from_spec(bad)


class WeekdaysOnly:
    """A local agreement (for the test): only weekdays from the day after the notice."""

    def payable_days(self, facts: CaseFacts, today: date) -> list[date]:
        start = facts.ready_periods[0][0].date() + timedelta(days=1)
        end = facts.discharged.date() if facts.discharged else today
        return [start + timedelta(days=n) for n in range((end - start).days)
                if (start + timedelta(days=n)).weekday() < 5]


def test_a_pluggable_rule_per_municipality_and_amounts_per_year() -> None:
    rules = PaymentRules.from_settings(
        "default", {"1490": f"{__name__}:WeekdaysOnly"}, {2019: 7800, 2026: 9000})
    assert isinstance(rules.rule_for(facts([], discharged=None, code="1490")), WeekdaysOnly)
    # Ready Thursday 5th, discharged Thursday 12th: Fri 6, Mon 9, Tue 10, Wed 11.
    boras = facts([(_t(5), None)], discharged=_t(12), code="1490")
    assert rules.payable(boras, date(2026, 4, 1)) == (
        [date(2026, 3, d) for d in (6, 9, 10, 11)], 4 * 9000)
    gbg = facts([(_t(5), None)], discharged=_t(12))
    assert rules.payable(gbg, date(2026, 4, 1))[1] == 4 * 9000
    # Only the days in the period asked for; a year without an amount uses the latest before.
    assert rules.payable(gbg, date(2026, 4, 1), date(2026, 3, 10),
                         date(2026, 3, 11))[0] == [date(2026, 3, 10)]
    assert rules.amount(date(2024, 6, 1)) == 7800 and rules.amount(date(2018, 1, 1)) == 0


def test_a_stay_over_new_year_is_priced_per_year() -> None:
    rules = PaymentRules(daily_amounts={2025: 8000, 2026: 9000})
    f = facts([(datetime(2025, 12, 27, 10, tzinfo=UTC), None)],
              discharged=datetime(2026, 1, 2, 10, tzinfo=UTC),
              notice_sent=datetime(2025, 12, 20, tzinfo=UTC))
    found, amount = rules.payable(f, date(2026, 2, 1))
    assert [d.isoformat() for d in found] == ["2025-12-30", "2025-12-31", "2026-01-01"]
    assert amount == 2 * 8000 + 9000
