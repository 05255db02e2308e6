"""Scenarios across region and municipality with the clock moved: on-time and overdue
admission notices, ready-withdrawn-ready, SIP called late, discharge information late,
payment days under the default and a custom rule, and the ADT steps that follow a case."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from discharge_support import BORAS, GBG, T0, VC_GBG, World

from vardnav.domains.discharge.payment import PaymentRules, rule_from_spec

pytest_plugins = ("discharge_fixtures",)


def _summary(report: dict[str, Any], group: str = "summary") -> dict[str, Any]:
    part = next(p for p in report["parameter"] if p["name"] == group)["part"]
    return {p["name"]: next(v for k, v in p.items() if k.startswith("value")) for p in part}


def _cases(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{p["name"]: next(v for k, v in p.items() if k.startswith("value"))
             for p in c["part"]} for c in report["parameter"] if c["name"] == "case"]


def _open_case(w: World, name: str = "Göransson", **mark: Any) -> str:
    enc = w.admit(name)
    w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=True,
                        **mark)
    return enc


def test_an_admission_notice_sent_in_time_is_not_overdue(world: World) -> None:
    w = world
    enc = w.admit("Göransson")
    w.clock.move(hours=23)
    w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201, judgedAt=T0)
    assert _summary(w.report(period="2026-03").json())["overdueNotices"] == 0


def test_a_notice_not_sent_within_24_hours_is_overdue(world: World) -> None:
    w = world
    enc = w.admit("Göransson")
    nurse = w.staff["nurse"]
    nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201, send=False)
    assert {n["status"] for n in w.notices(enc).values()} == {"draft"}
    assert _summary(w.report(period="2026-03").json())["overdueNotices"] == 0
    w.clock.move(hours=25)  # still unsent past the deadline: overdue, both receivers
    assert _summary(w.report(period="2026-03").json())["overdueNotices"] == 2
    nurse.ok(f"Encounter/{enc}/$discharge-send-notices")  # sent late: stays overdue
    report = w.report(period="2026-03").json()
    assert _summary(report)["overdueNotices"] == 2
    assert _cases(report)[0]["noticeOverdue"] is True
    assert nurse.op(f"Encounter/{enc}/$discharge-send-notices").status_code == 422


def test_support_judged_later_starts_the_deadline_then(world: World) -> None:
    w = world
    enc = w.admit("Göransson")
    w.clock.move(days=3)  # judged on day 3: 24 hours from then
    w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201)
    deadlines = {n["restriction"]["period"]["end"] for n in w.notices(enc).values()}
    assert deadlines == {"2026-03-06T09:00:00.000Z"}


def test_ready_withdrawn_ready_notifies_everyone_and_restarts_the_payment_count(
        world: World) -> None:
    w = world
    doctor = w.staff["doctor"]
    enc = _open_case(w)
    w.clock.at = T0.replace(day=5, hour=10)
    doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    w.clock.at = T0.replace(day=9, hour=10)
    doctor.ok(f"Encounter/{enc}/$discharge-ready-withdraw", reason="Feber",
              physician=f"Practitioner/{w.doctor}")
    assert len(w.messages(enc, "ready-withdrawn")) == 2  # municipality and primary care
    assert w.case(enc)["businessStatus"]["coding"][0]["code"] == "not-ready"
    w.clock.at = T0.replace(day=15, hour=10)
    doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    assert len(w.messages(enc, "ready-for-discharge")) == 4
    w.discharge(enc, T0.replace(day=20, hour=12))
    w.clock.at = T0.replace(day=25)
    row = _cases(w.report(period="2026-03").json())[0]
    # 8th (5 + 3; withdrawn on the 9th), then 18th and 19th (15 + 3; out on the 20th).
    assert row["paymentDays"] == 3 and row["amount"] == 3 * 7800
    assert row["daysReadyToDischarge"] == 5


def test_payment_days_under_a_municipalitys_own_agreement(world: World) -> None:
    w = world
    w.c.app.state.discharge.rules = PaymentRules(  # type: ignore[attr-defined]
        by_municipality={"1480": rule_from_spec("calendar-days:1:with-discharge-day")},
        daily_amounts={2019: 7800, 2026: 9500})
    doctor = w.staff["doctor"]
    enc = _open_case(w)
    w.clock.at = T0.replace(day=5, hour=10)
    doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    w.discharge(enc, T0.replace(day=9, hour=12))
    row = _cases(w.report(period="2026-03").json())[0]
    assert row["paymentDays"] == 4 and row["amount"] == 4 * 9500  # the 6th to the 9th


def test_no_payment_without_the_admission_notice(world: World) -> None:
    w = world
    enc = w.admit("Göransson")
    w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201, send=False)
    w.clock.at = T0.replace(day=5, hour=10)
    w.staff["doctor"].ok(f"Encounter/{enc}/$discharge-ready",
                         physician=f"Practitioner/{w.doctor}")
    assert w.messages(enc, "ready-for-discharge") == []  # nobody was notified of the stay
    w.discharge(enc, T0.replace(day=12, hour=12))
    assert _cases(w.report(period="2026-03").json())[0]["paymentDays"] == 0


def test_a_sip_called_late_is_reported(world: World) -> None:
    w = world
    doctor, vc, nurse = w.staff["doctor"], w.staff["vc"], w.staff["nurse"]
    on_time, late = _open_case(w), _open_case(w, "Borg")
    for enc in (on_time, late):
        nurse.ok(f"Encounter/{enc}/$discharge-planning", functionalStatus="Nedsatt",
                 expectedNeeds="Hemsjukvård", sipNeeded=True)
    w.clock.at = T0.replace(day=5, hour=10)
    for enc in (on_time, late):
        doctor.ok(f"Encounter/{enc}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    w.clock.at = T0.replace(day=8, hour=15)  # the third day after the notice: in time
    vc.ok(f"Encounter/{on_time}/$discharge-sip-call", meetingAt=T0.replace(day=10))
    w.clock.at = T0.replace(day=9, hour=8)  # the fourth day: late
    w.staff["vc_boras"].ok(f"Encounter/{late}/$discharge-sip-call",
                           meetingAt=T0.replace(day=10))
    rows = {r["encounter"]: r for r in _cases(w.report(period="2026-03").json())}
    assert rows[f"Encounter/{on_time}"]["sipLate"] is False
    assert rows[f"Encounter/{late}"]["sipLate"] is True
    # Only the named care contact's unit calls the meeting: the ward may not, and another
    # primary-care unit does not even see the stay.
    assert nurse.op(f"Encounter/{late}/$discharge-sip-call",
                    meetingAt=T0.replace(day=11)).status_code == 403
    assert vc.op(f"Encounter/{late}/$discharge-sip-call",
                 meetingAt=T0.replace(day=11)).status_code == 404


def test_discharge_information_after_the_day_of_discharge_is_late(world: World) -> None:
    w = world
    enc = _open_case(w)
    w.discharge(enc, T0.replace(day=6, hour=15))
    assert w.case(enc)["status"] == "in-progress"  # discharged without the information
    w.clock.at = T0.replace(day=6, hour=22)  # 23:00 Swedish time: not late yet
    assert _cases(w.report(period="2026-03").json())[0]["dischargeInformationLate"] is False
    w.clock.at = T0.replace(day=7, hour=9)
    w.staff["doctor"].ok(f"Encounter/{enc}/$discharge-information", reasonForAdmission="Fall",
                         summary="Opererad", currentStatus="Stabil", carePlan="Hemtjänst",
                         responsiblePhysician=f"Practitioner/{w.doctor}")
    assert w.case(enc)["status"] == "completed"
    report = w.report(period="2026-03").json()
    assert _cases(report)[0]["dischargeInformationLate"] is True
    assert _summary(report)["lateDischargeInformation"] == 1


def test_cancel_discharge_and_cancel_admission_follow_the_case(world: World) -> None:
    w = world
    enc = _open_case(w)
    w.discharge(enc, T0.replace(day=4, hour=10))
    assert w.case(enc)["businessStatus"]["coding"][0]["code"] == "discharged"
    r = w.c.post(f"/fhir/Encounter/{enc}/$cancel-discharge",
                 json={"resourceType": "Parameters"})
    assert r.status_code == 200, r.text
    case = w.case(enc)
    assert case["businessStatus"]["coding"][0]["code"] == "notified"
    assert not any(o["type"]["coding"][0]["code"] == "discharged"
                   for o in case.get("output", []))
    r = w.c.post(f"/fhir/Encounter/{enc}/$cancel-admit", json={"resourceType": "Parameters"})
    assert r.status_code == 200, r.text
    assert w.case(enc)["status"] == "cancelled"
    assert {n["status"] for n in w.notices(enc).values()} == {"cancelled"}
    assert len(w.messages(enc, "case-cancelled")) == 2


def test_a_patient_listed_nowhere_notifies_the_municipality_only(world: World) -> None:
    w = world
    w.add_patient("Olistad", "Borås", None)
    enc = w.admit("Olistad")
    marked = w.staff["nurse"].ok(f"Encounter/{enc}/$discharge-mark-support", 201)
    outcome = [e["resource"] for e in marked["entry"]
               if e["resource"]["resourceType"] == "OperationOutcome"]
    assert "primary-care" in outcome[0]["issue"][0]["diagnostics"]
    assert set(w.notices(enc)) == {BORAS}


def test_a_protected_identity_needs_the_municipality_named(world: World) -> None:
    w = world
    w.add_patient("Skyddad", "Göteborg", VC_GBG, meta={"security": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "protected-information"}]})
    enc = w.admit("Skyddad")
    nurse = w.staff["nurse"]
    refused = nurse.op(f"Encounter/{enc}/$discharge-mark-support")
    assert refused.status_code == 422 and "municipality" in refused.text
    nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201,
             municipality=f"Organization/{w.orgs[GBG]}")
    notice = w.messages(enc, "admission-notice")[0]
    text = " ".join(p.get("contentString", "") for p in notice["payload"])
    assert "skyddad" in text and "Storgatan" not in text


def test_a_case_running_over_two_months_is_reported_in_both(world: World) -> None:
    w = world
    enc = _open_case(w)
    w.clock.at = T0.replace(day=27, hour=10)
    w.staff["doctor"].ok(f"Encounter/{enc}/$discharge-ready",
                         physician=f"Practitioner/{w.doctor}")
    w.discharge(enc, T0.replace(month=4, day=3, hour=10))
    w.clock.at = T0.replace(month=4, day=10)
    march, april = (_cases(w.report(period=p).json())[0] for p in ("2026-03", "2026-04"))
    assert march["paymentDays"] == 2 and april["paymentDays"] == 2  # 30, 31 | 1, 2
    assert _cases(w.report(period="2026-02").json()) == []
    assert timedelta(0) is not None
