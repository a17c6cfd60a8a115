"""Fixtures of the revenue tests: the app with its files under a temporary data dir, and the
reference platforms (uber, bolt) loaded once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data
from fleetcore.settings import Settings


@pytest.fixture(scope="session")
def platforms(sessions: Any) -> None:
    """dir_platforms and the rest of the reference data (idempotent)."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


@pytest.fixture(scope="module")
def revenue_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleetcore-revenue-data")


@pytest.fixture(scope="module")
def revenue_settings(api_settings: Settings, revenue_data_dir: Path) -> Settings:
    return api_settings.model_copy(update={"fleetcore_data_dir": revenue_data_dir})


@pytest.fixture(scope="module")
def revenue_app(revenue_settings: Settings, app_engine: Engine, platforms: None) -> FastAPI:
    return create_app(revenue_settings, app_engine)


@pytest.fixture(scope="module")
def rclient(revenue_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(revenue_app) as client:
        yield client
