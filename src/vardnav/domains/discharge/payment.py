"""Payment days (betalningsansvar, Lag 2017:612 ch. 5): the days a patient stays in hospital
after the ready-for-discharge notice that the municipality of residence pays for.

A rule turns a case's facts into the payable calendar days (Swedish dates). The default, the
law's rule absent a local agreement, is `CalendarDaysAfterNotice(grace_days=3)`:

- a ready notice sent on day D makes the days from D + 3 payable ...
- ... up to the day before the discharge (the discharge day is not a day in care; set
  `count_discharge_day` where an agreement counts it), or up to yesterday while the patient
  is still in hospital (today is not over);
- a withdrawn ready notice stops the count the day it is withdrawn (that day is not payable);
  a new ready notice starts a new grace period of its own (ready-withdrawn-ready);
- only ready notices sent when the municipality had already been sent the admission notice
  count: the municipality must have received both notices.

Local agreements differ: `rule_from_spec` reads a rule from configuration —
`calendar-days:N` (grace days), optionally `:with-discharge-day` and
`:without-admission-notice`, or `package.module:name` naming a `PaymentRule` (or a factory
returning one) — and `PaymentRules` picks one per municipality code.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from vardnav.domains.discharge.facts import CaseFacts, local_date


class PaymentRule(Protocol):
    def payable_days(self, facts: CaseFacts, today: date) -> list[date]:
        """The payable calendar days of the stay, as known on `today`."""
        ...


@dataclass(frozen=True)
class CalendarDaysAfterNotice:
    grace_days: int = 3
    count_discharge_day: bool = False
    require_admission_notice: bool = True

    def payable_days(self, facts: CaseFacts, today: date) -> list[date]:
        if facts.status == "cancelled":
            return []
        notice = facts.municipality_notice
        admission_sent = notice.sent if notice is not None else None
        if facts.discharged is not None:
            last = local_date(facts.discharged)
            stop = last + timedelta(days=1) if self.count_discharge_day else last
        else:
            stop = today
        days: set[date] = set()
        for ready, withdrawn in facts.ready_periods:
            if self.require_admission_notice and (admission_sent is None or
                                                  admission_sent > ready):
                continue
            first = local_date(ready) + timedelta(days=self.grace_days)
            end = min(stop, local_date(withdrawn)) if withdrawn is not None else stop
            day = first
            while day < end:
                days.add(day)
                day += timedelta(days=1)
        return sorted(days)


DEFAULT_RULE = CalendarDaysAfterNotice()


def rule_from_spec(spec: str) -> PaymentRule:
    """A rule from its configuration text (see the module docstring)."""
    spec = spec.strip()
    if spec in ("", "default"):
        return DEFAULT_RULE
    if spec.startswith("calendar-days"):
        parts = spec.split(":")
        try:
            grace = int(parts[1]) if len(parts) > 1 and parts[1] else 3
        except ValueError as exc:
            raise ValueError(f"Payment rule {spec!r}: grace days must be a number") from exc
        flags = set(parts[2:])
        unknown = flags - {"with-discharge-day", "without-admission-notice"}
        if unknown or grace < 0:
            raise ValueError(f"Payment rule {spec!r}: unknown option(s) {sorted(unknown)}")
        return CalendarDaysAfterNotice(grace, "with-discharge-day" in flags,
                                       "without-admission-notice" not in flags)
    module, _, name = spec.partition(":")
    if not module or not name:
        raise ValueError(f"Payment rule {spec!r}: use calendar-days:N or package.module:name")
    target = getattr(importlib.import_module(module), name)
    rule = target() if isinstance(target, type) or (
        callable(target) and not hasattr(target, "payable_days")) else target
    if not hasattr(rule, "payable_days"):
        raise ValueError(f"Payment rule {spec!r} is not a PaymentRule")
    return rule


@dataclass(frozen=True)
class PaymentRules:
    """The rule for each municipality (by municipality code), else the default, and the
    daily amount per year (SEK; a year without one uses the latest earlier year's)."""

    default: PaymentRule = DEFAULT_RULE
    by_municipality: Mapping[str, PaymentRule] = field(default_factory=dict)
    daily_amounts: Mapping[int, int] = field(default_factory=lambda: {2019: 7800})

    @classmethod
    def from_settings(cls, default: str, by_municipality: Mapping[str, str],
                      daily_amounts: Mapping[int, int]) -> PaymentRules:
        return cls(rule_from_spec(default),
                   {code: rule_from_spec(s) for code, s in by_municipality.items()},
                   dict(daily_amounts))

    def rule_for(self, facts: CaseFacts) -> PaymentRule:
        return self.by_municipality.get(facts.municipality_code or "", self.default)

    def amount(self, day: date) -> int:
        years = [y for y in self.daily_amounts if y <= day.year]
        return self.daily_amounts[max(years)] if years else 0

    def payable(self, facts: CaseFacts, today: date, start: date | None = None,
                end: date | None = None) -> tuple[list[date], int]:
        """The payable days in [start, end) and what they cost."""
        days = [d for d in self.rule_for(facts).payable_days(facts, today)
                if (start is None or d >= start) and (end is None or d < end)]
        return days, sum(self.amount(d) for d in days)
