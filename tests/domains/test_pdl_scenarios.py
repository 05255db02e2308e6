"""Named scenarios for each rule of the patient data law (domain.md §2), through the API with
every access layer on: custody, inner secrecy, care relationships (derived and asserted),
cross-provider consent, emergency access, blocks (inner, outer, data period, attention
exemption, temporary and permanent lift, void), protected identity."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, update

from conftest import FHIR_JSON, bearer, load_region, mint_token, observation, patient
from vardnav.config import Settings
from vardnav.domains.access.blocked_patients import WATCHER
from vardnav.domains.access.pdl_tables import emergency
from vardnav.domains.access.profiles import CARE_PROVIDER_TAG, CARE_UNIT_TAG, CONSENT_CATEGORY
from vardnav.domains.identity.organisation.region import HSA_SYSTEM
from vardnav.domains.identity.organisation.region_data import REGION_HSA
from vardnav.fhir.hooks import MemoryAuditSink
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import access_layers, create_app

MED1 = "SE2321000131-SU-MED1"
GER2 = "SE2321000131-SU-GER2"
HOME_PROVIDER = "SE000014070000-K1407"  # Öckerö (options 1 and 3)
HOME_CARE = f"{HOME_PROVIDER}-HSV"


class User:
    def __init__(self, client: TestClient, settings: Settings, subject: str, unit: str,
                 provider: str, role: str = "registered-nurse") -> None:
        self.c = client
        self.unit, self.provider = unit, provider
        self.h = bearer(mint_token(settings, "user/*.cruds", kind="staff", subject=subject,
                                   unit=unit, provider=provider, role=role))

    def get(self, path: str) -> Any:
        return self.c.get(f"/fhir/{path}", headers=self.h)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.c.post(f"/fhir/{path}", json=body, headers={**FHIR_JSON, **self.h})

    def put(self, body: dict[str, Any]) -> Any:
        return self.c.put(f"/fhir/{body['resourceType']}/{body['id']}", json=body,
                          headers={**FHIR_JSON, **self.h})

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self.post(body["resourceType"], body)
        assert r.status_code == 201, r.text
        return r.json()

    def op(self, path: str, **params: Any) -> Any:
        parameter = []
        for name, value in params.items():
            kind = ("valueBoolean" if isinstance(value, bool) else
                    "valueInteger" if isinstance(value, int) else "valueString")
            parameter.append({"name": name, kind: value})
        return self.post(path, {"resourceType": "Parameters", "parameter": parameter})

    def ids(self, query: str) -> set[str]:
        r = self.get(query)
        assert r.status_code == 200, r.text
        return {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in r.json().get("entry", []) if e["search"]["mode"] != "outcome"}

    def sees(self, ref: str) -> bool:
        status = self.get(ref).status_code
        assert status in (200, 404), status
        return status == 200


@pytest.fixture
def world(pdl_client: TestClient, settings: Settings) -> dict[str, Any]:
    c = pdl_client
    load_region(c.app)
    orgs = {}
    for hsa in (MED1, GER2, HOME_CARE, HOME_PROVIDER, REGION_HSA):
        found = c.get(f"/fhir/Organization?identifier={HSA_SYSTEM}|{hsa}").json()
        orgs[hsa] = found["entry"][0]["resource"]["id"]
    w: dict[str, Any] = {"orgs": orgs}
    w["n1"] = User(c, settings, "SE2321000131-N1", MED1, REGION_HSA)
    w["n2"] = User(c, settings, "SE2321000131-N2", GER2, REGION_HSA)
    w["h"] = User(c, settings, "SE000014070000-H1", HOME_CARE, HOME_PROVIDER)
    w["x"] = c.post("/fhir/Patient", json=patient("Xenström", "Xena"),
                    headers=FHIR_JSON).json()["id"]
    n1: User = w["n1"]
    w["enc"] = n1.create({"resourceType": "Encounter", "status": "in-progress",
                          "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                    "code": "IMP"},
                          "subject": {"reference": f"Patient/{w['x']}"},
                          "serviceProvider": {"reference": f"Organization/{orgs[MED1]}"},
                          "period": {"start": "2026-11-20T08:00:00Z"}})["id"]
    w["obs"] = n1.create(observation(f"Patient/{w['x']}"))["id"]
    return w


def test_custody_is_set_by_the_server(world: dict[str, Any]) -> None:
    n1: User = world["n1"]
    forged = observation(f"Patient/{world['x']}",
                         meta={"tag": [{"system": CARE_PROVIDER_TAG, "code": "SE-EVIL"}]})
    stored = n1.create(forged)
    tags = {(t["system"], t["code"]) for t in stored["meta"]["tag"]}
    assert tags == {(CARE_PROVIDER_TAG, REGION_HSA), (CARE_UNIT_TAG, MED1)}
    h: User = world["h"]
    h.op(f"Patient/{world['x']}/$emergency-access", reason="Medvetslös vid hembesök")
    updated = h.put({**stored, "status": "amended"}).json()
    assert {(t["system"], t["code"]) for t in updated["meta"]["tag"]} == tags  # still MED1's


def test_inner_secrecy_needs_a_care_relationship(world: dict[str, Any]) -> None:
    n1, n2 = world["n1"], world["n2"]
    obs = f"Observation/{world['obs']}"
    assert n1.sees(obs)
    assert not n2.sees(obs)
    assert n2.ids(f"Observation?subject=Patient/{world['x']}") == set()
    assert n2.get("Observation?_summary=count").json()["total"] == 0
    assert n2.ids(f"Patient?_id={world['x']}&_revinclude=Observation:subject") == {
        f"Patient/{world['x']}"}  # the patient is findable, the data is not
    assert n2.ids("Patient?_has:Observation:subject:code=8867-4") == set()
    assert n2.get(f"{obs}/_history").status_code == 404
    assert n2.ids(f"Patient/{world['x']}/$everything") == {f"Patient/{world['x']}"}


def test_an_asserted_care_relationship_needs_a_reason(world: dict[str, Any]) -> None:
    n2: User = world["n2"]
    refused = n2.op(f"Patient/{world['x']}/$assert-care-relationship")
    assert refused.status_code == 400 and "reason" in refused.text
    ok = n2.op(f"Patient/{world['x']}/$assert-care-relationship",
               reason="Konsult från geriatriken")
    assert ok.status_code == 200, ok.text
    assert n2.sees(f"Observation/{world['obs']}")


def test_other_providers_need_relationship_and_consent(world: dict[str, Any]) -> None:
    h: User = world["h"]
    obs = f"Observation/{world['obs']}"
    assert not h.sees(obs)
    team = h.create({"resourceType": "CareTeam", "status": "active",
                     "subject": {"reference": f"Patient/{world['x']}"},
                     "participant": [{"member": {
                         "reference": f"Organization/{world['orgs'][HOME_CARE]}"}}]})
    assert not h.sees(obs)  # a care relationship, but no consent yet
    n1: User = world["n1"]
    given = n1.create({
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": CONSENT_CATEGORY, "code": "sjf-consent"}]}],
        "patient": {"reference": f"Patient/{world['x']}"},
        "provision": {"type": "permit", "actor": [{
            "role": {"coding": [{"system":
                                 "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                 "code": "PROV"}]},
            "reference": {"reference": f"Organization/{world['orgs'][HOME_PROVIDER]}"}}]}})
    assert h.sees(obs)
    assert n1.put({**given, "status": "inactive"}).status_code == 200  # withdrawn
    assert not h.sees(obs)
    h.put({**team, "status": "inactive"})  # the team ends: so does the relationship
    assert n1.put({**given, "status": "active"}).status_code == 200
    assert not h.sees(obs)


def test_emergency_access_is_time_limited_and_needs_a_reason(world: dict[str, Any],
                                                             engine: Engine) -> None:
    h: User = world["h"]
    obs = f"Observation/{world['obs']}"
    assert h.op(f"Patient/{world['x']}/$emergency-access").status_code == 400
    assert not h.sees(obs)
    r = h.op(f"Patient/{world['x']}/$emergency-access", reason="Medvetslös, akut")
    assert r.status_code == 200 and "Emergency access until" in r.text
    assert h.sees(obs)
    with engine.begin() as conn:  # four hours later
        conn.execute(update(emergency).values(until=time.time() - 1))
    assert not h.sees(obs)


def test_outer_block_hides_a_providers_data_from_other_providers(
        world: dict[str, Any]) -> None:
    n1, h = world["n1"], world["h"]
    obs = f"Observation/{world['obs']}"
    h.op(f"Patient/{world['x']}/$emergency-access", reason="Akut försämring")
    assert h.sees(obs)
    blocked = n1.op(f"Patient/{world['x']}/$block", kind="outer", provider=REGION_HSA)
    assert blocked.status_code == 201, blocked.text
    block_id = blocked.json()["id"]
    assert not h.sees(obs)  # emergency access does not open a block by itself
    assert n1.sees(obs)  # the provider's own staff still see it
    too_long = h.op(f"Consent/{block_id}/$lift-block", reason="Akut, medvetslös",
                    basis="emergency", user="SE000014070000-H1", days=8)
    assert too_long.status_code == 400
    # A lift is made by the user it is for (or a user of the unit it is for) ...
    for_someone_else = n1.op(f"Consent/{block_id}/$lift-block", reason="Patienten samtycker",
                             basis="consent", user="SE000014070000-H1", days=2)
    assert for_someone_else.status_code == 403
    # ... with the patient's consent only where their unit has a care relationship ...
    no_relationship = h.op(f"Consent/{block_id}/$lift-block", reason="Patienten samtycker",
                           basis="consent", user="SE000014070000-H1", days=2)
    assert no_relationship.status_code == 403
    assert "care relationship" in no_relationship.text
    # ... or in an emergency with the user's current emergency access.
    lifted = h.op(f"Consent/{block_id}/$lift-block", reason="Akut, medvetslös",
                  basis="emergency", user="SE000014070000-H1", days=2)
    assert lifted.status_code == 200, lifted.text
    assert h.sees(obs)


def test_inner_block_and_its_limits(world: dict[str, Any]) -> None:
    n1, n2 = world["n1"], world["n2"]
    allergy = n1.create({"resourceType": "AllergyIntolerance",
                         "patient": {"reference": f"Patient/{world['x']}"},
                         "code": {"text": "Penicillin"}})
    n2.op(f"Patient/{world['x']}/$assert-care-relationship", reason="Övertar vården")
    r = n1.op(f"Patient/{world['x']}/$block", kind="inner", unit=MED1, exemptAttention=True)
    assert r.status_code == 201, r.text
    assert not n2.sees(f"Observation/{world['obs']}")
    assert n2.sees(f"AllergyIntolerance/{allergy['id']}")  # attention information exempt
    assert n1.sees(f"Observation/{world['obs']}")
    # The block Consent names the unit: other providers never see it.
    h: User = world["h"]
    h.op(f"Patient/{world['x']}/$emergency-access", reason="Akut")
    assert h.ids(f"Consent?patient={world['x']}") == set()
    # A wrong block is voided, never edited or deleted.
    block = r.json()
    assert n1.put({**block, "status": "inactive"}).status_code == 403
    assert n1.c.delete(f"/fhir/Consent/{block['id']}", headers=n1.h).status_code == 403
    assert n1.op(f"Consent/{block['id']}/$void-block", reason="Fel enhet").status_code == 200
    assert n2.sees(f"Observation/{world['obs']}")


def test_a_block_covers_only_its_data_period(world: dict[str, Any]) -> None:
    n1, n2 = world["n1"], world["n2"]
    n2.op(f"Patient/{world['x']}/$assert-care-relationship", reason="Konsult")
    r = n1.op(f"Patient/{world['x']}/$block", kind="inner", unit=MED1,
              dataFrom="2020-01-01", dataTo="2020-12-31")
    assert r.status_code == 201
    assert n2.sees(f"Observation/{world['obs']}")  # recorded now, outside the period


def test_guardians_cannot_block(world: dict[str, Any], pdl_client: TestClient,
                                settings: Settings) -> None:
    guardian = bearer(mint_token(settings, "patient/*.cruds", kind="resident",
                                 subject=f"patient:{world['x']}", patient=world["x"],
                                 fhir_user="RelatedPerson/g1"))
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "kind", "valueString": "outer"}, {"name": "provider",
                                                   "valueString": REGION_HSA}]}
    r = pdl_client.post(f"/fhir/Patient/{world['x']}/$block", json=body,
                        headers={**FHIR_JSON, **guardian})
    assert r.status_code == 403 and "guardian" in r.text


def test_protected_identity_hides_the_address(world: dict[str, Any],
                                              pdl_client: TestClient) -> None:
    secret = pdl_client.post("/fhir/Patient", headers=FHIR_JSON, json=patient(
        "Skyddad", meta={"security": [{"system":
                                       "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                       "code": "protected-information"}]},
        address=[{"city": "Hemlig ort"}])).json()
    n1: User = world["n1"]
    assert "address" not in n1.get(f"Patient/{secret['id']}").json()
    assert "Hemlig" not in n1.get("Patient?family=Skyddad").text


def _notices(user: User, query: str) -> list[str]:
    bundle = user.get(query).json()
    return [i["diagnostics"] for e in bundle.get("entry", [])
            if e["search"]["mode"] == "outcome" for i in e["resource"]["issue"]
            if i["code"] == "suppressed"]


def test_users_are_told_blocked_data_exists_but_not_where(world: dict[str, Any]) -> None:
    n1, h = world["n1"], world["h"]
    assert _notices(h, f"Patient?_id={world['x']}") == []
    n1.op(f"Patient/{world['x']}/$block", kind="outer", provider=REGION_HSA)
    told = _notices(h, f"Patient?_id={world['x']}")
    assert len(told) == 1 and "blocked data" in told[0] and REGION_HSA not in told[0]
    assert _notices(n1, f"Patient?_id={world['x']}") == []  # nothing is hidden from them
    h.op(f"Patient/{world['x']}/$emergency-access", reason="Akut")
    [where] = _notices(h, f"Patient?_id={world['x']}")
    assert REGION_HSA in where  # in an emergency: where, not yet what
    assert not h.sees(f"Observation/{world['obs']}")


def test_staff_cannot_open_their_own_record(world: dict[str, Any], pdl_client: TestClient,
                                            settings: Settings) -> None:
    pnr_system = "http://electronichealth.se/identifier/personnummer"
    pnr = "191212121212"  # Skatteverket's well-known test number
    me = pdl_client.post("/fhir/Patient", headers=FHIR_JSON, json=patient(
        "Själv", identifier=[{"system": pnr_system, "value": pnr}])).json()
    practitioner = pdl_client.post("/fhir/Practitioner", headers=FHIR_JSON, json={
        "resourceType": "Practitioner", "identifier": [
            {"system": HSA_SYSTEM, "value": "SE2321000131-SELF"},
            {"system": pnr_system, "value": pnr}]}).json()
    nurse = User(pdl_client, settings, "SE2321000131-SELF", MED1, REGION_HSA)
    nurse.h = bearer(mint_token(settings, "user/*.cruds", kind="staff",
                                subject="SE2321000131-SELF", unit=MED1, provider=REGION_HSA,
                                role="registered-nurse",
                                fhir_user=f"Practitioner/{practitioner['id']}"))
    n1: User = world["n1"]
    mine = n1.create(observation(f"Patient/{me['id']}"))
    n1.create({"resourceType": "Encounter", "status": "in-progress",
               "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                         "code": "AMB"},
               "subject": {"reference": f"Patient/{me['id']}"},
               "serviceProvider": {"reference": f"Organization/{world['orgs'][MED1]}"}})
    assert n1.sees(f"Observation/{mine['id']}")  # a colleague with the relationship may
    assert not nurse.sees(f"Observation/{mine['id']}")
    assert not nurse.sees(f"Patient/{me['id']}")
    nurse.op(f"Patient/{world['x']}/$emergency-access", reason="Akut")
    assert nurse.ids(f"Observation?subject=Patient/{me['id']}") == set()
    assert nurse.sees(f"Observation/{world['obs']}")  # other patients as usual


def test_school_health_is_a_separate_provider_that_shares_nothing(
        world: dict[str, Any], pdl_client: TestClient, settings: Settings) -> None:
    school = "SE000014010000-K1401-EH"  # Härryda's school health service (option 2)
    school_nurse = User(pdl_client, settings, "SE000014010000-S1", school, school, "school-nurse")
    orgs = pdl_client.get(f"/fhir/Organization?identifier={HSA_SYSTEM}|{school}").json()
    school_org = orgs["entry"][0]["resource"]["id"]
    school_nurse.create({"resourceType": "EpisodeOfCare", "status": "active",
                         "patient": {"reference": f"Patient/{world['x']}"},
                         "managingOrganization": {"reference": f"Organization/{school_org}"}})
    note = school_nurse.create(observation(f"Patient/{world['x']}", code="29463-7"))
    assert school_nurse.sees(f"Observation/{note['id']}")
    assert not school_nurse.sees(f"Observation/{world['obs']}")  # nor does it read others'
    n1: User = world["n1"]
    n1.op(f"Patient/{world['x']}/$emergency-access", reason="Akut")
    assert not n1.sees(f"Observation/{note['id']}")  # not even in an emergency


def test_a_block_is_lifted_with_consent_by_a_user_never_shown_it(
        world: dict[str, Any]) -> None:
    """The notice names the block (its Consent id reveals no provider), so a user with a care
    relationship and the patient's consent can lift it for themself without reading it."""
    n1, n2 = world["n1"], world["n2"]
    obs = f"Observation/{world['obs']}"
    assert n1.op(f"Patient/{world['x']}/$block", kind="inner", unit=MED1).status_code == 201
    n2.op(f"Patient/{world['x']}/$assert-care-relationship", reason="Övertar vården")
    assert not n2.sees(obs)
    bundle = n2.get(f"Observation?patient={world['x']}").json()
    told = " ".join(i["diagnostics"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"
                    for i in e["resource"]["issue"] if i["code"] == "suppressed")
    assert MED1 not in told and "another care unit" in told
    consent_id = re.search(r"Consent/([\w-]+)", told).group(1)  # type: ignore[union-attr]
    assert n2.ids(f"Consent?patient={world['x']}") == set()  # the block itself stays unseen
    lifted = n2.op(f"Consent/{consent_id}/$lift-block", reason="Patienten samtycker",
                   basis="consent", user="SE2321000131-N2", days=1)
    assert lifted.status_code == 200, lifted.text
    assert n2.sees(obs)


# -- which patients have blocks (blocked_patients.py) ------------------------------------------

def _blocked_patients(client: TestClient) -> Any:
    [source] = client.app.state.services.notices
    return source.blocked


@pytest.fixture
def notice_statements(engine: Engine) -> Iterator[list[str]]:
    """The block-notice statements run while the test runs."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("SELECT pdl_block.patient_id, pdl_block.kind"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    yield seen
    event.remove(engine, "before_cursor_execute", listen)


def test_searches_skip_the_notice_statement_for_patients_without_blocks(
        world: dict[str, Any], pdl_client: TestClient, engine: Engine,
        notice_statements: list[str]) -> None:
    """On PostgreSQL the server knows which patients have blocks (a trigger notifies a
    watcher); a search about any other patient runs no block-notice statement, and a block
    registered through this server is known at once."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the block watcher runs on PostgreSQL (SQLite asks on every search)")
    n1, h = world["n1"], world["h"]
    blocked = _blocked_patients(pdl_client)
    _wait_for(lambda: blocked.watching)
    statements = notice_statements
    assert _notices(h, f"Patient?_id={world['x']}") == []
    assert statements == []  # nobody has a block: no statement asked
    assert n1.op(f"Patient/{world['x']}/$block", kind="outer",
                 provider=REGION_HSA).status_code == 201
    told = _notices(h, f"Patient?_id={world['x']}")  # at once: no waiting for the NOTIFY
    assert len(told) == 1 and "blocked data" in told[0]
    assert len(statements) == 1


