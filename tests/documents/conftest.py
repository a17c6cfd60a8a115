"""Documents API fixtures: the app with its files under a temporary data dir and a small
upload limit, so that size limits are cheap to test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from documents_support import DOC_LIMIT
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.settings import Settings


@pytest.fixture(scope="module")
def doc_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleetcore-data")


@pytest.fixture(scope="module")
def doc_settings(api_settings: Settings, doc_data_dir: Path) -> Settings:
    return api_settings.model_copy(update={
        "fleetcore_data_dir": doc_data_dir, "document_max_bytes": DOC_LIMIT,
        "document_link_ttl_seconds": 120,
    })


@pytest.fixture(scope="module")
def doc_app(doc_settings: Settings, app_engine: Engine) -> FastAPI:
    return create_app(doc_settings, app_engine)


@pytest.fixture(scope="module")
def doc_client(doc_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(doc_app) as client:
        yield client
