"""Fixtures of the support tests: an app whose help-desk webhooks are configured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import AZP, PROVIDER_ORG
from desk_fakes import CHATWOOT_SECRET, FREESCOUT_SECRET
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fleetcore.app import create_app
from fleetcore.core.auth import public_key_pem
from fleetcore.settings import Settings


def support_settings(signing_key: str, **values: object) -> Settings:
    defaults: dict[str, object] = {
        "fleetcore_env": "test", "clerk_jwt_key": public_key_pem(signing_key),
        "clerk_authorized_parties": [AZP], "fleetcore_provider_org_id": PROVIDER_ORG,
        "chatwoot_webhook_secret": CHATWOOT_SECRET, "freescout_webhook_secret": FREESCOUT_SECRET,
        # Mirroring on (jobs are enqueued); the tests run each job against a local fake.
        "support_desk": "chatwoot", "chatwoot_url": "http://127.0.0.1:9",
        "chatwoot_api_token": "t", "chatwoot_account_id": "3", "chatwoot_inbox_id": "5"}
    return Settings(**{**defaults, **values})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def support_app(signing_key: str, app_engine: Engine) -> FastAPI:
    return create_app(support_settings(signing_key), app_engine)


@pytest.fixture(scope="module")
def desk_client(support_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(support_app) as client:
        yield client
