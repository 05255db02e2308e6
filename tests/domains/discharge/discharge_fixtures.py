"""Fixtures of the discharge tests (a pytest plugin: `pytest_plugins = ("discharge_fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from discharge_support import World, build_world
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from stay_support import wipe_adt
from vardnav.config import Settings


@pytest.fixture
def world(pdl_client: TestClient, settings: Settings, engine: Engine) -> Iterator[World]:
    wipe_adt(engine)
    yield build_world(pdl_client, settings, engine)
    wipe_adt(engine)
