"""PostgreSQL restarted under a running Fleetcore: 503 problems while it is away, then recovery.

A private embedded server (never ``DATABASE_URL``: this test stops and starts it), migrated,
with the app served over real HTTP by uvicorn on a thread and the in-process job worker of
``fleetcore serve``. While the server is down every kind of route — ``/v1`` API, a webhook,
the console and ``/readyz`` — answers ``503`` with ``Retry-After`` (problem+json, or a page in
the console), never a 500 or a reset connection. Once it is back the API answers within a few
seconds and the worker runs a job deferred after the restart.
"""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, text
from svix.webhooks import Webhook

from api_support import AZP
from fleetcore.admin import service
from fleetcore.admin.models import Member
from fleetcore.admin.schemas import OwnerInvitation, TenantProvision
from fleetcore.app import create_app
from fleetcore.core import embedded as embedded_pg
from fleetcore.core.auth import mint_session_token, public_key_pem
from fleetcore.core.db import DbContext, context_session, make_engine, session_factory
from fleetcore.core.errors import PROBLEM_MEDIA_TYPE
from fleetcore.core.jobs import JobRun, defer_in_transaction, system_task
from fleetcore.core.migrations import upgrade_to_head
from fleetcore.settings import Settings
from fleetcore.worker import BackgroundWorker

pytestmark = pytest.mark.slow

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"fleetcore-restart-test-webhook-key").decode()
RECOVERY_SECONDS = 10.0

_ran: list[str] = []
_ran_event = threading.Event()


@system_task(name="tests.database_restart.mark")
def mark(run: JobRun, *, marker: str) -> None:
    """Record that the worker ran the job (outside the database, which is what is tested)."""
    run.session.execute(text("SELECT 1"))
    _ran.append(marker)
    _ran_event.set()


@dataclass
class Running:
    server: embedded_pg.EmbeddedPostgres
    engine: Engine
    base: str
    headers: dict[str, str]
    worker: BackgroundWorker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _provision(engine: Engine) -> tuple[str, str]:
    """A tenant whose owner can sign in: (clerk user id, clerk org id)."""
    tag = uuid.uuid4().hex[:10]
    with context_session(session_factory(engine), DbContext.system()) as session:
        tenant = service.provision_tenant(session, None, data=TenantProvision(
            name=f"Restart Cabs {tag}", slug=f"restart-{tag}", country="FR",
            default_currency="EUR", timezone="Europe/Paris",
            clerk_organization_id=f"org_{tag}", trial_days=14,
            owner=OwnerInvitation(email=f"owner-{tag}@example.com", first_name="Olive"),
        ))
        service.seed_system_roles(session, tenant.id)
        owner = session.query(Member).filter_by(tenant_id=tenant.id).one()
        owner.clerk_user_id = f"user_{tag}_owner"
        owner.status = "active"
    return f"user_{tag}_owner", f"org_{tag}"


@pytest.fixture
def running(signing_key: str) -> Iterator[Running]:
    # Not under pytest's tmp_path: a concurrent pytest run of the same user resets its root to
    # mode 0700, which locks the server's unprivileged user (as root) out of its data dir.
    tmp_path = Path(tempfile.mkdtemp(prefix="fleetcore-restart-"))
    server = embedded_pg.EmbeddedPostgres(tmp_path / "pgdata")
    server.start()
    engine: Engine | None = None
    worker: BackgroundWorker | None = None
    uvicorn_server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        upgrade_to_head(server.url(embedded_pg.OWNER_ROLE), app_role=embedded_pg.APP_ROLE)
        engine = make_engine(server.url(embedded_pg.APP_ROLE), pool_size=4)
        user, org = _provision(engine)
        settings = Settings(
            fleetcore_env="test", fleetcore_data_dir=tmp_path / "data",
            clerk_jwt_key=public_key_pem(signing_key), clerk_authorized_parties=[AZP],
            resend_webhook_secret=WEBHOOK_SECRET,
        )
        app = create_app(settings, engine)
        worker = BackgroundWorker(settings, engine, server.url(embedded_pg.APP_ROLE))
        worker.start()
        app.state.job_worker = worker
        port = _free_port()
        uvicorn_server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=uvicorn_server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not uvicorn_server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        token = mint_session_token(signing_key, user_id=user, org_id=org, authorized_party=AZP)
        yield Running(server, engine, f"http://127.0.0.1:{port}",
                      {"Authorization": f"Bearer {token}"}, worker)
    finally:
        if uvicorn_server is not None:
            uvicorn_server.should_exit = True
        if thread is not None:
            thread.join(10)
        if worker is not None:
            worker.stop()
        if engine is not None:
            engine.dispose()
        server.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


