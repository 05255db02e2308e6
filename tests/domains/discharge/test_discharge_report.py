"""The report per municipality and per hospital, as Parameters and as CSV."""

from __future__ import annotations

import csv
import io

from discharge_support import GBG, HOSPITAL, T0, World

pytest_plugins = ("discharge_fixtures",)


def test_report_per_hospital_and_municipality_json_and_csv(world: World) -> None:
    w = world
    nurse, doctor = w.staff["nurse"], w.staff["doctor"]
    encs = [w.admit("Göransson"), w.admit("Borg")]
    for enc in encs:
        nurse.ok(f"Encounter/{enc}/$discharge-mark-support", 201, consent=True)
    w.clock.at = T0.replace(day=5, hour=10)
    doctor.ok(f"Encounter/{encs[0]}/$discharge-ready", physician=f"Practitioner/{w.doctor}")
    w.discharge(encs[0], T0.replace(day=10, hour=10))
    w.clock.at = T0.replace(day=12)
    for query in ({"hospital": HOSPITAL}, {"hospital": w.orgs[HOSPITAL]}, {}):
        body = w.report(period="2026-03", **query).json()
        groups = {p["part"][0]["valueString"] for p in body["parameter"]
                  if p["name"] == "municipality"}
        assert groups == {"Göteborg", "Borås"}, query
    other = w.first("Organization?identifier=urn:oid:1.2.752.29.4.19|SE2321000131-SAS")
    assert [p for p in w.report(period="2026-03", hospital=other["id"]).json()["parameter"]
            if p["name"] == "case"] == []
    by_gbg = w.report(period="2026-03", municipality="1480").json()
    summary = {p["name"]: p for p in next(p for p in by_gbg["parameter"]
                                          if p["name"] == "summary")["part"]}
    assert summary["cases"]["valueInteger"] == 1 and summary["openCases"]["valueInteger"] == 0
    assert summary["paymentDays"]["valueInteger"] == 2  # the 8th and 9th
    r = w.report(period="2026-03", municipality=GBG, _format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 1
    assert rows[0]["municipalityCode"] == "1480" and rows[0]["paymentDays"] == "2"
    assert rows[0]["amount"] == "15600" and rows[0]["daysReadyToDischarge"] == "5"
    assert rows[0]["noticeOverdue"] == "false"
    # The same report by POST through the engine operation (e.g. inside a batch).
    post = w.c.post("/fhir/$discharge-report", json={"resourceType": "Parameters", "parameter": [
        {"name": "municipality", "valueString": "1480"},
        {"name": "period", "valueString": "2026-03"}]})
    assert post.status_code == 200 and post.json()["parameter"][1]["name"] in (
        "municipality-code", "summary")
    assert "$discharge-report" in str(w.c.get("/fhir/metadata").json()) or \
        "discharge-report" in str(w.c.get("/fhir/metadata").json())
