"""The bed board and its steps, and the discharge coordination inbox of the municipality."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from web_support import World, csrf_of, post_form, sign_in, text_of

from vardnav.web.views import SWEDEN

pytest_plugins = ("web_fixtures",)


def ward_of(c) -> str:  # type: ignore[no-untyped-def]
    """The signed-in person's own ward: /web/beds goes straight to it."""
    r = c.get("/web/beds")
    assert r.status_code == 200 and r.url.path.startswith("/web/beds/")
    return r.url.path.rsplit("/", 1)[1]


def admit(c, world: World, ward: str, at: str = "") -> str:  # type: ignore[no-untyped-def]
    page = c.get(f"/web/beds/{ward}/admit")
    bed = re.search(r'<option value="([\w-]+)">Medicinavdelning 1, sal 1, säng 1<', page.text)
    doctor = world.staff["doctor"].practitioner
    r = c.post(f"/web/beds/{ward}/admit", data={
        "csrf": csrf_of(page.text), "patient": world.pnr[2:], "bed": bed[1],  # type: ignore[index]
        "attending": doctor, "expected": "2026-12-03", "admitted": at})
    assert "Patienten är inskriven." in text_of(r.text)
    return bed[1]  # type: ignore[index]


def test_admission_form_validates_each_field_next_to_it(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    ward = ward_of(c)
    r = post_form(c, f"/web/beds/{ward}/admit", patient="123", bed="", attending="",
                  expected="3 december")
    assert r.status_code == 400
    for name, words in (("patient", "Ange ett giltigt personnummer."),
                        ("bed", "Välj en ledig säng."),
                        ("attending", "Välj ansvarig läkare."),
                        ("expected", "Ange ett datum som ÅÅÅÅ-MM-DD.")):
        assert f'<p class="field-error" id="{name}-error">{words}</p>' in r.text


def test_bed_board_admit_leave_discharge_and_clean(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    ward = ward_of(c)
    board = text_of(c.get(f"/web/beds/{ward}").text)
    assert "Sängar: 8" in board and "Belagda: 0" in board
    bed = admit(c, world, ward)
    board = c.get(f"/web/beds/{ward}").text
    cell = text_of(board.split(f'id="bed-{bed}"')[1].split("</section>")[0])
    assert "Belagd" in cell and "Greta Testsson" in cell and "2026-12-03 10:00" in cell
    # Another ward's physician sees the bed taken but not by whom (PDL).
    other = world.client()
    sign_in(other, world.staff["ger2-doctor"].hsa, unit_label="Geriatrisk avdelning 2")
    theirs = other.get(f"/web/beds/{ward}").text
    assert "Greta Testsson" not in theirs and "Patient (du får inte se vem)" in theirs

    enc = re.search(r"/web/encounters/([\w-]+)/leave", board)[1]  # type: ignore[index]
    r = c.post(f"/web/encounters/{enc}/leave", data={"csrf": csrf_of(board),
                                                      "back": f"/web/beds/{ward}"})
    assert "Permission registrerad." in text_of(r.text) and "Permission: 1" in text_of(r.text)
    page = f"/web/encounters/{enc}/discharge?back=/web/beds/{ward}"
    r = post_form(c, page, disposition="", back=f"/web/beds/{ward}")
    assert r.status_code == 400 and 'id="disposition-error"' in r.text
    r = post_form(c, page, disposition="home", summary="Återhämtat sig.",
                  back=f"/web/beds/{ward}")
    text = text_of(r.text)
    assert "Patienten är utskriven." in text and "Städas: 1" in text
    r = c.post(f"/web/bed/{bed}/clean", data={"csrf": csrf_of(r.text),
                                               "back": f"/web/beds/{ward}"})
    assert "Sängen är städad och ledig." in text_of(r.text) and "Lediga: 8" in text_of(r.text)


def test_ready_for_discharge_reaches_the_municipalitys_inbox(world: World) -> None:
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    # Admitted yesterday evening (registered afterwards).
    at = datetime.now(SWEDEN) - timedelta(hours=14)
    admit(nurse, world, ward_of(nurse), at=at.strftime("%Y-%m-%dT%H:%M"))
    overview = nurse.get(f"/web/patients/{world.patient}").text
    enc = re.search(r"/web/encounters/([\w-]+)/discharge-support", overview)[1]  # type: ignore[index]
    coordinator = world.client()
    sign_in(coordinator, world.staff["coordinator"].hsa)
    assert "Inga inskrivningsmeddelanden." in text_of(coordinator.get("/web/inbox").text)

    page = f"/web/encounters/{enc}/discharge-support"
    r = post_form(nurse, page, back=f"/web/patients/{world.patient}")
    assert r.status_code == 400 and 'id="consent-error"' in r.text
    r = post_form(nurse, page, consent="yes", back=f"/web/patients/{world.patient}")
    assert "Inskrivningsmeddelanden är skickade" in text_of(r.text)

    doctor = world.client()
    sign_in(doctor, world.staff["doctor"].hsa, unit_label="Medicinavdelning 1")
    overview = doctor.get(f"/web/patients/{world.patient}").text
    r = doctor.post(f"/web/encounters/{enc}/discharge-ready", data={
        "csrf": csrf_of(overview), "back": f"/web/patients/{world.patient}"})
    assert "Utskrivningsklar: mottagarna har meddelats." in text_of(r.text)

    # A day and a half later on the process's clock, the notice is still not acknowledged:
    # past its 24-hour deadline.
    world.app.state.discharge.clock = lambda: datetime.now(UTC) + timedelta(hours=36)
    inbox = coordinator.get("/web/inbox").text
    row = inbox.split('<tr id="notice-')[1].split("</tr>")[0]
    assert 'class="overdue"' in row  # not acknowledged past its deadline: in red
    text = text_of(row)
    assert "Greta Testsson" in text and "Nytt" in text and "Okvitterat" in text
    assert "Försenat" in text and "Ja" in text  # ready for discharge
    assert "Meddelande om utskrivningsklar" in text_of(inbox)
    notice = re.search(r"/web/inbox/([\w-]+)/acknowledge", inbox)[1]  # type: ignore[index]
    r = coordinator.post(f"/web/inbox/{notice}/acknowledge", data={"csrf": csrf_of(inbox)})
    text = text_of(r.text)
    assert "Meddelandena är kvitterade." in text and "Kvitterat" in text
    assert "Okvitterat" not in text
    # The municipality sees the stay (consent) but the ward's steps are not offered to it.
    theirs = coordinator.get(f"/web/patients/{world.patient}").text
    assert "Medicinavdelning 1" in text_of(theirs) and "/discharge-ready" not in theirs


def test_primary_care_appoints_the_named_care_contact_and_calls_the_sip_meeting(
        world: World) -> None:
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    admit(nurse, world, ward_of(nurse))
    overview = nurse.get(f"/web/patients/{world.patient}").text
    enc = re.search(r"/web/encounters/([\w-]+)/discharge-support", overview)[1]  # type: ignore[index]
    post_form(nurse, f"/web/encounters/{enc}/discharge-support", consent="yes")

    vc = world.client()
    sign_in(vc, world.staff["vc-doctor"].hsa)  # the patient's primary-care centre
    inbox = vc.get("/web/inbox").text
    assert "Greta Testsson" in text_of(inbox) and "Bli fast vårdkontakt" in inbox
    r = vc.post(f"/web/inbox/plan/{enc}", data={"csrf": csrf_of(inbox), "action": "contact"})
    assert "Du är patientens fasta vårdkontakt." in text_of(r.text)
    r = vc.post(f"/web/inbox/plan/{enc}", data={"csrf": csrf_of(r.text), "action": "sip",
                                                 "meeting": "i morgon"})
    assert r.status_code == 400
    assert '<p class="field-error" id="meeting-error">Ange mötestid' in r.text
    meeting = (datetime.now(SWEDEN) + timedelta(days=2)).strftime("%Y-%m-%dT10:00")
    r = vc.post(f"/web/inbox/plan/{enc}", data={"csrf": csrf_of(r.text), "action": "sip",
                                                 "meeting": meeting})
    assert "SIP-mötet är kallat." in text_of(r.text)


def test_transfer_to_another_bed_from_the_board(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    ward = ward_of(c)
    first = admit(c, world, ward)
    board = c.get(f"/web/beds/{ward}").text
    enc = re.search(r"/web/encounters/([\w-]+)/transfer", board)[1]  # type: ignore[index]
    page = f"/web/encounters/{enc}/transfer?back=/web/beds/{ward}"
    r = post_form(c, page, bed="", ward="", back=f"/web/beds/{ward}")
    assert r.status_code == 400 and 'id="bed-error"' in r.text
    target = re.search(r'<option value="([\w-]+)">Medicinavdelning 1, sal 2, säng 1<',
                       c.get(page).text)[1]  # type: ignore[index]
    r = post_form(c, page, bed=target, back=f"/web/beds/{ward}")
    assert "Patienten är flyttad." in text_of(r.text)
    old = text_of(r.text.split(f'id="bed-{first}"')[1].split("</section>")[0])
    new = text_of(r.text.split(f'id="bed-{target}"')[1].split("</section>")[0])
    assert "Städas" in old and "Greta Testsson" in new


def test_planning_information_from_the_ward_reaches_the_municipalitys_inbox(
        world: World) -> None:
    nurse = world.client()
    sign_in(nurse, world.staff["nurse"].hsa)
    admit(nurse, world, ward_of(nurse))
    overview = nurse.get(f"/web/patients/{world.patient}").text
    enc = re.search(r"/web/encounters/([\w-]+)/discharge-planning", overview)[1]  # type: ignore[index]
    page = f"/web/encounters/{enc}/discharge-planning"
    fields = {"functionalStatus": "Går med rollator, behöver hjälp vid dusch",
              "expectedNeeds": "Hemtjänst morgon och kväll", "expected": "2026-12-03",
              "sip": "yes", "back": f"/web/patients/{world.patient}"}
    # Before the admission notices: the engine's refusal on the page, nothing stored.
    r = post_form(nurse, page, **fields)
    assert r.status_code == 400 and 'role="alert"' in r.text
    assert "Traceback" not in r.text
    post_form(nurse, f"/web/encounters/{enc}/discharge-support", consent="yes")
    # Without the session's CSRF token: refused.
    assert nurse.post(page, data=fields).status_code == 403
    r = post_form(nurse, page, functionalStatus=" ", expectedNeeds="", expected="snart",
                  sip="kanske")
    assert r.status_code == 400
    for name in ("functionalStatus", "expectedNeeds", "expected", "sip"):
        assert f'id="{name}-error"' in r.text
    assert 'aria-describedby="expectedNeeds-error"' in r.text
    r = post_form(nurse, page, **fields)
    assert "Planeringsinformationen är skickad till mottagarna." in text_of(r.text)

    coordinator = world.client()
    sign_in(coordinator, world.staff["coordinator"].hsa)
    inbox = text_of(coordinator.get("/web/inbox").text)
    assert "Planeringsunderlag" in inbox and "Okvitterat" in inbox
