"""The attention signal: severe hypersensitivities, serious diseases, treatments, communicable
diseases and restrictions of care, each with category and severity — and under an outer block
that exempts attention information, still visible to another care provider."""

from __future__ import annotations

from typing import Any

from careplan_support import FHIR_JSON, OCKERO, World

from vardnav.domains.identity.organisation.region_data import REGION_HSA

pytest_plugins = ("careplan_fixtures",)
ATTENTION = "https://vardnav.se/fhir/CodeSystem/attention-category"


def _items(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in body["parameter"]:
        if p["name"] == "item":
            parts = {x["name"]: next(v for k, v in x.items() if k.startswith("value"))
                     for x in p["part"]}
            out.append({"category": parts["category"]["code"], "severity": parts["severity"],
                        "text": parts["text"], "source": parts["source"]["reference"]})
    return out


def _notices(body: dict[str, Any]) -> list[str]:
    return [p["valueString"] for p in body["parameter"] if p["name"] == "notice"]


def _record_attention_information(w: World) -> dict[str, str]:
    """What the hospital (the region) records: returns source references by label."""
    doctor, pid = w.staff["doctor"], w.patients["Andersson"]
    subject = {"reference": f"Patient/{pid}"}

    def create(resource: dict[str, Any]) -> str:
        r = w.c.post(f"/fhir/{resource['resourceType']}", json=resource,
                     headers={**FHIR_JSON, **doctor.h})
        assert r.status_code == 201, r.text
        return f"{resource['resourceType']}/{r.json()['id']}"

    refs = {"penicillin": create({
        "resourceType": "AllergyIntolerance", "patient": subject, "criticality": "high",
        "code": {"text": "Penicillin"}, "recordedDate": "2026-03-02"}),
        "pollen": create({"resourceType": "AllergyIntolerance", "patient": subject,
                          "criticality": "low", "code": {"text": "Björkpollen"}}),
        "resolved": create({
            "resourceType": "AllergyIntolerance", "patient": subject, "criticality": "high",
            "code": {"text": "Jod"}, "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "resolved"}]}}),
        "latex": create({"resourceType": "AllergyIntolerance", "patient": subject,
                         "code": {"text": "Latex"},
                         "reaction": [{"manifestation": [{"text": "Anafylaxi"}],
                                       "severity": "severe"}]}),
        "cancer": create({
            "resourceType": "Condition", "subject": subject,
            "category": [{"coding": [{"system": ATTENTION, "code": "serious-disease"}]}],
            "severity": {"coding": [{"system": "http://snomed.info/sct",
                                     "code": "24484000"}]},
            "code": {"text": "Myelom under cytostatikabehandling"}})}
    plan = w.plan_of(w.admit("Andersson"))
    out = doctor.ok(f"CarePlan/{plan['id']}/$careplan-add-problem", problem=[
        {"code": "MRSA-bärare", "attention": "communicable-disease", "severity": "high"}])
    condition = next(e["resource"] for e in out["entry"]
                     if e["resource"]["resourceType"] == "Condition")
    refs["mrsa"] = f"Condition/{condition['id']}"
    flag = doctor.ok(f"Patient/{pid}/$attention-mark", 201, category="care-restriction",
                     severity="high", text="Ej hjärt-lungräddning (beslut 2026-03-02)")
    refs["dnr"] = f"Flag/{flag['id']}"
    return refs


def test_the_signal_lists_each_item_with_category_and_severity(cp_world: World) -> None:
    w = cp_world
    refs = _record_attention_information(w)
    body = w.staff["nurse"].read(f"Patient/{w.patients['Andersson']}/$attention-signal")
    items = _items(body)
    assert [(i["category"], i["severity"]) for i in items] == [
        ("hypersensitivity", "high"), ("hypersensitivity", "high"),
        ("serious-disease", "high"), ("communicable-disease", "high"),
        ("care-restriction", "high")]
    sources = {i["source"] for i in items}
    assert refs["penicillin"] in sources and refs["latex"] in sources
    assert refs["pollen"] not in sources  # not severe: not attention information
    assert refs["resolved"] not in sources  # no longer current
    assert refs["cancer"] in sources and refs["dnr"] in sources
    mrsa = next(i for i in items if i["category"] == "communicable-disease")
    assert mrsa["source"].startswith("Flag/") and mrsa["text"] == "MRSA-bärare"
    assert refs["mrsa"] not in sources  # represented once, by its flag


def test_the_signal_under_an_outer_block(cp_world: World) -> None:
    w = cp_world
    refs = _record_attention_information(w)
    pid = w.patients["Andersson"]
    home = w.staff["home_nurse"]  # Öckerö municipality: another care provider
    w.home_care("Andersson")
    w.consent("Andersson", OCKERO)
    assert {i["source"] for i in _items(home.read(f"Patient/{pid}/$attention-signal"))} == {
        refs["penicillin"], refs["latex"], refs["cancer"], refs["dnr"],
        next(i["source"] for i in _items(home.read(f"Patient/{pid}/$attention-signal"))
             if i["category"] == "communicable-disease")}
    # The patient blocks the hospital's data towards other providers, attention exempt.
    r = w.c.post(f"/fhir/Patient/{pid}/$block", headers={**FHIR_JSON, **w.staff["doctor"].h},
                 json={"resourceType": "Parameters", "parameter": [
                     {"name": "kind", "valueCode": "outer"},
                     {"name": "provider", "valueString": REGION_HSA},
                     {"name": "exemptAttention", "valueBoolean": True}]})
    assert r.status_code == 201, r.text
    block = r.json()["id"]
    body = home.read(f"Patient/{pid}/$attention-signal")
    items = _items(body)
    assert [(i["category"], i["severity"]) for i in items] == [
        ("hypersensitivity", "high"), ("hypersensitivity", "high"),
        ("communicable-disease", "high"), ("care-restriction", "high")]
    assert {i["text"] for i in items} >= {"Penicillin", "MRSA-bärare"}
    # The blocked Conditions themselves are hidden; the user is told that data is blocked.
    assert not home.sees(refs["cancer"]) and not home.sees(refs["mrsa"])
    assert _notices(body), body
    # The hospital's own staff see everything as before.
    assert len(_items(w.staff["nurse"].read(f"Patient/{pid}/$attention-signal"))) == 5
    # A block without the exemption hides the attention information too.
    void = w.c.post(f"/fhir/Consent/{block}/$void-block", headers={
        **FHIR_JSON, **w.staff["doctor"].h}, json={"resourceType": "Parameters", "parameter": [
            {"name": "reason", "valueString": "Fel registrerad spärr"}]})
    assert void.status_code == 200, void.text
    r = w.c.post(f"/fhir/Patient/{pid}/$block", headers={**FHIR_JSON, **w.staff["doctor"].h},
                 json={"resourceType": "Parameters", "parameter": [
                     {"name": "kind", "valueCode": "outer"},
                     {"name": "provider", "valueString": REGION_HSA}]})
    assert r.status_code == 201, r.text
    body = home.read(f"Patient/{pid}/$attention-signal")
    assert _items(body) == [] and _notices(body)


def test_attention_mark_bad_input(cp_world: World) -> None:
    w = cp_world
    doctor, pid = w.staff["doctor"], w.patients["Andersson"]
    assert doctor.refused(f"Patient/{pid}/$attention-mark", 400, category="gossip",
                          severity="high", text="x")
    assert doctor.refused(f"Patient/{pid}/$attention-mark", 400, category="treatment",
                          severity="extreme", text="x")
    assert doctor.refused(f"Patient/{pid}/$attention-mark", 400, category="treatment",
                          severity="high")
    assert doctor.refused("Patient/nobody/$attention-mark", 404, category="treatment",
                          severity="high", text="Waran")
    assert w.c.get("/fhir/Patient/nobody/$attention-signal").status_code == 404
    treatment = doctor.ok(f"Patient/{pid}/$attention-mark", 201, category="treatment",
                          severity="moderate", text="Waran")
    assert treatment["category"][0]["coding"][0]["code"] == "treatment"
