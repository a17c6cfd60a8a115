"""Traccar forwards on the lane's own pool while the database is unreachable: 503 problems.

The app runs its lifespan (so the forwarding lane opens its async pool, decision 0007) against
a PostgreSQL address where nothing listens. Positions and events — the two statements the pool
serves — must answer ``503`` ``application/problem+json`` with ``Retry-After``, never a 500:
Traccar retries a failed position forward, and a load balancer reads the 503 as "try later".
(``tests/test_database_restart.py`` covers the ordinary routes across a real restart.)
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from fleetcore.app import create_app
from fleetcore.core.db import make_engine
from fleetcore.core.errors import PROBLEM_MEDIA_TYPE
from fleetcore.integrations.traccar.webhooks import EVENTS_PATH, POSITIONS_PATH, ForwardingLane
from fleetcore.settings import Settings


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _assert_503(response: httpx.Response, path: str) -> None:
    assert response.status_code == 503, (path, response.text[:300])
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, path
    assert int(response.headers["retry-after"]) > 0, path
    assert response.headers["x-request-id"] == "traccar-down-1", path
    problem = response.json()
    assert problem["status"] == 503, path
    assert "database is unavailable" in problem["detail"], path


@pytest.fixture
def down(tmp_path: Path) -> Iterator[tuple[TestClient, ForwardingLane]]:
    url = f"postgresql://fleetcore_app@127.0.0.1:{_unused_port()}/fleetcore?connect_timeout=2"
    engine = make_engine(url, pool_size=2)
    app = create_app(Settings(fleetcore_env="test", fleetcore_data_dir=tmp_path / "data"), engine)
    try:
        with TestClient(app) as client:
            lane = app.middleware_stack
            while lane is not None and not isinstance(lane, ForwardingLane):
                lane = getattr(lane, "app", None)
            assert isinstance(lane, ForwardingLane)
            yield client, lane
    finally:
        engine.dispose()


NOW = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+00:00")
POSITION = {"position": {"id": 1, "deviceId": 3, "fixTime": NOW, "valid": True,
                         "latitude": 52.5, "longitude": 13.4, "speed": 0.0,
                         "attributes": {"odometer": 1_000_000.0}},
            "device": {"id": 3, "uniqueId": "down-1"}}
EVENT = {"event": {"id": 9, "deviceId": 3, "type": "deviceOverspeed", "eventTime": NOW,
                   "attributes": {"speed": 60.0}},
         "position": POSITION["position"], "device": {"id": 3, "uniqueId": "down-1"}}


def test_forwards_on_the_lanes_pool_answer_503_with_retry_after_when_the_database_is_away(
    down: tuple[TestClient, ForwardingLane],
) -> None:
    client, lane = down
    # The lifespan opened the lane's pool (not waiting for the database): the pool path.
    assert lane.pool is not None
    headers = {"Authorization": "Bearer fct_any-token", "X-Request-Id": "traccar-down-1"}
    for path, body in ((POSITIONS_PATH, POSITION), (EVENTS_PATH, EVENT)):
        _assert_503(client.post(path, json=body, headers=headers), path)
    # A client without a lifespan is served through the worker threads: the same answer (the
    # lane is outside the app's exception handlers and maps the database's absence itself).
    bare = TestClient(client.app)
    for path, body in ((POSITIONS_PATH, POSITION), (EVENTS_PATH, EVENT)):
        _assert_503(bare.post(path, json=body, headers=headers), path)
