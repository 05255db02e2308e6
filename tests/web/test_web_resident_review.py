"""Resident pages (my record, who read it, consents and blocks) and the log reviewer's page."""

from __future__ import annotations

from web_support import World, csrf_of, post_form, sign_in, text_of

pytest_plugins = ("web_fixtures",)


def test_resident_reads_their_record_and_who_has_read_it(world: World) -> None:
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    post_form(nurse, f"/web/patients/{world.patient}/care-relationship", reason="Inlagd")
    nurse.get(f"/web/patients/{world.patient}")

    c = world.client()
    r = sign_in(c, world.pnr)  # straight to their own record
    text = text_of(r.text)
    assert r.url.path == "/web/me" and "Journal: egen (Greta Testsson)" in text
    english = text_of(post_form(c, "/web/me", to="/web/lang", lang="en", next="/web/me").text)
    assert "Record: own (Greta Testsson)" in english
    post_form(c, "/web/me", to="/web/lang", lang="sv", next="/web/me")
    assert "Penicillin" in text and "Hjärtsvikt" in text
    log = text_of(c.get("/web/me/log").text)
    assert "Medicinavdelning 1" in log and "Västra Götalandsregionen" in log
    nurse_name = text_of(nurse.get("/web/").text).split("Inloggad: ")[1].split(" (")[0]
    assert nurse_name in log  # public providers name the users
    assert "Vårdcentralen Högsbo" in log and "Registrerade" in log
    r = c.get("/web/me/log", params={"since": "igår"})
    assert r.status_code == 400 and 'id="since-error"' in r.text
    later = text_of(c.get("/web/me/log", params={"since": "2099-01-01"}).text)
    assert "Inga åtkomster under perioden." in later


def test_resident_registers_and_lifts_their_own_block(world: World) -> None:
    world.as_staff("vc-doctor", "GET", f"Patient/{world.patient}")  # in the log: choosable
    c = world.client()
    sign_in(c, world.pnr)
    r = post_form(c, "/web/me/privacy", action="block", kind="")
    assert r.status_code == 400 and 'id="kind-error"' in r.text
    r = post_form(c, "/web/me/privacy", action="block", kind="outer",
                  provider="SE2321000131-E000000000001")
    text = text_of(r.text)
    assert "Spärren är registrerad" in text and "Spärr (yttre)" in text
    r = post_form(c, "/web/me/privacy", action="lift", block="", reason="")
    assert r.status_code == 400 and 'id="reason-error"' in r.text
    block = r.text.split('id="block"')[1].split('value="')[1].split('"')[0]
    r = post_form(c, "/web/me/privacy", action="lift", block=block, reason="Ångrat mig")
    assert "Spärren är hävd." in text_of(r.text) and "inaktiv" in text_of(r.text)


def test_log_reviewer_sees_flagged_accesses_and_any_patients_extract(world: World) -> None:
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    post_form(nurse, f"/web/patients/{world.patient}/care-relationship", reason="Akut")
    nurse.get(f"/web/patients/{world.patient}")
    assert nurse.get("/web/review").status_code == 403  # only for log reviewers

    c = world.client()
    sign_in(c, world.staff["reviewer"].hsa)
    review = text_of(c.get("/web/review").text)
    assert "Egen registrerad vårdrelation" in review and world.staff["nurse"].hsa in review
    # The filters: the access log outlives each test, so ask about this nurse only.
    nurse_hsa = world.staff["nurse"].hsa
    mine = text_of(c.get("/web/review", params={"user": nurse_hsa}).text)
    assert " 0 åtkomster att granska" not in mine
    only = text_of(c.get("/web/review", params={"rule": "emergency", "user": nurse_hsa}).text)
    assert " 0 åtkomster att granska" in only
    r = c.get("/web/review", params={"until": "31/12"})
    assert r.status_code == 400 and 'id="until-error"' in r.text
    r = c.get("/web/review/extract", params={"patient": world.pnr[2:8] + "-" + world.pnr[8:]})
    text = text_of(r.text)
    assert "Greta Testsson" in text and "Medicinavdelning 1" in text
    r = c.get("/web/review/extract", params={"patient": "19000101-0000"})
    assert r.status_code == 400 and 'id="patient-error"' in r.text


def test_a_guardian_reads_a_young_childs_record_but_cannot_block_it(world: World) -> None:
    from datetime import date

    from web_support import personnummer

    from vardnav.domains.identity.signin.records import ROLE_CODE_SYSTEM
    from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM

    today = date.today()
    born = date(today.year - 6, 1, 15)
    child = world.system.post("/fhir/Patient", json={
        "resourceType": "Patient", "birthDate": born.isoformat(),
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": personnummer(born, 345)}],
        "name": [{"family": "Testsson", "given": ["Lilla"]}]}).json()
    link = world.system.post("/fhir/RelatedPerson", json={
        "resourceType": "RelatedPerson", "active": True,
        "patient": {"reference": f"Patient/{child['id']}"},
        "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": world.pnr}],
        "relationship": [{"coding": [{"system": ROLE_CODE_SYSTEM, "code": "GUARD"}]}]})
    assert link.status_code == 201, link.text
    c = world.client()
    r = sign_in(c, world.pnr, unit_label="Lilla Testsson")
    assert "Journal: ditt barn Lilla Testsson" in text_of(r.text)
    page = c.get("/web/me/privacy")
    assert "Som vårdnadshavare kan du läsa ditt barns journal men inte spärra" in page.text
    assert 'value="block"' not in page.text
    # A block posted all the same is refused by the engine, and said so on the page.
    r = c.post("/web/me/privacy", data={"csrf": csrf_of(page.text), "action": "block",
                                         "kind": "outer",
                                         "provider": "SE2321000131-E000000000001"})
    assert r.status_code == 400 and "A guardian cannot block a child" in r.text
