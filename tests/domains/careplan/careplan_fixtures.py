"""Fixtures of the care plan tests (a pytest plugin: `pytest_plugins = ("careplan_fixtures",)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from careplan_support import World, build_world
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from stay_support import wipe_adt
from vardnav.config import Settings


@pytest.fixture
def cp_world(pdl_client: TestClient, settings: Settings, engine: Engine) -> Iterator[World]:
    wipe_adt(engine)
    yield build_world(pdl_client, settings, engine)
    wipe_adt(engine)
