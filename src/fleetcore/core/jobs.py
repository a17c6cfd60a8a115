"""Background jobs on procrastinate, over the same PostgreSQL.

* **Enqueue in the caller's transaction.** :func:`defer_in_transaction` calls procrastinate's
  ``procrastinate_defer_jobs_v1`` SQL function through the caller's SQLAlchemy session, so the
  job row is written by the same connection and transaction as the change that causes it: a
  rolled-back change never runs its job, a committed one always does.
* **Tenant context per job.** Every payload of a tenant job carries ``tenant_id``; the runner
  opens ONE transaction with ``DbContext.for_tenant(tenant_id, actor_type=SYSTEM)`` bound
  (:func:`fleetcore.core.db.context_session`) and passes the session to the job, so RLS
  applies to jobs exactly as to requests. All-tenant jobs (:func:`system_task`) run in the
  audited provider context.
* **Retries with exponential backoff** (:class:`Backoff`), honouring a provider's
  ``retry-after`` (an exception with a ``retry_after`` attribute) and never retrying an
  exception marked ``permanent``.
* **A killed worker's jobs are retried**: :func:`retry_stalled_jobs` runs when a worker starts
  and every minute, and puts back the running jobs of workers whose heartbeat stopped.

Task modules register on :data:`queue` (``fleetcore.admin.jobs``…); ``fleetcore.worker``
imports them, picks the e-mail sender, and runs workers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from procrastinate import App, BaseRetryStrategy, JobContext, PsycopgConnector, RetryDecision
from procrastinate.app import WorkerOptions
from procrastinate.jobs import Job
from procrastinate.tasks import Task
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

from fleetcore.core.db import ActorType, DbContext, context_session, normalise_url
from fleetcore.core.email import EmailSender
from fleetcore.core.errors import Conflict, NotFound
from fleetcore.core.observability import JOB_SECONDS, JOBS_TOTAL, log_context

logger = logging.getLogger(__name__)

ENVIRONMENT_KEY = "fleetcore"
"""Key of the :class:`JobEnvironment` in the worker's ``additional_context``."""

STALLED_AFTER_SECONDS = 60.0
"""A running job whose worker sent no heartbeat for this long is retried."""

QUEUE_POOL_TIMEOUT_SECONDS = 5.0
"""How long the worker waits for a connection of its queue pool (jobs themselves use the app's
engine, so it is never busy for long). Bounded, so that a worker stopping after losing the
database gives up unregistering within seconds instead of waiting for its pool's reconnection
backoff, and is restarted as soon as the database answers (``fleetcore.worker.run``)."""

queue = App(connector=PsycopgConnector())
"""The procrastinate app every task registers on; :func:`run_worker_async` gives it a
connector."""

_TENANT_TASKS: set[str] = set()


# -- retries -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff(BaseRetryStrategy):
    """Exponential backoff ``base * 2**attempt`` capped at ``cap`` seconds, ``max_attempts``
    runs in all; a ``retry_after`` on the exception (HTTP 429) is honoured instead."""

    max_attempts: int = 8
    base: float = 5.0
    cap: float = 3600.0

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        """When to run ``job`` again after ``exception``, or None to fail it."""
        if getattr(exception, "permanent", False) or job.attempts + 1 >= self.max_attempts:
            return None
        retry_after = getattr(exception, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            wait = float(retry_after)
        else:
            wait = min(self.base * 2**job.attempts, self.cap)
        return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=wait))


DEFAULT_RETRY = Backoff()


# -- environment and runner ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobEnvironment:
    """What jobs need from the process: database sessions and the e-mail sender."""

    sessions: sessionmaker[Session]
    email_sender: EmailSender
    email_from: str = "Fleetcore <no-reply@fleetcore.localhost>"