def _webhook(delivery_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "email.delivered", "created_at": "2026-11-24T10:00:00.000Z",
                       "data": {"email_id": str(uuid.uuid4()), "to": ["a@x.test"]}}).encode()
    now = datetime.now(UTC)
    signature = Webhook(WEBHOOK_SECRET).sign(delivery_id, now, body.decode())
    return body, {"svix-id": delivery_id, "svix-timestamp": str(int(now.timestamp())),
                  "svix-signature": signature, "content-type": "application/json"}


def _requests(r: Running) -> dict[str, Callable[[httpx.Client], httpx.Response]]:
    """One request of each kind of route, each reaching the database."""
    cookie = {"Cookie": f"__session={r.headers['Authorization'].removeprefix('Bearer ')}"}

    def webhook(client: httpx.Client) -> httpx.Response:
        body, headers = _webhook(f"msg_{uuid.uuid4().hex}")
        return client.post("/webhooks/resend", content=body, headers=headers)

    return {
        "GET /v1/me": lambda c: c.get("/v1/me", headers=r.headers),
        "GET /v1/vehicles": lambda c: c.get("/v1/vehicles", headers=r.headers),
        "POST /v1/vehicles": lambda c: c.post("/v1/vehicles", headers=r.headers, json={
            "make_id": str(uuid.uuid4()), "licence_plate": f"AB-{uuid.uuid4().int % 1000:03d}",
            "country": "FR", "year": 2024, "fuel_type": "hybrid", "ownership_type": "leased"}),
        "POST /webhooks/resend": webhook,
        "GET /app": lambda c: c.get("/app", headers=cookie),
    }


def _defer_mark(engine: Engine, marker: str) -> None:
    with context_session(session_factory(engine), DbContext.system()) as session:
        defer_in_transaction(session, mark, marker=marker)


def _wait_for(condition: Callable[[], bool], seconds: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def test_a_database_restart_gives_503s_then_the_app_and_its_worker_recover(
    running: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="fleetcore")
    requests = _requests(running)
    # The first request of a process builds FastAPI's route table (seconds when the machine is
    # loaded); the timeout is the client's patience, not a latency target.
    with httpx.Client(base_url=running.base, timeout=30) as client:

        def ready() -> bool:
            return client.get("/readyz").status_code == 200

        assert _wait_for(ready, 15) is not None, client.get("/readyz").text
        for name, send in requests.items():
            assert send(client).status_code < 500, name
        _ran_event.clear()
        _defer_mark(running.engine, "before")
        assert _ran_event.wait(15)
        assert "before" in _ran

        running.server.stop()
        assert not running.server.is_running()
        for round_ in range(2):  # the pool's connections die first, then new ones are refused
            for name, send in requests.items():
                response = send(client)  # a reset connection would raise here
                assert response.status_code == 503, (round_, name, response.text[:300])
                assert int(response.headers["retry-after"]) > 0, name
                if name == "GET /app":
                    assert response.headers["content-type"].startswith("text/html")
                else:
                    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, name
                    assert response.json()["status"] == 503
            readyz = client.get("/readyz")
            assert readyz.status_code == 503
            assert readyz.headers["retry-after"]
        time.sleep(1.5)  # long enough for the worker to notice and start reconnecting

        running.server.start()
        recovered = _wait_for(lambda: requests["GET /v1/me"](client).status_code == 200,
                              RECOVERY_SECONDS)
        assert recovered is not None, "the API did not answer within 10 s of the database"
        for name, send in requests.items():
            assert send(client).status_code < 500, name
        assert _wait_for(ready, 15) is not None, client.get("/readyz").text

        _ran_event.clear()
        _defer_mark(running.engine, "after")
        assert _ran_event.wait(15), "the worker did not run a job deferred after the restart"
        assert running.worker.healthy

    lost = [r for r in caplog.records if "job worker lost the database" in r.getMessage()]
    back = [r for r in caplog.records if "job worker is back" in r.getMessage()]
    messages = [r.getMessage() for r in caplog.records]
    assert len(lost) == 1, messages
    assert len(back) == 1, messages
