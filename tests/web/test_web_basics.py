"""Sign-in, the header, the language toggle, CSRF, error pages and patient search."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from web_support import World, csrf_of, post_form, sign_in, text_of

from vardnav.web.catalogue import ENGLISH

pytest_plugins = ("web_fixtures",)
WEB = Path(__file__).resolve().parents[2] / "src" / "vardnav" / "web"


def test_pages_need_sign_in_and_come_back_after_it(world: World) -> None:
    c = world.client()
    r = c.get("/web/patients?q=Testsson", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fweb%2Fpatients%3Fq%3DTestsson"
    r = sign_in(c, world.staff["nurse"].hsa, next_url="/web/patients?q=Testsson")
    assert r.url.path == "/web/patients" and "Greta Testsson" in r.text


def test_header_shows_who_where_and_role_and_the_session_cookie_is_protected(
        world: World) -> None:
    c = world.client()
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"csrf": token, "username": world.staff["nurse"].hsa,
                               "password": "demo-lösenord-1", "next": "/web/"},
               follow_redirects=False)
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    page = c.get("/web/")
    header = text_of(re.search(r'<header class="site">.*?</header>', page.text, re.S)[0])
    assert "Enhet: Medicinavdelning 1" in header and "Roll: Sjuksköterska" in header
    assert world.staff["nurse"].hsa in header
    # Strict headers: nothing inline, nothing cached, never framed.
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"


def test_a_physician_with_two_assignments_chooses_one_and_the_header_says_which(
        world: World) -> None:
    c = world.client()
    r = sign_in(c, world.staff["doctor"].hsa, unit_label="Geriatrisk avdelning 2")
    assert "Enhet: Geriatrisk avdelning 2" in text_of(r.text)
    assert "Roll: Läkare" in text_of(r.text)


def test_demo_sign_in_offers_one_user_per_role(world: World) -> None:
    c = world.client()
    r = c.get("/web/demo")
    text = text_of(r.text)
    for words in ("Sjuksköterska – Medicinavdelning 1", "Läkare – Vårdcentralen Högsbo",
                  "Sjuksköterska – Göteborg", "Loggranskare", "Greta Testsson"):
        assert words in text
    world.settings.web_demo_signin = False
    assert c.get("/web/demo").status_code == 404


def test_language_toggle_switches_the_whole_page_to_english_and_back(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    r = post_form(c, "/web/patients", to="/web/lang", lang="en", next="/web/patients")
    assert r.url.path == "/web/patients"
    text = text_of(r.text)
    assert "Find patient" in text and "Role: Registered nurse" in text
    assert 'lang="en"' in r.text and "Sök patient" not in text
    r = post_form(c, "/web/patients", to="/web/lang", lang="sv", next="/web/patients")
    assert "Sök patient" in text_of(r.text)


def test_sign_in_pages_have_the_language_button_and_speak_english(world: World) -> None:
    c = world.client()
    r = post_form(c, "/login?next=%2Fweb%2Fpatients", to="/web/lang", lang="en",
                  next="/login?next=%2Fweb%2Fpatients")
    # Back on the sign-in page, in English, still going where the person was headed.
    assert r.url.path == "/login" and r.url.params["next"] == "/web/patients"
    text = text_of(r.text)
    assert 'lang="en"' in r.text and "Password" in text and "Lösenord" not in text
    assert 'name="next" value="/web/patients"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    # A wrong password is explained in English; the button then returns to the same target.
    token = csrf_of(r.text)
    r = c.post("/login", data={"csrf": token, "username": world.staff["doctor"].hsa,
                               "password": "wrong", "next": "/web/patients"})
    assert r.status_code == 403 and "Wrong user name or password." in text_of(r.text)
    assert 'name="next" value="/login?next=%2Fweb%2Fpatients"' in r.text
    # The assignment choice and the message pages too.
    r = c.post("/login", data={"csrf": token, "username": world.staff["doctor"].hsa,
                               "password": "demo-lösenord-1", "next": "/web/patients"})
    assert r.url.path == "/login/choose" and "Choose assignment" in text_of(r.text)
    assert "Physician" in text_of(r.text) and "Välj uppdrag" not in text_of(r.text)
    r = c.post("/login/choose", data={"csrf": csrf_of(r.text), "choice": "nonsense"})
    assert r.status_code == 400 and "Choose one of the options in the list." in r.text
    assert "To sign-in" in r.text
    # Back to Swedish from a sign-in page.
    r = post_form(c, "/login/choose", to="/web/lang", lang="sv", next="/login/choose")
    assert r.url.path == "/login/choose" and "Välj uppdrag" in text_of(r.text)


def test_forms_without_the_session_csrf_token_are_refused_and_change_nothing(
        world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["coordinator"].hsa)
    target = f"/web/patients/{world.patient}/emergency"
    r = c.post(target, data={"reason": "Medvetslös patient", "confirm": "yes"})
    assert r.status_code == 403 and "Formuläret har gått ut" in r.text
    r = c.post(target, data={"csrf": "x" * 43, "reason": "Medvetslös patient",
                             "confirm": "yes"})
    assert r.status_code == 403
    # No emergency access came of it: the municipality still sees nothing of the record.
    assert "Penicillin" not in c.get(f"/web/patients/{world.patient}").text
    assert c.post("/web/lang", data={"lang": "en"}).status_code == 403


def test_errors_are_pages_without_stack_traces(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    for path, status in (("/web/no-such-page", 404), ("/web/patients/does-not-exist", 404),
                         ("/web/beds/does-not-exist", 404)):
        r = c.get(path)
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html")
        assert "Traceback" not in r.text and "<h1>" in r.text


def test_search_accepts_every_common_personnummer_form(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    pnr = world.pnr  # 19410304NNNC
    for typed in (pnr, f"{pnr[:8]}-{pnr[8:]}", pnr[2:], f"{pnr[2:8]}-{pnr[8:]}",
                  f" {pnr[2:8]} {pnr[8:]} "):
        r = c.get("/web/patients", params={"q": typed})
        assert r.status_code == 200 and "Greta Testsson" in r.text, typed
        assert f"{pnr[2:8]}-{pnr[8:]}" in r.text
    r = c.get("/web/patients", params={"q": "testsson"})
    assert "Greta Testsson" in r.text


def test_search_says_next_to_the_field_when_a_number_is_invalid(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    bad = world.pnr[:-1] + str((int(world.pnr[-1]) + 1) % 10)
    r = c.get("/web/patients", params={"q": bad})
    assert r.status_code == 400
    assert re.search(r'id="q"[^>]*aria-invalid="true"', r.text)
    assert 'id="q-error">Det ser ut som ett personnummer men är inte giltigt' in r.text


def test_search_as_you_type_answers_with_the_results_only(world: World) -> None:
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    r = c.get("/web/patients", params={"q": "Testsson"}, headers={"HX-Request": "true"})
    assert r.text.lstrip().startswith('<div id="results"') and "<html" not in r.text
    assert "Greta Testsson" in r.text


def test_residents_cannot_use_staff_pages(world: World) -> None:
    c = world.client()
    sign_in(c, world.pnr, next_url="/web/me")
    assert c.get("/web/patients").status_code == 403
    assert c.get("/web/beds").status_code == 403


def test_every_swedish_text_has_an_english_translation() -> None:
    missing = set()
    for path in [*WEB.glob("templates/web/*.html"), *WEB.glob("templates/*.html"),
                 *WEB.glob("*.py")]:
        source = path.read_text()
        for call in re.finditer(r"\bt\(((?:\s*\"[^\"]*\"\s*)+)", source):
            text = "".join(re.findall(r'"([^"]*)"', call.group(1)))
            if text not in ENGLISH:
                missing.add(text)
        missing |= {m for m in re.findall(r"\bt\('([^']*)'", source) if m not in ENGLISH}
    assert not missing


def test_an_unexpected_failure_is_an_error_page_and_is_logged(
        world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from vardnav.web import routes_patients

    def broken(*_args: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(routes_patients, "overview", broken)
    c = world.client()
    sign_in(c, world.staff["nurse"].hsa)
    r = c.get(f"/web/patients/{world.patient}")
    assert r.status_code == 500 and "Sidan kunde inte visas. Felet är loggat." in r.text
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert "secret internal detail" in caplog.text
