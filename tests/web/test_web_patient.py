"""The patient overview and the PDL dialogs: what a user may see, and the steps that open
more (asserted care relationship, consent, emergency access, temporary lift of a block)."""

from __future__ import annotations

import re

from web_support import World, post_form, sign_in, text_of

pytest_plugins = ("web_fixtures",)


def overview(c, world: World) -> str:  # type: ignore[no-untyped-def]
    r = c.get(f"/web/patients/{world.patient}")
    assert r.status_code == 200
    return text_of(r.text)


def test_overview_hides_the_record_until_the_unit_has_a_care_relationship(
        world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    before = overview(c, world)
    assert "Greta Testsson" in before  # identification data: findable by all staff
    assert "Penicillin" not in before and "Hjärtsvikt" not in before
    assert "Inga kända överkänsligheter eller varningar som du får se." in before
    page = f"/web/patients/{world.patient}/care-relationship"
    r = post_form(c, page, reason="")
    assert r.status_code == 400
    assert re.search(r'<p class="field-error" id="reason-error">Ange ett skäl', r.text)
    assert 'aria-invalid="true"' in r.text
    r = post_form(c, page, reason="Ska bedöma patienten på akuten")
    assert r.url.path == f"/web/patients/{world.patient}"
    after = text_of(r.text)
    assert "Vårdrelationen är registrerad i 24 timmar" in after
    # The attention banner comes first: before the stay, problems and results.
    assert after.index("Uppmärksamhetssignal") < after.index("Pågående vårdtillfälle"), after
    assert "Överkänslighet: Penicillin (hög allvarlighet)" in after
    assert "Hjärtsvikt" in after


def test_another_care_provider_needs_the_patients_consent(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["private-doctor"].hsa)  # a private care provider
    post_form(c, f"/web/patients/{world.patient}/care-relationship", reason="Listad här nu")
    assert "Penicillin" not in overview(c, world)  # a relationship alone is not enough
    page = f"/web/patients/{world.patient}/consent"
    r = post_form(c, page)
    assert r.status_code == 400 and 'id="given-error"' in r.text
    r = post_form(c, page, given="yes")
    text = text_of(r.text)
    assert "Samtycket är registrerat för din vårdgivare." in text
    assert "Penicillin" in text


def test_a_municipality_without_option_3_cannot_record_in_the_shared_record(
        world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["coordinator"].hsa)  # Göteborg: options 1 only
    r = post_form(c, f"/web/patients/{world.patient}/consent", given="yes")
    assert r.status_code == 400
    assert re.search(r'class="error" role="alert">Du har inte behörighet till detta\. '
                     r"\(Göteborg has not chosen option 3", r.text)


def test_emergency_access_needs_a_reason_and_is_clearly_marked_and_time_limited(
        world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["coordinator"].hsa)
    page = f"/web/patients/{world.patient}/emergency"
    form = c.get(page)
    assert 'class="emergency"' in form.text and "i 4 timmar" in text_of(form.text)
    r = post_form(c, page, reason="", confirm="")
    assert r.status_code == 400
    assert 'id="reason-error"' in r.text and 'id="confirm-error"' in r.text
    assert "Penicillin" not in overview(c, world)
    r = post_form(c, page, reason="Medvetslös, okänd medicinering", confirm="yes")
    text = text_of(r.text)
    assert "NÖDÅTKOMST aktiv i 4 timmar" in text and "Penicillin" in text


def test_blocked_data_is_hidden_with_a_notice_and_can_be_lifted_temporarily(
        world: World) -> None:
    resident = world.client()
    sign_in(resident, world.pnr, next_url="/web/me")
    # The patient blocks the primary-care centre's data (inner block); the units to choose
    # from are those in their log extract.
    r = post_form(resident, "/web/me/privacy", action="block", kind="inner", unit="")
    assert r.status_code == 400 and 'id="unit-error"' in r.text, text_of(r.text)[-500:]
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)</option>',
                         r.text.split('id="unit"')[1].split("</select>")[0])
    assert ("SE2321000131-VC01", "Vårdcentralen Högsbo") in options
    r = post_form(resident, "/web/me/privacy", action="block", kind="inner",
                  unit="SE2321000131-VC01")
    assert "Spärren är registrerad" in text_of(r.text)

    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    post_form(nurse, f"/web/patients/{world.patient}/care-relationship", reason="Inlagd")
    text = overview(nurse, world)
    assert "Det finns spärrad information om patienten" in text
    assert "Penicillin" not in text and "Hjärtsvikt" not in text
    block = re.search(r"Consent/([\w-]+)", text)
    assert block, text
    page = f"/web/patients/{world.patient}/lift-block"
    # The notice links to the lift with the block filled in.
    assert f'href="{page}?block={block[1]}"' in nurse.get(page[:-len("/lift-block")]).text
    assert f'value="{block[1]}"' in nurse.get(f"{page}?block={block[1]}").text
    r = post_form(nurse, page, block=block[1], basis="", scope="user", days="9", reason="")
    assert r.status_code == 400
    for name in ("basis", "days", "reason"):
        assert f'id="{name}-error"' in r.text
    r = post_form(nurse, page, block=block[1], basis="consent", scope="user", days="2",
                  reason="Patienten samtycker muntligt")
    text = text_of(r.text)
    assert "Spärren är tillfälligt hävd i 2 dagar" in text and "Penicillin" in text


def test_search_never_finds_the_staff_members_own_record(world: World) -> None:
    from datetime import date

    from web_support import personnummer

    from vardnav.domains.identity.swedish_identifiers import PERSONNUMMER_SYSTEM

    nurse = world.staff["nurse"]
    own = personnummer(date(1980, 1, 2), 456)
    person = world.system.get(f"/fhir/Practitioner/{nurse.practitioner}").json()
    person["identifier"].append({"system": PERSONNUMMER_SYSTEM, "value": own})
    assert world.system.put(f"/fhir/Practitioner/{nurse.practitioner}", json=person).is_success
    created = world.system.post("/fhir/Patient", json={
        "resourceType": "Patient", "identifier": [{"system": PERSONNUMMER_SYSTEM, "value": own}],
        "name": [{"family": "Holmqvist", "given": ["Egen"]}], "birthDate": "1980-01-02"})
    assert created.status_code == 201
    c = world.client()
    sign_in(c, nurse.hsa)
    r = c.get("/web/patients", params={"q": own})
    assert "Ingen patient hittades." in text_of(r.text)
    assert c.get(f"/web/patients/{created.json()['id']}").status_code == 404
    colleague = world.client()
    sign_in(colleague, world.staff["vc-doctor"].hsa)
    assert "Egen Holmqvist" in colleague.get("/web/patients", params={"q": own}).text


def test_the_overview_in_english(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["vc-doctor"].hsa)
    post_form(c, f"/web/patients/{world.patient}/care-relationship", reason="Besök")
    post_form(c, "/web/", to="/web/lang", lang="en", next="/web/")
    text = overview(c, world)
    for words in ("Attention signal", "Hypersensitivity: Penicillin (high severity)",
                  "Current stay", "Problems and diagnoses", "Hjärtsvikt", "Emergency access",
                  "Role: Physician", "female"):
        assert words in text, words
    assert re.search(r"\b\d+ years\b", text)
    assert "Uppmärksamhetssignal" not in text
