"""Server render time of every web page on the demo region (target: under 200 ms).

Builds (or reuses) a SQLite database with the demo region, the synthetic population and the
demo accounts, then signs in as the people who use each page and asks for it `--rounds`
times. The time is the server's own (the `Server-Timing` header the pages send: the FHIR
interactions through the access layers, the access log writes and the rendering), so the
numbers do not include the HTTP client. Before measuring it runs the discharge flow once (a
Göteborg resident admitted, support needed, ready for discharge) so the bed board, the
patient overview and the municipality's inbox have something to show.

    .venv/bin/python -m bench.web_pages [--patients 2000] [--rounds 20] [--db PATH]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.common import PNR_FILE, VAR, percentile
from vardnav.config import Settings
from vardnav.db.migrate import upgrade
from vardnav.demo.accounts import DEMO_PASSWORD, create_demo_accounts
from vardnav.demo.loader import database_is_empty, load_population, load_region

TARGET_MS = 200.0
NURSE = "SE2321000131-P00002"  # registered nurse, Medicinavdelning 1
DOCTOR = "SE2321000131-P00001"  # physician, Medicinavdelning 1 (and Geriatrisk avd. 2)
REVIEWER_ROLE = "Loggranskare"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(c: TestClient, username: str, unit: str | None = None) -> None:
    r = c.post("/login", data={"csrf": _csrf(c.get("/login").text), "username": username,
                               "password": DEMO_PASSWORD, "next": "/web/"})
    if r.url.path == "/login/choose":
        options = re.findall(r'name="choice" value="([^"]+)"[^>]*>\s*<label[^>]*>([^<]+)',
                             r.text)
        pick = next(v for v, label in options if unit is None or unit in label)
        r = c.post("/login/choose", data={"csrf": _csrf(r.text), "choice": pick})
    assert r.status_code == 200, r.text[:500]


def demo_user(c: TestClient, label: str) -> str:
    """The username of the demo sign-in page's button whose label contains `label`."""
    page = c.get("/web/demo").text
    for username, text in re.findall(r'name="username" value="([^"]+)">.*?<button[^>]*>'
                                     r"([^<]+)</button>", page, re.S):
        if label in text:
            return str(username)
    raise SystemExit(f"no demo user labelled {label!r}")


def prepare(db: Path, patients: int) -> Settings:
    settings = Settings(database_url=f"sqlite:///{db}", key_dir=VAR / "keys",
                        base_url="http://testserver/fhir", web_demo_signin=True,
                        audit_seal_seconds=0, testpersonnummer_file=PNR_FILE)
    db.parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    if database_is_empty(settings):
        started = time.perf_counter()
        load_region(settings)
        load_population(settings, patients=patients, seed=1,
                        personnummer_file=PNR_FILE if PNR_FILE.exists() else None,
                        per_transaction=20)
        create_demo_accounts(settings)
        print(f"demo region and {patients} patients loaded in "
              f"{time.perf_counter() - started:.0f} s into {db}")
    return settings


def goteborg_residents(app: Any) -> list[tuple[str, str]]:
    """(Patient id, personnummer) of some Göteborg residents, looked up as the server."""
    from vardnav.db.unit_of_work import run_in_transaction
    from vardnav.domains.identity.access.principal import SERVER
    from vardnav.fhir.hooks import RequestContext
    from vardnav.fhir.storage.repository import Repository
    from vardnav.web import views
    from vardnav.web.gateway import Fhir

    def work(conn: Any) -> list[tuple[str, str]]:
        fhir = Fhir(Repository(conn, app.state.services, RequestContext(principal=SERVER)))
        found = fhir.search("Patient", ("address-city", "Göteborg"), ("_count", "30"))
        return [(x["id"], views.identity_number(x)) for x in found.matches]

    return run_in_transaction(app.state.engine, work, write=False)


