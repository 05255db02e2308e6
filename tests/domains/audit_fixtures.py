"""Fixtures of the access-log tests (a pytest plugin: `pytest_plugins = ("audit_fixtures",)`):
a server whose audit sink is the database, as build_services wires it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from audit_support import clear_log
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from conftest import bearer, mint_token, wipe
from vardnav.config import Settings
from vardnav.domains.access.append_only import AppendOnlyAuditPolicy
from vardnav.domains.access.audit_log import DatabaseAuditSink
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import create_app


@pytest.fixture
def db_audit_services(services: EngineServices) -> EngineServices:
    """The test services (scopes and options over allow-all) with the database audit sink
    and the append-only rule, as build_services wires them."""
    return dataclasses.replace(services, audit=DatabaseAuditSink(),
                               policy=AppendOnlyAuditPolicy(services.policy))


@pytest.fixture
def audit_settings(settings: Settings) -> Settings:
    # Tests seal when they choose to; the background sealer is tested on its own.
    return settings.model_copy(update={"audit_seal_seconds": 0})


@pytest.fixture
def audit_app(engine: Engine, audit_settings: Settings,
              db_audit_services: EngineServices) -> Any:
    wipe(engine)
    clear_log(engine)
    return create_app(audit_settings, services=db_audit_services, engine=engine)


@pytest.fixture
def audit_system(audit_app: Any) -> Iterator[TestClient]:
    token = mint_token(audit_app.state.settings)
    with TestClient(audit_app, headers=bearer(token)) as c:
        yield c
