"""Fixtures of the toll and fine tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from finance_support import Books

from api_support import TenantWorld


@pytest.fixture
def books(tenant_a: TenantWorld, client: TestClient, auth: Callable[..., dict[str, str]],
          sessions: Any) -> Books:
    return Books(tenant_a, client, auth, sessions)


@pytest.fixture
def other_books(tenant_b: TenantWorld, client: TestClient,
                auth: Callable[..., dict[str, str]], sessions: Any) -> Books:
    return Books(tenant_b, client, auth, sessions)