def test_a_block_written_by_another_server_process_is_heard_of(
        world: dict[str, Any], pdl_client: TestClient, engine: Engine, settings: Settings,
        shared_services: EngineServices) -> None:
    """A block row written elsewhere (another worker; here a second app whose own watcher
    is not running) reaches this server's watcher by NOTIFY, and its searches tell of it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the block watcher runs on PostgreSQL (SQLite asks on every search)")
    h = world["h"]
    blocked = _blocked_patients(pdl_client)
    _wait_for(lambda: blocked.watching)
    assert not blocked.might_have([world["x"]])
    services = EngineServices(shared_services.registry, shared_services.validator,
                              audit=MemoryAuditSink(),
                              **access_layers(settings, shared_services.registry, engine))
    other = create_app(settings, services=services, engine=engine)
    other_client = TestClient(other)  # no lifespan: that process's watcher is not running
    n1_elsewhere = User(other_client, settings, "SE2321000131-N1", MED1, REGION_HSA)
    assert n1_elsewhere.op(f"Patient/{world['x']}/$block", kind="outer",
                           provider=REGION_HSA).status_code == 201
    _wait_for(lambda: blocked.might_have([world["x"]]))
    told = _notices(h, f"Patient?_id={world['x']}")
    assert len(told) == 1 and "blocked data" in told[0]


def test_without_its_connection_the_watcher_knows_nothing_and_every_search_asks(
        world: dict[str, Any], pdl_client: TestClient, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the block watcher runs on PostgreSQL (SQLite asks on every search)")
    blocked = _blocked_patients(pdl_client)
    _wait_for(lambda: blocked.watching)
    with engine.connect() as conn:  # the database drops the watcher's connection
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             f"WHERE application_name = '{WATCHER}' "
                             "AND datname = current_database()")
    _wait_for(lambda: not blocked.watching)
    assert blocked.might_have(["anyone"])  # unknown: searches ask the database
    _wait_for(lambda: blocked.watching, seconds=15)  # reconnected and reloaded
    assert not blocked.might_have([world["x"]])


def _wait_for(condition: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
