"""Job workers: which tasks exist, which e-mail sender they use, and how a worker runs —
as its own process (``fleetcore worker``) or as a thread beside the API (``fleetcore serve``).

This is a composition root like ``app.py``: it may import integrations (the Resend sender) so
that services and jobs only ever see the ``core.email.EmailSender`` interface.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from concurrent.futures import Future
from pathlib import Path

from sqlalchemy import Engine

from fleetcore.core.db import session_factory
from fleetcore.core.email import EmailSender, OutboxEmailSender
from fleetcore.core.jobs import STALLED_AFTER_SECONDS, JobEnvironment, run_worker_async
from fleetcore.settings import Environment, PoolMode, Settings

logger = logging.getLogger(__name__)

TASK_MODULES: tuple[str, ...] = ("fleetcore.admin.jobs", "fleetcore.scheduling.jobs")
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
    """Sessions on the app-role engine, the chosen e-mail sender and the sender address."""
    return JobEnvironment(session_factory(engine), email_sender(settings), settings.email_from)


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
) -> None:
    """Run one worker on ``url`` (the app role) until it is stopped."""
    import_tasks()
    await run_worker_async(
        job_environment(settings, engine),
        url,
        concurrency=concurrency,
        wait=wait,
        install_signal_handlers=install_signal_handlers,
        stalled_after=stalled_after,
        fetch_job_polling_interval=fetch_job_polling_interval,
        prepare_threshold_off=settings.database_pool_mode is PoolMode.TRANSACTION,
    )


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
                run(self._settings, self._engine, self._url, install_signal_handlers=False)
            )
            self._started.set_result(None)
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except Exception:
            logger.exception("the in-process job worker stopped on an error")
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the worker to stop and wait for its thread."""
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("the job worker did not stop within %.0f s", timeout)
