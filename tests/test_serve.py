"""``fleetcore serve`` end to end, as a new user runs it: a real process on the embedded database.

Starts the installed console script with no DATABASE_URL on an empty data dir, waits for
/readyz, checks the demo tenants exist, stops it with SIGTERM and checks that nothing is left
running on the data dir. Then a warm restart reuses the data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from fleetcore.core.embedded import APP_ROLE, DATABASE

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fleetcore() -> str:
    found = shutil.which("fleetcore", path=str(Path(sys.executable).parent))
    assert found, "the fleetcore console script is installed with the package"
    return found


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env["FLEETCORE_DATA_DIR"] = str(data_dir)
    return subprocess.Popen(
        [_fleetcore(), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(process: subprocess.Popen[bytes], port: int, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    pytest.fail("serve did not become ready")


def _stop(process: subprocess.Popen[bytes]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("serve did not stop within 30 s of SIGTERM")
    return process.stdout.read().decode() if process.stdout else ""


def _processes_on(data_dir: Path, grace: float = 5.0) -> list[str]:
    """Processes still naming ``data_dir`` once ``grace`` seconds have passed.

    A backend can take a moment to exit after its postmaster has answered the stop on a
    loaded machine; one still there after the grace period is a leak.
    """
    deadline = time.monotonic() + grace
    while True:
        result = subprocess.run(
            ["pgrep", "-a", "-f", "--", str(data_dir)],
            capture_output=True,
            text=True,
            check=False,
        )
        left = result.stdout.splitlines()
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def test_serve_starts_on_the_embedded_database_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    process = _serve(data_dir, port)
    try:
        _wait_ready(process, port)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["status"] == "ok"
        # The first /openapi.json builds the whole document (seconds on a loaded machine).
        assert httpx.get(f"http://127.0.0.1:{port}/openapi.json",
                         timeout=60).status_code == 200
        socket_dir = data_dir / "postgres"
        conninfo = f"host={socket_dir} user={APP_ROLE} dbname={DATABASE}"
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT set_config('app.context', 'provider', true)")
            slugs = {r[0] for r in conn.execute("SELECT slug FROM adm_tenants")}
        assert {"lumiere-vtc", "thames-private-hire"} <= slugs
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    assert "Applying database migrations" in output
    assert "Creating the demo tenants" in output
    assert f"Console:   http://127.0.0.1:{port}/app" in output
    assert _processes_on(data_dir) == []

    # Warm restart: same data, no first-run steps.
    process = _serve(data_dir, port)
    try:
        _wait_ready(process, port)
    finally:
        output = _stop(process)
    assert process.returncode == 0, output
    assert "Creating the demo tenants" not in output
    assert _processes_on(data_dir) == []
