"""Job workers: which tasks exist, which e-mail sender they use, and how a worker runs —
as its own process (``fleetcore worker``) or as a thread beside the API (``fleetcore serve``).

This is a composition root like ``app.py``: it may import integrations (the Resend sender) so
that services and jobs only ever see the ``core.email.EmailSender`` interface.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from fleetcore.core.db import session_factory
from fleetcore.core.email import EmailSender, OutboxEmailSender
from fleetcore.core.jobs import (
    STALLED_AFTER_SECONDS,
    JobEnvironment,
    procrastinate_conninfo,
    run_worker_async,
)
from fleetcore.settings import Environment, PoolMode, Settings

logger = logging.getLogger(__name__)

TASK_MODULES: tuple[str, ...] = (
    "fleetcore.admin.jobs", "fleetcore.scheduling.jobs", "fleetcore.trips.statement_jobs",
    "fleetcore.fleet.gps_jobs", "fleetcore.integrations.stripe.billing_jobs",
    "fleetcore.support.jobs", "fleetcore.crm.jobs")
"""Modules that register tasks on ``core.jobs.queue``; a worker imports them all."""


class EmailNotConfigured(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """Production needs RESEND_API_KEY: it never writes e-mail to a local outbox."""


def import_tasks() -> None:
    """Register every task (idempotent)."""
    for module in TASK_MODULES:
        importlib.import_module(module)


def email_sender(settings: Settings) -> EmailSender:
    """Resend when ``RESEND_API_KEY`` is set; otherwise, outside production, the outbox."""
    if settings.resend_api_key:
        from fleetcore.integrations.resend.client import ResendEmailSender

        return ResendEmailSender(settings.resend_api_key, api_url=settings.resend_api_url)
    if settings.fleetcore_env is Environment.PRODUCTION:
        raise EmailNotConfigured("Set RESEND_API_KEY: production does not write e-mail to disk.")
    return OutboxEmailSender(outbox_dir(settings))


def outbox_dir(settings: Settings) -> Path:
    """Where the development outbox writes .eml files."""
    return settings.fleetcore_data_dir / "outbox"


def job_environment(settings: Settings, engine: Engine) -> JobEnvironment:
    """Sessions on the app-role engine, the chosen e-mail sender and the sender address (and
    the help desk support jobs push to, ``SUPPORT_DESK``)."""
    from fleetcore.integrations.support_desk import desk_for
    from fleetcore.support import desk

    chosen = desk_for(settings)
    desk.install(lambda: chosen)
    return JobEnvironment(session_factory(engine), email_sender(settings), settings.email_from)


class WorkerState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


@dataclass
class WorkerHealth:
    """Where a supervised worker is (written by its loop, read by ``/readyz`` from another
    thread: one attribute, replaced whole)."""

    state: WorkerState = WorkerState.STARTING

    @property
    def healthy(self) -> bool:
        """Taking jobs right now."""
        return self.state is WorkerState.RUNNING


RECONNECT_FIRST_DELAY = 0.5
RECONNECT_MAX_DELAY = 5.0
"""Backoff between attempts to reach the database again: 0.5 s doubling up to 5 s, so a worker
is back within about 5 s of its database."""


async def database_answers(conninfo: str, *, timeout: float = 5.0) -> bool:
    """Whether a new connection to ``conninfo`` can be opened now."""
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=max(1, int(timeout)))
    except (psycopg.Error, OSError):
        return False
    await conn.close()
    return True


async def run(
    settings: Settings,
    engine: Engine,
    url: str,
    *,
    concurrency: int = 1,
    wait: bool = True,
    install_signal_handlers: bool = True,
    stalled_after: float = STALLED_AFTER_SECONDS,
    fetch_job_polling_interval: float = 5.0,
    health: WorkerHealth | None = None,
    reconnect_max_delay: float = RECONNECT_MAX_DELAY,
) -> None:
    """Run one worker on ``url`` (the app role) until it is stopped.

    When the database goes away (a restart, a failover, a network cut), procrastinate's worker
    stops itself; this loop then waits for the database with backoff and starts a new one, so
    the worker outlives any outage. The outage is logged once when it starts and once when it
    ends. ``wait=False`` (drain the queue and return) runs once, without restarts.
    """
    import_tasks()
    health = health if health is not None else WorkerHealth()
    environment = job_environment(settings, engine)
    outage_started: float | None = None

    def ready() -> None:
        nonlocal outage_started
        if outage_started is not None:
            logger.warning("the job worker is back on the database after %.1f s",
                           time.monotonic() - outage_started)
            outage_started = None
        health.state = WorkerState.RUNNING

    def lost(reason: str) -> None:
        nonlocal outage_started
        health.state = WorkerState.RECONNECTING
        if outage_started is None:
            outage_started = time.monotonic()
            logger.warning("the job worker lost the database (%s); reconnecting", reason)

    async def run_once() -> None:
        await run_worker_async(
            environment,
            url,
            concurrency=concurrency,
            wait=wait,
            install_signal_handlers=False,
            stalled_after=stalled_after,
            fetch_job_polling_interval=fetch_job_polling_interval,
            prepare_threshold_off=settings.database_pool_mode is PoolMode.TRANSACTION,
            on_ready=ready,
        )

    if not wait:
        await run_once()
        return
    stop = _stop_on_signals() if install_signal_handlers else None
    conninfo = procrastinate_conninfo(url)
    side_task_failures = _SideTaskFailures(lost)
    logging.getLogger("procrastinate").addHandler(side_task_failures)
    try:
        while True:
            try:
                await run_once()
                reason = "a task of the worker lost its connection"
            except Exception as exc:  # any failure: the worker is restarted, never abandoned
                reason = f"{type(exc).__name__}: {exc}".strip()
            if stop is not None and stop.is_set():
                return
            lost(reason)
            await _wait_for_database(conninfo, reconnect_max_delay)
    except asyncio.CancelledError:
        if stop is None or not stop.is_set():
            raise
    finally:
        logging.getLogger("procrastinate").removeHandler(side_task_failures)
        health.state = WorkerState.STOPPED


class _SideTaskFailures(logging.Handler):
    """Procrastinate reports that a task of its worker failed (its listener lost the
    connection) only in a log record, then takes seconds to stop (it waits for its pool to hand
    out a connection to unregister): the record marks the worker as reconnecting at once, so
    ``/readyz`` does not call it running meanwhile. Only records of this worker's thread."""

    def __init__(self, on_failure: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self._on_failure = on_failure

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread and getattr(record, "action", None) == "side_task_failed":
            self._on_failure(f"its {getattr(record, 'task_name', 'side')} task failed")


async def _wait_for_database(conninfo: str, max_delay: float) -> None:
    """Sleep with exponential backoff (and jitter) until the database accepts a connection."""
    attempt = 0
    while True:
        delay = min(RECONNECT_FIRST_DELAY * 2**attempt, max_delay)
        await asyncio.sleep(delay * random.uniform(0.8, 1.0))  # noqa: S311 - jitter, not secrets
        attempt += 1
        if await database_answers(conninfo):
            return


def _stop_on_signals() -> asyncio.Event:
    """SIGINT/SIGTERM cancel the running worker (it finishes or gives back its job) and mark
    the stop as asked for, so the supervising loop ends instead of restarting it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def on_signal() -> None:
        if stop.is_set():
            return
        logger.info("stopping the job worker")
        stop.set()
        if task is not None:
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on this platform
            loop.add_signal_handler(signum, on_signal)
    return stop


class BackgroundWorker:
    """A worker on its own thread and event loop, stopped cleanly by :meth:`stop`.

    ``fleetcore serve`` runs one so that the embedded setup needs no second process.
    Stopping cancels the worker, which finishes (or, past the grace period, gives back) the
    job in progress, and unregisters itself before the database is stopped.
    """

    def __init__(self, settings: Settings, engine: Engine, url: str) -> None:
        self._settings, self._engine, self._url = settings, engine, url
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.health = WorkerHealth()
        self._started: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, name="fleetcore-worker", daemon=True)

    def start(self) -> None:
        """Start the thread and wait until the worker's loop is running."""
        import_tasks()
        email_sender(self._settings)  # fail fast on configuration, in the caller's thread
        self._thread.start()
        self._started.result(timeout=30)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(
                run(self._settings, self._engine, self._url, install_signal_handlers=False,
                    health=self.health)
            )
            self._started.set_result(None)
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("the in-process job worker stopped on an error")
        finally:
            self.health.state = WorkerState.STOPPED
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    @property
    def healthy(self) -> bool:
        """Taking jobs (``/readyz`` answers 503 otherwise)."""
        return self.health.healthy and self._thread.is_alive()

    @property
    def state(self) -> str:
        """``starting``, ``running``, ``reconnecting`` or ``stopped``."""
        return self.health.state.value if self._thread.is_alive() else WorkerState.STOPPED.value

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the worker to stop and wait for its thread."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the job worker did not stop within %.0f s", timeout)
