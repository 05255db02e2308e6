"""Sign-in with a password: argon2 accounts, one message for every failure, rate limits per
username and per address, CSRF on every form, no open redirects, the assignment choice of a
staff member with two assignments, the header, and logout."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from signin_support import (
    FORM,
    PASSWORD,
    WRONG_MESSAGE,
    People,
    choices_of,
    choose,
    csrf_of,
    load_people,
    login,
    reset_accounts,
    signed_in,
)
from sqlalchemy import Engine, select, update

from vardnav.config import Settings
from vardnav.db.unit_of_work import run_in_transaction
from vardnav.domains.identity.models import login_failure, user_account
from vardnav.domains.identity.signin import password_login
from vardnav.domains.identity.signin.accounts import get_account, password_matches
from vardnav.domains.identity.signin.ratelimit import WINDOW_SECONDS
from vardnav.domains.identity.signin.redirects import safe_next
from vardnav.domains.identity.signin.session import COOKIE_NAME
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app


@pytest.fixture(scope="module")
def people(engine: Engine, shared_services: EngineServices, db_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> People:
    settings = Settings(database_url=db_url, base_url="http://testserver/fhir")
    return load_people(engine, shared_services, settings)


@pytest.fixture
def app(engine: Engine, settings: Settings, services: EngineServices, people: People) -> Any:
    reset_accounts(engine, people)  # and forget earlier tests' failed attempts
    return create_app(settings, services=services, engine=engine)


@pytest.fixture
def c(app: Any) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as client:
        yield client


def from_ip(app: Any, ip: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(ip, 40000))


def test_passwords_are_argon2id(engine: Engine, people: People) -> None:
    account = run_in_transaction(engine, lambda conn: get_account(conn, people.busy_hsa))
    assert account is not None and account.password_hash.startswith("$argon2id$")
    assert password_matches(account, PASSWORD)
    assert not password_matches(account, PASSWORD + "x")
    assert not password_matches(None, PASSWORD)  # unknown user: a dummy hash is checked


def test_wrong_password_and_unknown_user_get_the_same_answer(c: TestClient,
                                                             people: People) -> None:
    wrong = login(c, people.single_hsa, "fel-lösenord")
    unknown = login(c, "SE2321000131-P99999", PASSWORD)
    assert wrong.status_code == unknown.status_code == 403
    assert WRONG_MESSAGE in wrong.text and WRONG_MESSAGE in unknown.text
    assert signed_in(c, c.app.state.settings) is None


def test_unknown_user_is_checked_against_a_dummy_hash(c: TestClient,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[Any] = []
    real = password_login.password_matches
    monkeypatch.setattr(password_login, "password_matches",
                        lambda account, pw: checked.append(account) or real(account, pw))
    login(c, "SE2321000131-P99999", PASSWORD)
    assert checked == [None]


def test_staff_with_one_assignment_goes_straight_on(c: TestClient, people: People) -> None:
    r = login(c, people.single_hsa, next_url="/oauth/authorize?client_id=x&state=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/oauth/authorize?client_id=x&state=1"
    done = signed_in(c, c.app.state.settings)
    assert done is not None and done.kind == "staff" and done.method == "password"
    assert done.subject == people.single_hsa and done.unit and done.role and done.provider
    assert done.assignment and done.fhir_user and done.fhir_user.startswith("Practitioner/")


def test_staff_with_two_assignments_chooses_one(c: TestClient, people: People) -> None:
    settings = c.app.state.settings
    r = login(c, people.busy_hsa, next_url="/app?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login/choose"
    assert signed_in(c, settings) is None  # not until an assignment is chosen
    page = c.get("/login/choose")
    assert page.status_code == 200
    assert "Medicinavdelning 1" in page.text and "Geriatrisk avdelning 2" in page.text
    assert "Läkare" in page.text and "Västra Götalandsregionen" in page.text
    options = choices_of(page.text)
    assert len(options) == 2
    assert 'for="choice-1"' in page.text and 'id="choice-1"' in page.text

    refused = choose(c, "PractitionerRole-of-someone-else")
    assert refused.status_code == 400 and signed_in(c, settings) is None

    second = c.get("/login/choose").text
    geriatric = next(v for v in options
                     if f'value="{v}"' in second.split("Geriatrisk avdelning 2")[0]
                     .rsplit("<div", 1)[-1])
    r = choose(c, geriatric)
    assert r.status_code == 303 and r.headers["location"] == "/app?x=1"
    done = signed_in(c, settings)
    assert done is not None and done.assignment == geriatric
    assert done.unit and done.unit.endswith("-GER2") and done.role == "physician"
    assert done.provider == people.region_hsa

    header = c.get("/login").text.split("</header>")[0]
    assert people.busy_hsa in header
    assert "Geriatrisk avdelning 2" in header and "Läkare" in header
    assert "Västra Götalandsregionen" in header
    assert "Medicinavdelning 1" not in header


def test_choice_page_needs_an_authenticated_person(c: TestClient) -> None:
    r = c.get("/login/choose")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_rate_limit_per_username(app: Any, people: People,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(5):  # each from its own address: only the username's count adds up
        assert login(from_ip(app, f"10.1.0.{n}"), people.single_hsa, "fel").status_code == 403
    checked: list[Any] = []
    monkeypatch.setattr(password_login, "password_matches",
                        lambda *args: checked.append(args) or True)
    blocked = login(from_ip(app, "10.1.0.99"), people.single_hsa, PASSWORD)
    assert blocked.status_code == 429
    assert "För många misslyckade inloggningsförsök" in blocked.text
    assert 0 < int(blocked.headers["retry-after"]) <= WINDOW_SECONDS
    assert checked == []  # refused without looking at the password
    # Another user from the same fresh address is not affected.
    monkeypatch.undo()
    assert login(from_ip(app, "10.1.0.98"), people.busy_hsa).status_code == 303


def test_rate_limit_per_address(app: Any, people: People) -> None:
    attacker = from_ip(app, "10.2.0.1")
    for n in range(5):
        assert login(attacker, f"SE2321000131-X{n:05d}", "gissning").status_code == 403
    assert login(attacker, people.single_hsa).status_code == 429  # even the right password
    assert login(from_ip(app, "10.2.0.2"), people.single_hsa).status_code == 303


def test_the_limit_lifts_when_the_window_has_passed(app: Any, engine: Engine,
                                                    people: People) -> None:
    client = from_ip(app, "10.3.0.1")
    for _ in range(5):
        login(client, people.single_hsa, "fel")
    assert login(client, people.single_hsa).status_code == 429
    run_in_transaction(engine, lambda conn: conn.execute(
        update(login_failure).values(window_start=login_failure.c.window_start
                                     - WINDOW_SECONDS - 1)))
    assert login(client, people.single_hsa).status_code == 303


def test_successful_sign_in_clears_the_username_count(app: Any, engine: Engine,
                                                      people: People) -> None:
    client = from_ip(app, "10.4.0.1")
    for _ in range(4):
        login(client, people.single_hsa, "fel")
    assert login(client, people.single_hsa).status_code == 303
    rows = run_in_transaction(engine, lambda conn: dict(
        conn.execute(select(login_failure.c.key, login_failure.c.count)).all()))
    assert f"user:{people.single_hsa.lower()}" not in rows
    assert rows["ip:10.4.0.1"] == 4  # the address keeps its failures, not the success


def test_disabled_account_cannot_sign_in(c: TestClient, engine: Engine,
                                         people: People) -> None:
    run_in_transaction(engine, lambda conn: conn.execute(
        update(user_account).where(user_account.c.username == people.single_hsa)
        .values(disabled=True)))
    r = login(c, people.single_hsa)
    assert r.status_code == 403 and "spärrat" in r.text
    assert signed_in(c, c.app.state.settings) is None
    assert WRONG_MESSAGE in login(c, people.single_hsa, "fel").text  # no hint without it


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/",
                                    "/\\evil.example", "javascript:alert(1)", "evil",
                                    "/\t/evil.example", ""])
def test_no_open_redirects(c: TestClient, people: People, target: str) -> None:
    r = login(c, people.single_hsa, next_url=target)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_safe_next_keeps_local_paths() -> None:
    assert safe_next("/oauth/authorize?a=1&b=%2F%2Fx") == "/oauth/authorize?a=1&b=%2F%2Fx"
    assert safe_next("//x") == safe_next("http://x/") == safe_next(None) == "/login"


def test_forms_need_the_csrf_token(c: TestClient, people: People) -> None:
    token = csrf_of(c.get("/login").text)
    data = {"username": people.single_hsa, "password": PASSWORD, "next": "/app"}
    assert c.post("/login", headers=FORM, data=data).status_code == 400
    assert c.post("/login", headers=FORM, data={**data, "csrf": "x" * 43}).status_code == 403
    assert signed_in(c, c.app.state.settings) is None
    assert c.post("/login", headers=FORM, data={**data, "csrf": token}).status_code == 303
    # Not a form at all:
    assert c.post("/login", json=data).status_code == 400


def test_choice_and_logout_need_the_csrf_token(c: TestClient, people: People) -> None:
    settings = c.app.state.settings
    login(c, people.busy_hsa)
    choice = choices_of(c.get("/login/choose").text)[0]
    assert c.post("/login/choose", headers=FORM, data={"choice": choice}).status_code == 400
    assert c.post("/login/choose", headers=FORM,
                  data={"choice": choice, "csrf": "forged"}).status_code == 403
    assert choose(c, choice).status_code == 303
    assert c.post("/logout", headers=FORM, data={}).status_code == 400
    assert c.post("/logout", headers=FORM, data={"csrf": "forged"}).status_code == 403
    assert signed_in(c, settings) is not None


def test_csrf_token_changes_at_sign_in(c: TestClient, people: People) -> None:
    before = csrf_of(c.get("/login").text)
    login(c, people.single_hsa, token=before)
    assert csrf_of(c.get("/login").text) != before


def test_logout(c: TestClient, people: People) -> None:
    settings = c.app.state.settings
    login(c, people.single_hsa)
    assert signed_in(c, settings) is not None
    token = csrf_of(c.get("/login").text)
    r = c.post("/logout", headers=FORM, data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert COOKIE_NAME not in c.cookies
    assert signed_in(c, settings) is None
    assert "Inte inloggad" in c.get("/login").text


def test_session_cookie_attributes(c: TestClient, engine: Engine, services: EngineServices,
                                   settings: Settings, people: People) -> None:
    cookie = login(c, people.single_hsa).headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert "max-age=28800" in cookie and "path=/" in cookie
    secure = create_app(settings.model_copy(update={"secure_cookies": True}),
                        services=services, engine=engine)
    with TestClient(secure, follow_redirects=False) as sc:
        assert "secure" in login(sc, people.single_hsa).headers["set-cookie"].lower()


def test_a_tampered_cookie_is_no_sign_in(c: TestClient, people: People) -> None:
    login(c, people.single_hsa)
    assert signed_in(c, c.app.state.settings) is not None
    value = c.cookies[COOKIE_NAME]
    c.cookies.clear()
    c.cookies.set(COOKIE_NAME, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert signed_in(c, c.app.state.settings) is None


def test_pages_are_not_cached_or_framed(c: TestClient) -> None:
    r = c.get("/login")
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert '<label for="username"' in r.text and '<label for="password"' in r.text
    assert '<html lang="sv">' in r.text
    assert "SITHS" not in r.text  # no external IdP configured
