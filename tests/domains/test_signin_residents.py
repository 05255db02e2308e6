"""Residents sign in to their own record or a child's: children are offered only while
younger than the guardian age limit, and someone with no record here cannot sign in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from signin_support import (
    People,
    choices_of,
    choose,
    load_people,
    login,
    reset_accounts,
    signed_in,
)
from sqlalchemy import Engine

from vardnav.config import Settings
from vardnav.domains.identity.signin.records import age_on
from vardnav.domains.identity.signin.session import (
    COOKIE_NAME,
    SESSION_SECONDS,
    _serializer,
    sign_in_data,
)
from vardnav.domains.identity.signin.session import SignIn as SignInType
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app


@pytest.fixture(scope="module")
def people(engine: Engine, shared_services: EngineServices, db_url: str) -> People:
    settings = Settings(database_url=db_url, base_url="http://testserver/fhir")
    return load_people(engine, shared_services, settings)


def client_for(settings: Settings, services: EngineServices, engine: Engine) -> TestClient:
    return TestClient(create_app(settings, services=services, engine=engine),
                      follow_redirects=False)


@pytest.fixture
def c(engine: Engine, settings: Settings, services: EngineServices,
      people: People) -> Iterator[TestClient]:
    reset_accounts(engine, people)
    with client_for(settings, services, engine) as client:
        yield client


def test_guardian_chooses_own_record_or_young_child(c: TestClient, people: People) -> None:
    r = login(c, people.guardian, next_url="/app")
    assert r.status_code == 303 and r.headers["location"] == "/login/choose"
    page = c.get("/login/choose").text
    assert choices_of(page) == [f"Patient/{people.guardian_patient}",
                                f"RelatedPerson/{people.child_link}"]
    assert "Min egen journal (Eva Berg)" in page and "Mitt barns journal: Liv Berg" in page
    assert "Tor" not in page  # 15 years old: past the guardian age limit

    r = choose(c, f"RelatedPerson/{people.child_link}")
    assert r.status_code == 303 and r.headers["location"] == "/app"
    done = signed_in(c, c.app.state.settings)
    assert done is not None and done.kind == "resident"
    assert done.subject == people.guardian and done.patient == people.child
    assert done.fhir_user == f"RelatedPerson/{people.child_link}"
    header = c.get("/login").text.split("</header>")[0]
    assert "Eva Berg" in header and "ditt barn Liv Berg" in header


def test_guardian_opens_own_record(c: TestClient, people: People) -> None:
    login(c, people.guardian)
    choose(c, f"Patient/{people.guardian_patient}")
    done = signed_in(c, c.app.state.settings)
    assert done is not None and done.patient == people.guardian_patient
    assert done.fhir_user == f"Patient/{people.guardian_patient}"


def test_a_teenager_cannot_be_chosen_by_posting_their_id(c: TestClient,
                                                         people: People) -> None:
    login(c, people.guardian)
    r = choose(c, f"Patient/{people.teen}")
    assert r.status_code == 400 and signed_in(c, c.app.state.settings) is None


def test_age_limit_is_a_setting(engine: Engine, settings: Settings, services: EngineServices,
                                people: People) -> None:
    older = settings.model_copy(update={"guardian_access_max_age": 18})
    with client_for(older, services, engine) as c:
        login(c, people.guardian)
        assert len(choices_of(c.get("/login/choose").text)) == 3


def test_resident_without_a_record_cannot_sign_in(c: TestClient, people: People) -> None:
    r = login(c, people.lonely)
    assert r.status_code == 403 and "ingen journal för dig" in r.text
    assert signed_in(c, c.app.state.settings) is None


def test_personnummer_with_hyphen_is_the_same_account(c: TestClient, people: People) -> None:
    hyphenated = f"{people.guardian[:8]}-{people.guardian[8:]}"
    assert login(c, hyphenated).headers["location"] == "/login/choose"


def test_age_on_counts_whole_years() -> None:
    from datetime import date

    assert age_on("2013-11-26", date(2026, 11, 25)) == 12
    assert age_on("2013-11-25", date(2026, 11, 25)) == 13
    assert age_on("2013", date(2026, 11, 25)) is None


def forged_session(settings: Settings, user: SignInType) -> str:
    return _serializer(settings).dumps({"csrf": "x" * 43, "user": sign_in_data(user)})


def test_session_ends_eight_hours_after_authentication(c: TestClient, people: People) -> None:
    settings = c.app.state.settings
    complete: dict[str, Any] = {"kind": "resident", "subject": people.guardian,
                                "display_name": "Eva", "method": "password",
                                "patient": people.guardian_patient,
                                "fhir_user": f"Patient/{people.guardian_patient}"}
    c.cookies.set(COOKIE_NAME, forged_session(
        settings, SignInType(auth_time=int(time.time()) - 60, **complete)))
    assert signed_in(c, settings) is not None
    c.cookies.clear()
    c.cookies.set(COOKIE_NAME, forged_session(
        settings, SignInType(auth_time=int(time.time()) - SESSION_SECONDS - 1, **complete)))
    assert signed_in(c, settings) is None