def flow(app: Any) -> dict[str, str]:
    """Admit a Göteborg resident, mark support needed and ready: what the pages then show."""
    nurse, doctor = TestClient(app), TestClient(app)
    sign_in(nurse, NURSE)
    sign_in(doctor, DOCTOR, "Medicinavdelning 1")
    board = nurse.get("/web/beds")
    ward = board.url.path.rsplit("/", 1)[1]
    admit = nurse.get(f"/web/beds/{ward}/admit")
    beds = re.findall(r'<option value="([\w-]+)">Medicinavdelning 1, sal', admit.text)
    attending = re.search(r'id="attending"[^>]*>\s*<option value="">[^<]*</option>\s*'
                          r'<option value="([\w-]+)"', admit.text)
    assert beds and attending, "no free bed or physician on Medicinavdelning 1"
    # A Göteborg resident from the population (the municipality's inbox is Göteborg's),
    # not yet admitted: the first the admission form accepts.
    patient = pnr = None
    for candidate, number in goteborg_residents(app):
        r = nurse.post(f"/web/beds/{ward}/admit", data={
            "csrf": _csrf(admit.text), "patient": number, "bed": beds[0],
            "attending": attending[1]})
        if "Patienten är inskriven." in r.text:
            patient, pnr = candidate, number
            break
    assert patient and pnr, "no patient could be admitted"
    overview = nurse.get(f"/web/patients/{patient}").text
    enc = re.search(r"/web/encounters/([\w-]+)/discharge-support", overview)
    assert enc, "the admission did not show on the overview"
    support = nurse.get(f"/web/encounters/{enc[1]}/discharge-support")
    nurse.post(f"/web/encounters/{enc[1]}/discharge-support",
               data={"csrf": _csrf(support.text), "consent": "yes"})
    page = doctor.get(f"/web/patients/{patient}").text
    doctor.post(f"/web/encounters/{enc[1]}/discharge-ready", data={"csrf": _csrf(page)})
    return {"patient": patient, "pnr": pnr, "ward": ward, "encounter": enc[1]}


def measure(c: TestClient, path: str, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        r = c.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        timing = re.search(r"dur=([\d.]+)", r.headers.get("server-timing", ""))
        assert timing, path
        samples.append(float(timing[1]))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--db", type=Path, default=VAR / "web_pages.db")
    args = parser.parse_args()
    settings = prepare(args.db, args.patients)

    from vardnav.main import create_app

    app = create_app(settings)
    with TestClient(app) as anonymous:
        seen = flow(app)
        nurse, coordinator, reviewer, resident = (TestClient(app) for _ in range(4))
        sign_in(nurse, NURSE)
        sign_in(coordinator, demo_user(anonymous, "Sjuksköterska – Göteborg"))
        sign_in(reviewer, demo_user(anonymous, REVIEWER_ROLE))
        page = anonymous.get("/web/demo").text
        resident_pnr = re.findall(r'name="next" value="/web/me">\s*<input type="hidden" '
                                  r'name="username" value="(\d+)"', page)[0]
        sign_in(resident, resident_pnr)
        p, w, e = seen["patient"], seen["ward"], seen["encounter"]
        pages: list[tuple[str, TestClient, str]] = [
            ("start (staff)", nurse, "/web/"),
            ("search by personnummer", nurse, f"/web/patients?q={seen['pnr']}"),
            ("search by name", nurse, "/web/patients?q=Andersson"),
            ("patient overview", nurse, f"/web/patients/{p}"),
            ("care relationship dialog", nurse, f"/web/patients/{p}/care-relationship"),
            ("emergency access dialog", nurse, f"/web/patients/{p}/emergency"),
            ("bed board (ward)", nurse, f"/web/beds/{w}"),
            ("admission form", nurse, f"/web/beds/{w}/admit"),
            ("discharge form", nurse, f"/web/encounters/{e}/discharge"),
            ("care plan", nurse, f"/web/patients/{p}/careplan"),
            ("risk assessment form", nurse, f"/web/patients/{p}/assessment/modified-norton"),
            ("discharge inbox (municipality)", coordinator, "/web/inbox"),
            ("my record (resident)", resident, "/web/me"),
            ("my access log (resident)", resident, "/web/me/log"),
            ("my consents and blocks", resident, "/web/me/privacy"),
            ("log review (7 days)", reviewer, "/web/review"),
            ("log extract (reviewer)", reviewer, f"/web/review/extract?patient={seen['pnr']}"),
        ]
        print(f"\nServer time per page, {args.rounds} requests each "
              f"(SQLite, {args.patients}-patient demo region):")
        print(f"{'page':34} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}  target")
        worst = 0.0
        for name, client, path in pages:
            samples = measure(client, path, args.rounds)
            p95 = percentile(samples, 95)
            worst = max(worst, p95)
            print(f"{name:34} {percentile(samples, 50):8.1f} {p95:8.1f} "
                  f"{statistics.fmean(samples):8.1f}  "
                  f"{'ok' if p95 < TARGET_MS else 'OVER'}")
        print(f"\nslowest p95: {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")


if __name__ == "__main__":
    main()
