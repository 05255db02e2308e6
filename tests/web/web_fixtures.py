"""Fixtures of the web page tests (a pytest plugin: `pytest_plugins = ("web_fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from web_support import World, build_world

from conftest import bearer, mint_token
from vardnav.config import Settings
from vardnav.domains.access.audit_log import DatabaseAuditSink
from vardnav.fhir.storage.repository import EngineServices
from vardnav.main import access_layers, create_app


@pytest.fixture
def web_settings(db_url: str, key_dir: Path) -> Settings:
    return Settings(database_url=db_url, base_url="http://testserver/fhir",
                    key_dir=key_dir, web_demo_signin=True, audit_seal_seconds=0)


@pytest.fixture
def web_services(shared_services: EngineServices, engine: Engine,
                 web_settings: Settings) -> EngineServices:
    """Production access layers and the database access log (log extracts read it)."""
    return EngineServices(shared_services.registry, shared_services.validator,
                          audit=DatabaseAuditSink(), default_page_size=50, max_page_size=1000,
                          **access_layers(web_settings, shared_services.registry, engine))


@pytest.fixture
def world(engine: Engine, web_settings: Settings, web_services: EngineServices
          ) -> Iterator[World]:
    app = create_app(web_settings, services=web_services, engine=engine)
    with TestClient(app, headers=bearer(mint_token(web_settings))) as system:
        yield build_world(app, web_settings, engine, web_services, system)
