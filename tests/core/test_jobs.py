"""The job queue: enqueued in the caller's transaction, run in the payload's tenant context,
retried with backoff, failed jobs listed and retried. Jobs need committed data, so each test
uses its own tenant and empties the queue around itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from procrastinate.jobs import Job
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from fleetcore.core.db import DbContext, context_session, session_factory
from fleetcore.core.email import EmailRateLimited, EmailRejected
from fleetcore.core.jobs import (
    Backoff,
    JobRun,
    defer_in_transaction,
    list_jobs,
    retry_failed_job,
    tenant_task,
)
from fleetcore.core.orm import new_id
from fleetcore.settings import Settings
from fleetcore.worker import run as run_worker

SEEN: list[dict[str, str]] = []


@tenant_task(name="tests.record_context", queue_name="tests")
def record_context(run: JobRun, *, marker: str) -> None:
    """Write a system task (RLS: only possible in the tenant's context) and note the context."""
    row = run.session.execute(text(
        "SELECT current_setting('app.tenant_id', true), current_setting('app.actor_type', true),"
        " current_setting('app.request_id', true)"
    )).one()
    SEEN.append({"marker": marker, "tenant": row[0], "actor": row[1], "request": row[2]})
    run.session.execute(
        text("INSERT INTO sch_tasks (tenant_id, id, title, source, dedup_key)"
             " VALUES (:t, :id, :title, 'system', :key)"),
        {"t": run.tenant_id, "id": new_id(), "title": f"job {marker}", "key": f"test:{marker}"},
    )


@tenant_task(name="tests.always_fails", queue_name="tests", retry=Backoff(max_attempts=1))
def always_fails(run: JobRun, *, marker: str) -> None:
    """Fails at once and for good."""
    raise RuntimeError(f"boom {marker}")


@pytest.fixture
def empty_queue(app_engine: Engine) -> Iterator[None]:
    def purge() -> None:
        with app_engine.begin() as conn:
            conn.execute(text("DELETE FROM procrastinate_jobs"))

    purge()
    SEEN.clear()
    yield
    purge()


@pytest.fixture
def tenant(app_engine: Engine) -> uuid.UUID:
    sessions = session_factory(app_engine)
    tenant_id = new_id()
    with context_session(sessions, DbContext.system()) as session:
        session.execute(
            text("INSERT INTO adm_tenants (id, name, slug, country, default_currency, timezone)"
                 " VALUES (:id, 'Jobs Cabs', :slug, 'FR', 'EUR', 'Europe/Paris')"),
            {"id": tenant_id, "slug": f"jobs-{tenant_id.hex[-12:]}"},
        )
    return tenant_id


def _drain(app_engine: Engine, test_database: Any, tmp_path: Path) -> None:
    settings = Settings(database_url=test_database.app_url, fleetcore_data_dir=tmp_path,
                        fleetcore_env="test")
    asyncio.run(run_worker(settings, app_engine, test_database.app_url, wait=False,
                           install_signal_handlers=False))


def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(
    app_engine: Engine, test_database: Any, tenant: uuid.UUID, empty_queue: None,
    tmp_path: Path,
) -> None:
    sessions = session_factory(app_engine)
    def change_that_fails() -> None:
        with context_session(sessions, DbContext.for_tenant(tenant)) as session:
            defer_in_transaction(session, record_context, tenant_id=tenant, marker="rolled-back")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        change_that_fails()
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        job_id = defer_in_transaction(session, record_context, tenant_id=tenant,
                                      marker="committed")

    _drain(app_engine, test_database, tmp_path)

    assert [s["marker"] for s in SEEN] == ["committed"]
    assert SEEN[0]["tenant"] == str(tenant)
    assert SEEN[0]["actor"] == "system"
    assert SEEN[0]["request"] == f"job-{job_id}"
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        titles = session.execute(text("SELECT title FROM sch_tasks")).scalars().all()
        # Succeeded jobs leave the queue; the rolled-back one was never in it.
        left = session.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one()
    assert titles == ["job committed"]
    assert left == 0


def test_a_tenant_job_must_carry_its_tenant(db: Session) -> None:
    with pytest.raises(ValueError, match="tenant_id"):
        defer_in_transaction(db, record_context, marker="no tenant")


def test_a_failed_job_is_listed_and_can_be_retried(
    app_engine: Engine, test_database: Any, tenant: uuid.UUID, empty_queue: None,
    tmp_path: Path,
) -> None:
    sessions = session_factory(app_engine)
    with context_session(sessions, DbContext.for_tenant(tenant)) as session:
        job_id = defer_in_transaction(session, always_fails, tenant_id=tenant, marker="x")
    _drain(app_engine, test_database, tmp_path)

    with sessions() as session, session.begin():
        failed = list_jobs(session, failed_only=True)
        assert [(j.id, j.task, j.status, j.tenant_id) for j in failed] == [
            (job_id, "tests.always_fails", "failed", str(tenant))
        ]
        retry_failed_job(session, job_id)
    with sessions() as session, session.begin():
        (job,) = list_jobs(session)
        # The failed run counted one attempt, the manual retry another.
        assert (job.status, job.attempts) == ("todo", 2)


def test_backoff_is_exponential_honours_retry_after_and_stops() -> None:
    strategy = Backoff(max_attempts=4, base=5, cap=60)

    def job(attempts: int) -> Job:
        return Job(id=1, queue="q", lock=None, queueing_lock=None, task_name="t",
                   task_kwargs={}, attempts=attempts)

    def wait(exc: Exception, attempts: int) -> float | None:
        decision = strategy.get_retry_decision(exception=exc, job=job(attempts))
        if decision is None:
            return None
        assert decision.retry_at is not None
        return (decision.retry_at - datetime.now(UTC)).total_seconds()

    waits = [wait(RuntimeError(), n) for n in range(3)]
    assert [round(w or 0) for w in waits] == [5, 10, 20]
    assert wait(RuntimeError(), 3) is None  # the 4th run was the last
    rate_limited = wait(EmailRateLimited("429", retry_after=42), 0)
    assert rate_limited is not None
    assert abs(rate_limited - 42) < 2
    assert wait(EmailRejected("422"), 0) is None
    assert Backoff(base=600, cap=900).get_retry_decision(
        exception=RuntimeError(), job=job(5)
    ).retry_at < datetime.now(UTC) + timedelta(seconds=901)  # type: ignore[union-attr]


def test_a_supervised_worker_stops_on_sigterm_instead_of_restarting(
    app_engine: Engine, test_database: Any, empty_queue: None, tmp_path: Path,
) -> None:
    """``fleetcore worker`` restarts its worker when the database goes away, but SIGTERM (or
    Ctrl+C) still ends it: the stop is not mistaken for an outage."""
    import os
    import signal

    from fleetcore.worker import WorkerHealth, WorkerState

    settings = Settings(database_url=test_database.app_url, fleetcore_data_dir=tmp_path,
                        fleetcore_env="test")
    health = WorkerHealth()

    async def run_then_terminate() -> None:
        worker = asyncio.create_task(run_worker(
            settings, app_engine, test_database.app_url, health=health,
            fetch_job_polling_interval=0.2,
        ))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if health.state is WorkerState.RUNNING:
                break
        assert health.state is WorkerState.RUNNING
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(worker, 20)

    asyncio.run(run_then_terminate())
    assert health.state is WorkerState.STOPPED
