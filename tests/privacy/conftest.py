"""Personal-data API fixtures: the app with its document files under a temporary data dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.core.db import DbContext, context_session
from fleetcore.reference.service import load_reference_data
from fleetcore.settings import Settings


@pytest.fixture(scope="module")
def platforms(sessions: Any) -> None:
    """dir_platforms and the rest of the reference data (idempotent)."""
    with context_session(sessions, DbContext.system()) as session:
        load_reference_data(session)


@pytest.fixture(scope="module")
def privacy_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleetcore-privacy-data")


@pytest.fixture(scope="module")
def privacy_app(api_settings: Settings, privacy_data_dir: Path, app_engine: Engine,
                platforms: None) -> FastAPI:
    from fleetcore.app import create_app

    return create_app(api_settings.model_copy(update={"fleetcore_data_dir": privacy_data_dir}),
                      app_engine)


@pytest.fixture(scope="module")
def privacy_client(privacy_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(privacy_app) as client:
        yield client