@dataclass(slots=True)
class JobRun:
    """One run of one job: its session (tenant context bound), environment and attempt."""

    session: Session
    environment: JobEnvironment
    job_id: int
    attempts: int
    max_attempts: int
    tenant_id: uuid.UUID | None
    error_after_commit: BaseException | None = field(default=None)

    @property
    def is_last_attempt(self) -> bool:
        """No retry follows if this run fails."""
        return self.attempts + 1 >= self.max_attempts

    def fail_after_commit(self, error: BaseException) -> None:
        """Commit what the job wrote (e.g. attempts, last error), then fail with ``error``,
        so procrastinate retries it."""
        self.error_after_commit = error


JobFunction = Callable[..., None]


def _run(
    name: str,
    fn: JobFunction,
    context: JobContext,
    db_context: DbContext,
    retry: Backoff,
    kwargs: dict[str, Any],
) -> None:
    environment = context.additional_context.get(ENVIRONMENT_KEY)
    if not isinstance(environment, JobEnvironment):
        raise RuntimeError("The worker was started without a JobEnvironment (fleetcore.worker).")
    job = context.job
    assert job.id is not None
    started = time.perf_counter()
    with log_context(request_id=f"job-{job.id}", tenant_id=db_context.tenant_id,
                     actor=ActorType.SYSTEM.value):
        try:
            with context_session(environment.sessions, db_context) as session:
                run = JobRun(session, environment, job.id, job.attempts, retry.max_attempts,
                             db_context.tenant_id)
                fn(run, **kwargs)
            if run.error_after_commit is not None:
                raise run.error_after_commit
        except BaseException:
            JOBS_TOTAL.labels(name, "failed").inc()
            logger.exception("job %s #%s failed (attempt %s)", name, job.id, job.attempts + 1)
            raise
        else:
            JOBS_TOTAL.labels(name, "succeeded").inc()
        finally:
            JOB_SECONDS.labels(name).observe(time.perf_counter() - started)


def tenant_task(
    *, name: str, queue_name: str = "default", retry: Backoff = DEFAULT_RETRY
) -> Callable[[JobFunction], Task[Any, Any, Any]]:
    """Register ``fn(run: JobRun, **kwargs)`` as a task run in the payload's tenant context.

    Defer it with :func:`defer_in_transaction` (``tenant_id`` is required).
    """

    def decorate(fn: JobFunction) -> Task[Any, Any, Any]:
        def run_in_tenant(context: JobContext, /, *, tenant_id: str, **kwargs: Any) -> None:
            db_context = DbContext.for_tenant(
                uuid.UUID(tenant_id), actor_type=ActorType.SYSTEM,
                request_id=f"job-{context.job.id}",
            )
            _run(name, fn, context, db_context, retry, kwargs)

        run_in_tenant.__name__ = run_in_tenant.__qualname__ = fn.__name__
        run_in_tenant.__doc__ = fn.__doc__
        task: Task[Any, Any, Any] = queue.task(
            name=name, queue=queue_name, retry=retry, pass_context=True
        )(run_in_tenant)
        _TENANT_TASKS.add(name)
        return task

    return decorate


def system_task(
    *,
    name: str,
    queue_name: str = "default",
    retry: Backoff = DEFAULT_RETRY,
    cron: str | None = None,
) -> Callable[[JobFunction], Task[Any, Any, Any]]:
    """Register an all-tenant job run in the provider context (optionally periodic: ``cron``,
    with the scheduled ``timestamp`` passed as a keyword)."""

    def decorate(fn: JobFunction) -> Task[Any, Any, Any]:
        def run_as_system(context: JobContext, /, **kwargs: Any) -> None:
            db_context = DbContext.system(request_id=f"job-{context.job.id}")
            _run(name, fn, context, db_context, retry, kwargs)

        run_as_system.__name__ = run_as_system.__qualname__ = fn.__name__
        run_as_system.__doc__ = fn.__doc__
        task: Task[Any, Any, Any] = queue.task(
            name=name, queue=queue_name, retry=retry, pass_context=True
        )(run_as_system)
        if cron is not None:
            queue.periodic(cron=cron, periodic_id=name)(task)
        return task

    return decorate


