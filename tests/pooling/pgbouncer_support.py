"""A private PgBouncer in transaction mode in front of the test database.

Debian's ``pgbouncer`` package (``.ci/run`` installs it) provides the binary; it is never run
as the system service: each test session starts its own process, with its own ini and userlist
in a temporary directory, listening on a free port of 127.0.0.1. A missing binary fails the
tests that need it (no skip): the pooling tests are the only proof that
``DATABASE_POOL_MODE=transaction`` works behind a real pooler.

``default_pool_size`` is small on purpose (:data:`SERVER_CONNECTIONS`): clients outnumber server
connections, so every server connection really is shared between clients, transaction after
transaction — the situation in which a session-level setting or a prepared statement would
leak or go missing. PgBouncer refuses to run as root: as root it runs as the unprivileged
system user of the embedded server.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from fleetcore.core import embedded as embedded_pg
from fleetcore.core.db import normalise_url

SERVER_CONNECTIONS = 2
"""Server connections PgBouncer opens to the database (per user and database)."""

PASSWORD = "fleetcore-test"
"""Password of the test roles at PgBouncer (SCRAM), and at the server when it asks for one."""


class PgBouncerMissing(RuntimeError):  # noqa: N818 - reads as the condition it reports
    """The ``pgbouncer`` binary is not installed."""


def find_pgbouncer() -> str:
    """Path of the ``pgbouncer`` binary (Debian installs it in /usr/sbin)."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")
    if found is None:
        raise PgBouncerMissing(
            "pgbouncer is not installed: the transaction-pooling tests need it "
            "(apt-get install -y --no-install-recommends pgbouncer; .ci/run does it as root)."
        )
    return found


def _version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"(\d+)\.(\d+)", out.stdout)
    return tuple(int(part) for part in match.groups()) if match else (0, 0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_unprivileged_user() -> dict[str, object]:
    """``subprocess`` arguments that drop root to the embedded server's system user."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return {}
    uid, gid = embedded_pg._ensure_system_user()
    return {"user": uid, "group": gid, "extra_groups": []}


@dataclass
class PgBouncer:
    """PgBouncer in transaction mode in front of the database of ``server_url``."""

    server_url: str
    """A URL of the test database (any role): where PgBouncer connects to."""
    pool_size: int = SERVER_CONNECTIONS
    port: int = 0
    directory: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def database(self) -> str:
        name = make_url(normalise_url(self.server_url)).database
        assert name, self.server_url
        return name

    def url(self, role: str = embedded_pg.APP_ROLE) -> str:
        """A SQLAlchemy URL of ``role`` through PgBouncer."""
        url = make_url(normalise_url(self.server_url)).set(
            username=role, password=PASSWORD, host="127.0.0.1", port=self.port,
            query={},
        )
        return url.render_as_string(hide_password=False)

    def conninfo(self, role: str = embedded_pg.APP_ROLE) -> str:
        """A libpq URL of ``role`` through PgBouncer (for raw psycopg connections)."""
        return make_url(self.url(role)).set(drivername="postgresql").render_as_string(
            hide_password=False)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        binary = find_pgbouncer()
        drop_root = _as_unprivileged_user()
        self.directory = Path(tempfile.mkdtemp(prefix="fleetcore-pgbouncer-"))
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between choosing and binding
            self.port = _free_port()
            ini = self._write_config(_version(binary), drop_root)
            self._process = subprocess.Popen(
                [binary, str(ini)], cwd=self.directory, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                **drop_root,  # type: ignore[call-overload]
            )
            last_error = self._wait_until_ready()
            if not last_error:
                return
            self.stop(remove=False)
        raise RuntimeError(f"PgBouncer did not start: {last_error}")

    def stop(self, *, remove: bool = True) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: immediate shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if remove and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log(self) -> str:
        assert self.directory is not None
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- internals --------------------------------------------------------------------------
    def _write_config(self, version: tuple[int, ...], drop_root: dict[str, object]) -> Path:
        assert self.directory is not None
        server = make_url(normalise_url(self.server_url))
        host = server.host or str(server.query.get("host", "")) or "127.0.0.1"
        port = server.port or 5432
        roles = (embedded_pg.APP_ROLE, embedded_pg.OWNER_ROLE)
        (self.directory / "userlist.txt").write_text(
            "".join(f'"{role}" "{PASSWORD}"\n' for role in roles))
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "scram-sha-256",
            "auth_file": str(self.directory / "userlist.txt"),
            "pool_mode": "transaction",
            "default_pool_size": str(self.pool_size),
            "min_pool_size": "0",
            "reserve_pool_size": "0",
            "max_client_conn": "500",
            "ignore_startup_parameters": "extra_float_digits",
            "logfile": str(self.directory / "pgbouncer.log"),
            "pidfile": str(self.directory / "pgbouncer.pid"),
            "log_connections": "0",
            "log_disconnections": "0",
        }
        if version >= (1, 21):
            # Newer PgBouncers can track protocol-level prepared statements; keep that off, as
            # in PgBouncer < 1.21 and Supavisor: the app must not rely on it.
            settings["max_prepared_statements"] = "0"
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{self.database} = host={host} port={port} dbname={self.database}\n\n"
            "[pgbouncer]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
        )
        if drop_root:
            uid, gid = drop_root["user"], drop_root["group"]
            assert isinstance(uid, int)
            assert isinstance(gid, int)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, uid, gid)
        return ini

    def _wait_until_ready(self) -> str:
        """'' once a query passes through PgBouncer; otherwise why not."""
        assert self._process is not None
        deadline = time.monotonic() + 20
        error = ""
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return f"exited with {self._process.returncode}: {self.log()[-2000:]}"
            with contextlib.suppress(psycopg.OperationalError):
                with psycopg.connect(self.conninfo(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return ""
            error = "no answer within 20 s"
            time.sleep(0.1)
        return f"{error}: {self.log()[-2000:]}"
