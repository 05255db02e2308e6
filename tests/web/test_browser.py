"""The web pages in a real browser: Debian's Chromium driven by Playwright against a real
uvicorn server (one per test module), as the people who use them would, saving screenshots
of the main pages to docs/screenshots/.

Skipped only when /usr/bin/chromium is missing outside CI; `.ci/run` installs it and requires them.
The server has a database of its own (a SQLite file), set up here with the demo region, a
few accounts and a Göteborg resident, so the other tests' wiping cannot disturb it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests
from fastapi.testclient import TestClient
from web_support import PASSWORD, World, build_world

from conftest import REPO_ROOT, bearer, mint_token
from vardnav.config import Settings
from vardnav.db.engine import make_engine
from vardnav.db.migrate import upgrade
from vardnav.main import build_services, create_app

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO_ROOT / "docs" / "screenshots"
# CI sets VARDNAV_BROWSER_TESTS=required: there a missing browser fails, never skips.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and os.environ.get("VARDNAV_BROWSER_TESTS") != "required",
    reason="Debian's chromium is not installed (/usr/bin/chromium)")


@dataclass
class Site:
    url: str
    world: World
    second: str  # Patient id of a patient already admitted (their care plan started)


def admitted_second_patient(world: World, system: TestClient) -> str:
    """Another patient, admitted to the last bed of Medicinavdelning 1 by the ward's nurse."""
    created = world.as_staff("nurse", "POST", "Patient", {
        "resourceType": "Patient", "birthDate": "1938-05-06", "gender": "male",
        "name": [{"family": "Testsson", "given": ["Karl"]}]})
    name = "Medicinavdelning 1, sal 4, säng 2"
    found = system.get("/fhir/Location", params={"name": name, "_count": "50"}).json()
    bed_id = next(e["resource"]["id"] for e in found["entry"] if e["resource"]["name"] == name)
    world.as_staff("nurse", "POST", f"Patient/{created['id']}/$admit", {
        "resourceType": "Parameters", "parameter": [
            {"name": "bed", "valueString": bed_id},
            {"name": "attending", "valueString": world.staff["doctor"].practitioner}]})
    return str(created["id"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("browser")
    url, keys = f"sqlite:///{tmp / 'browser.db'}", tmp / "keys"
    upgrade(url)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=url, base_url=f"{base}/fhir", issuer=base, key_dir=keys,
                        web_demo_signin=True, audit_seal_seconds=0)
    engine = make_engine(url)
    services = build_services(settings, engine=engine)
    app = create_app(settings, services=services, engine=engine)
    with TestClient(app, headers=bearer(mint_token(settings))) as system:
        world = build_world(app, settings, engine, services, system)
        second = admitted_second_patient(world, system)
    engine.dispose()
    env = {**os.environ, "VARDNAV_DATABASE_URL": url, "VARDNAV_BASE_URL": f"{base}/fhir",
           "VARDNAV_ISSUER": base, "VARDNAV_KEY_DIR": str(keys),
           "VARDNAV_WEB_DEMO_SIGNIN": "true", "VARDNAV_HL7_DELIVER": "false",
           "VARDNAV_SUBSCRIPTIONS_DELIVER": "false"}
    log = (tmp / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "vardnav.main:create_app",
                             "--factory", "--host", "127.0.0.1", "--port", str(port),
                             "--log-level", "warning"], env=env, cwd=REPO_ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{base}/login", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            pytest.fail((tmp / "server.log").read_text(errors="replace"))
        yield Site(base, world, second)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def browser(site: Site) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM),
                                      args=["--no-sandbox", "--disable-gpu",
                                            "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def new_page(browser: object, site: Site, *, width: int = 1280, scale: float = 1):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=site.url, locale="sv-SE",  # type: ignore[attr-defined]
                                  viewport={"width": width, "height": 900},
                                  device_scale_factor=scale)
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_in(page, username: str, unit: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Sign in with the keyboard only: type, Tab, type, Enter (and choose, if asked)."""
    page.goto("/login?next=/web/")
    page.fill("#username", username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"^http://[^/]+/(login/choose|web/)"))
    if "/login/choose" in page.url:
        page.get_by_label(re.compile(unit or ".")).first.check()
        page.get_by_role("button", name="Välj uppdrag").click()
        page.wait_for_url(re.compile(r"^http://[^/]+/web/"))


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_admit_ready_for_discharge_and_the_municipality_sees_it(
        browser: object, site: Site) -> None:
    w = site.world
    page = new_page(browser, site)
    page.goto("/web/demo")
    shot(page, "01-demo-sign-in")
    sign_in(page, w.staff["nurse"].hsa)
    header = page.locator("header.site").inner_text()
    assert "Medicinavdelning 1" in header and "Sjuksköterska" in header

    # Find the patient: the results come as you type (htmx), in the short form.
    page.get_by_role("link", name="Sök patient").first.click()
    page.get_by_label("Personnummer eller namn").fill(f"{w.pnr[2:8]}-{w.pnr[8:]}")
    page.locator("#results a", has_text="Greta Testsson").wait_for()
    shot(page, "02-patient-search")

    # Admit to a bed from the bed board.
    page.get_by_role("link", name="Beläggning").first.click()
    page.get_by_role("link", name=re.compile("Skriv in här")).first.click()
    page.get_by_label("Patientens personnummer").fill(w.pnr)
    page.get_by_label("Ansvarig läkare").select_option(index=1)
    expected = (date.today() + timedelta(days=3)).isoformat()
    page.get_by_label("Beräknad utskrivning").fill(expected)
    page.get_by_role("button", name="Skriv in", exact=True).click()
    page.get_by_text("Patienten är inskriven.").wait_for()
    assert page.locator(".bed.s-O", has_text="Greta Testsson").count() == 1
    shot(page, "03-bed-board")

    # The overview: the attention signal first, then the stay.
    page.get_by_role("link", name="Greta Testsson").click()
    page.get_by_text("Överkänslighet: Penicillin").wait_for()
    shot(page, "04-patient-overview")
    page.get_by_role("link", name="Behov av insatser efter utskrivning").click()
    page.get_by_label("Ja").check()
    page.get_by_role("button", name="Skicka inskrivningsmeddelanden").click()
    page.get_by_text("Inskrivningsmeddelanden är skickade").wait_for()

    # The physician declares the patient ready for discharge.
    doctor = new_page(browser, site)
    sign_in(doctor, w.staff["doctor"].hsa, unit="Medicinavdelning 1")
    doctor.goto(f"/web/patients/{w.patient}")
    doctor.get_by_role("button", name="Utskrivningsklar").click()
    doctor.get_by_text("Utskrivningsklar: mottagarna har meddelats.").wait_for()

    # Another user, at the municipality, finds the notice in the inbox.
    municipality = new_page(browser, site)
    sign_in(municipality, w.staff["coordinator"].hsa)
    municipality.get_by_role("link", name="Samordnad utskrivning").first.click()
    row = municipality.locator("#notices tbody tr[id^=notice-]", has_text="Greta Testsson")
    assert "Okvitterat" in row.inner_text() and "Ja" in row.inner_text()
    shot(municipality, "05-discharge-inbox")
    row.get_by_role("button", name="Kvittera").click()
    municipality.get_by_text("Meddelandena är kvitterade.").wait_for()

    # In English, the same page.
    municipality.get_by_role("button", name="English").click()
    municipality.get_by_role("heading", name="Coordinated discharge").wait_for()


def test_emergency_access_with_a_reason(browser: object, site: Site) -> None:
    w = site.world
    page = new_page(browser, site)
    sign_in(page, w.staff["private-doctor"].hsa)  # another care provider: sees nothing yet
    page.goto(f"/web/patients/{w.patient}")
    assert "Penicillin" not in page.content()
    page.get_by_role("link", name="Nödåtkomst").click()
    page.get_by_role("button", name="Öppna med nödåtkomst").click()
    assert page.locator("#reason-error").is_visible()  # a reason is required
    assert page.locator("#confirm-error").is_visible()
    shot(page, "06-emergency-access")
    page.get_by_label("Skäl (obligatoriskt)").fill("Medvetslös på akuten, okänd medicinering")
    page.get_by_label("Jag intygar att det är en nödsituation.").check()
    page.get_by_role("button", name="Öppna med nödåtkomst").click()
    page.get_by_text("NÖDÅTKOMST aktiv i 4 timmar").wait_for()
    assert "Penicillin" in page.content()


def test_resident_reads_their_access_log(browser: object, site: Site) -> None:
    w = site.world
    page = new_page(browser, site)
    sign_in(page, w.pnr)
    assert "/web/me" in page.url
    page.get_by_role("link", name="Vilka har läst min journal").click()
    table = page.locator("#log")
    table.wait_for()
    assert "Vårdcentralen Högsbo" in table.inner_text()
    shot(page, "07-resident-access-log")


def test_readable_at_200_percent_zoom_and_keyboard_usable(browser: object, site: Site) -> None:
    w = site.world
    # 200 % zoom of a 1280-pixel window: a 640-pixel-wide layout at twice the pixel density.
    page = new_page(browser, site, width=640, scale=2)
    sign_in(page, w.staff["nurse"].hsa)
    for path in (f"/web/patients?q={w.pnr}", f"/web/patients/{w.patient}", "/web/beds"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path  # no sideways scrolling
    shot(page, "08-bed-board-zoom-200")
    # The first Tab reaches the skip link, and focus is visible.
    page.goto("/web/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_apply_a_care_plan_template_and_assess_a_risk(browser: object, site: Site) -> None:
    page = new_page(browser, site)
    sign_in(page, site.world.staff["nurse"].hsa)
    page.goto(f"/web/patients/{site.second}/careplan")
    page.get_by_label("Mall").select_option(label="Fallprevention")
    page.get_by_role("button", name="Tillämpa", exact=True).click()
    page.get_by_text("Mallen är tillämpad.").wait_for()
    assert page.locator("#activities tbody tr").count() >= 3
    shot(page, "09-care-plan")

    # Downton: the score appears as the questions are answered (htmx), before saving.
    page.get_by_role("link", name="Downton (fallrisk)").click()
    page.check("#previous-falls-yes")
    page.locator("#total", has_text="1").wait_for()
    page.check("#medications-diuretics")
    page.check("#medications-sedatives")
    page.locator("#total", has_text="3").wait_for()
    for answer in ("#sensory-deficits-vision", "#mental-state-oriented", "#gait-normal"):
        page.check(answer)
    page.locator("#score", has_text="Hög fallrisk").wait_for()
    assert page.locator("#total").inner_text() == "4"
    shot(page, "10-risk-assessment")
    page.get_by_role("button", name="Spara bedömningen").click()
    page.get_by_text("Riskbedömningen är sparad.").wait_for()