# -- deferring -----------------------------------------------------------------------------

_DEFER = text(
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY("
    "  SELECT ROW(:queue, :task, :priority, :lock, NULL, payload,"
    "             CAST(:scheduled_at AS timestamptz))::procrastinate_job_to_defer_v1"
    "  FROM jsonb_array_elements(CAST(:payloads AS jsonb)) WITH ORDINALITY AS p(payload, n)"
    "  ORDER BY n"
    "))) AS id"
)


def _json_ready(value: Any) -> Any:
    if isinstance(value, uuid.UUID | datetime):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


def defer_many_in_transaction(
    session: Session,
    task: Task[Any, Any, Any],
    payloads: Sequence[Mapping[str, Any]],
    *,
    scheduled_at: datetime | None = None,
    lock: str | None = None,
) -> list[int]:
    """Enqueue one job of ``task`` per payload in ``session``'s transaction (one statement).

    Payloads are job arguments; a tenant task's payload must carry ``tenant_id``. They hold
    ids, never personal data: the queue tables are not under row-level security.
    """
    if not payloads:
        return []
    documents = [{k: _json_ready(v) for k, v in p.items()} for p in payloads]
    if task.name in _TENANT_TASKS and any("tenant_id" not in d for d in documents):
        raise ValueError(f"every payload of {task.name} must carry tenant_id")
    rows = session.execute(
        _DEFER,
        {
            "queue": task.queue,
            "task": task.name,
            "priority": task.priority,
            "lock": lock or task.lock,
            "scheduled_at": scheduled_at,
            "payloads": json.dumps(documents),
        },
    )
    return [int(r) for r in rows.scalars()]


def defer_in_transaction(
    session: Session,
    task: Task[Any, Any, Any],
    *,
    scheduled_at: datetime | None = None,
    **arguments: Any,
) -> int:
    """Enqueue one job of ``task`` in ``session``'s transaction; returns the job id."""
    return defer_many_in_transaction(session, task, [arguments], scheduled_at=scheduled_at)[0]


# -- worker --------------------------------------------------------------------------------


def procrastinate_conninfo(url: str) -> str:
    """A libpq URL for procrastinate's psycopg pool from a SQLAlchemy URL."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(
        hide_password=False
    )


async def retry_stalled_jobs_async(app: App, *, stalled_after: float = STALLED_AFTER_SECONDS
                                   ) -> list[int]:
    """Put back in the queue the running jobs of workers that stopped sending heartbeats."""
    retried = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        assert job.id is not None
        await app.job_manager.retry_job(job)
        retried.append(job.id)
    if retried:
        logger.warning("retried %d stalled jobs: %s", len(retried), retried)
    return retried


async def run_worker_async(
    environment: JobEnvironment,
    url: str,
    *,
    concurrency: int = 1,
    wait: bool = True,
    stalled_after: float = STALLED_AFTER_SECONDS,
    fetch_job_polling_interval: float = 5.0,
    install_signal_handlers: bool = True,
    prepare_threshold_off: bool = False,
    queues: Sequence[str] | None = None,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a worker until stopped (or, with ``wait=False``, until the queue is empty).

    ``prepare_threshold_off`` is for a worker behind a transaction-mode pooler
    (``DATABASE_POOL_MODE=transaction``): no prepared statements, and no LISTEN. The pooler
    gives the listening connection's server connection to other clients between statements, so
    a NOTIFY reaches whichever client holds it then, or none (PgBouncer drops it: "got packet
    'A' from server when not linked"); the worker finds new jobs by polling every
    ``fetch_job_polling_interval`` seconds instead (``tests/pooling``).

    ``on_ready`` is called once the worker has reached the database (its pool is open and the
    stalled jobs are put back), just before it starts taking jobs.
    """
    pool_kwargs: dict[str, Any] = {"prepare_threshold": None} if prepare_threshold_off else {}
    connector = PsycopgConnector(
        conninfo=procrastinate_conninfo(url),
        min_size=1,
        max_size=concurrency + 3,
        kwargs=pool_kwargs,
        timeout=QUEUE_POOL_TIMEOUT_SECONDS,
    )
    with queue.replace_connector(connector):
        async with queue.open_async():
            await retry_stalled_jobs_async(queue, stalled_after=stalled_after)
            if on_ready is not None:
                on_ready()
            options: WorkerOptions = {
                "concurrency": concurrency,
                "wait": wait,
                "fetch_job_polling_interval": fetch_job_polling_interval,
                "install_signal_handlers": install_signal_handlers,
                "listen_notify": not prepare_threshold_off,
                "update_heartbeat_interval": max(1.0, stalled_after / 6),
                "stalled_worker_timeout": stalled_after,
                "additional_context": {ENVIRONMENT_KEY: environment},
                # Finished jobs leave the queue; failed ones stay, for `fleetcore jobs`.
                "delete_jobs": "successful",
                "name": "fleetcore",
            }
            if queues:
                options["queues"] = list(queues)
            await queue.run_worker_async(**options)


@queue.task(name="fleetcore.retry_stalled_jobs", queue="default", pass_context=True)
async def _retry_stalled_jobs(context: JobContext, timestamp: int) -> None:
    await retry_stalled_jobs_async(context.app)


queue.periodic(cron="* * * * *", periodic_id="retry_stalled_jobs")(_retry_stalled_jobs)


# -- operations: list and retry --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSummary:
    """A job as an operator sees it."""

    id: int
    task: str
    status: str
    attempts: int
    tenant_id: str | None
    queue: str
    scheduled_at: datetime | None
    last_event_at: datetime | None


def list_jobs(
    session: Session,
    *,
    failed_only: bool = False,
    limit: int = 50,
    tenant_id: uuid.UUID | None = None,
) -> list[JobSummary]:
    """The newest jobs (or failed ones), newest first, with their tenant and last activity.

    The queue has no row-level security (a worker takes the next job of any tenant), so a
    tenant-facing caller passes ``tenant_id`` and sees only the jobs carrying it.
    """
    rows = session.execute(
        text(
            "SELECT j.id, j.task_name, j.status::text, j.attempts, j.args ->> 'tenant_id',"
            " j.queue_name, j.scheduled_at,"
            " (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id)"
            " FROM procrastinate_jobs j"
            " WHERE (NOT :failed_only OR j.status = 'failed')"
            " AND (CAST(:tenant AS text) IS NULL OR j.args ->> 'tenant_id' = :tenant)"
            " ORDER BY j.id DESC LIMIT :limit"
        ),
        {
            "failed_only": failed_only,
            "limit": limit,
            "tenant": str(tenant_id) if tenant_id else None,
        },
    )
    return [JobSummary(*row) for row in rows]


def retry_failed_job(session: Session, job_id: int, *, tenant_id: uuid.UUID | None = None) -> None:
    """Queue a failed job again, now (its attempts count goes on).

    With ``tenant_id``, another tenant's job is reported as not found.
    """
    status = session.execute(
        text(
            "SELECT status::text FROM procrastinate_jobs WHERE id = :id"
            " AND (CAST(:tenant AS text) IS NULL OR args ->> 'tenant_id' = :tenant) FOR UPDATE"
        ),
        {"id": job_id, "tenant": str(tenant_id) if tenant_id else None},
    ).scalar_one_or_none()
    if status is None:
        raise NotFound(f"No job {job_id}.")
    if status != "failed":
        raise Conflict(f"Job {job_id} is {status}; only failed jobs can be retried.")
    session.execute(
        text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"), {"id": job_id}
    )


def job_counts(session: Session) -> dict[str, int]:
    """Number of jobs per status."""
    rows = session.execute(
        text("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY status")
    )
    return {status: int(count) for status, count in rows}
