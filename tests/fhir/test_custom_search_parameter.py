"""A SearchParameter stored on the server becomes searchable after a restart; resources stored
before it existed are found once `reindex` has run."""

from __future__ import annotations

from sqlalchemy import Engine

from conftest import Fhir, authed_client, patient, wipe
from vardnav.config import Settings
from vardnav.fhir.storage.reindex import count_current, reindex_all
from vardnav.main import create_app

EXT = "http://vardnav.se/fhir/StructureDefinition/municipality"


def _with_municipality(code: str) -> dict:
    return patient(extension=[{"url": EXT, "valueCoding": {
        "system": "urn:oid:1.2.752.129.2.2.1.17", "code": code}}])


def test_custom_parameter_needs_reindex_for_old_data(engine: Engine,
                                                     settings: Settings) -> None:
    wipe(engine)
    before = Fhir(authed_client(create_app(settings, engine=engine)))
    goteborg = before.create(_with_municipality("1480"))
    before.create(_with_municipality("1490"))
    before.create({"resourceType": "SearchParameter", "url": "http://vardnav.se/fhir/SP/muni",
                   "name": "municipality", "status": "active", "description": "Kommun",
                   "code": "municipality", "base": ["Patient"], "type": "token",
                   "expression": f"Patient.extension('{EXT}')"})
    unknown = before.get("Patient?municipality=1480")  # not known until restart
    assert any(e["search"]["mode"] == "outcome" for e in unknown["entry"])

    after = Fhir(authed_client(create_app(settings, engine=engine)))  # "restart"
    assert after.search_ids("Patient?municipality=1480") == []  # known, not yet indexed
    fresh = after.create(_with_municipality("1480"))
    assert after.search_ids("Patient?municipality=1480") == [fresh["id"]]

    assert count_current(settings, "Patient") == 3
    assert reindex_all(settings, "Patient", batch=2) == 3
    assert after.search_ids("Patient?municipality=1480") == sorted([goteborg["id"],
                                                                    fresh["id"]])
    assert after.search_ids(
        "Patient?municipality=urn:oid:1.2.752.129.2.2.1.17|1490") != []
    cs = after.get("metadata")
    patient_params = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert "municipality" in {p["name"] for p in patient_params["searchParam"]}
