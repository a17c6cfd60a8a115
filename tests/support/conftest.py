"""Fixtures of the support tests: an app whose help-desk webhooks are configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from desk_fakes import support_settings
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.app import create_app


@pytest.fixture(scope="module")
def support_app(signing_key: str, app_engine: Engine) -> FastAPI:
    return create_app(support_settings(signing_key), app_engine)


@pytest.fixture(scope="module")
def desk_client(support_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(support_app) as client:
        yield client
