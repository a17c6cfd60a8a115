"""API benchmark: 32 concurrent authenticated clients against the real stack.

    python bench/api.py [--seconds 20] [--clients 32]

Starts ``fleetcore serve`` on a fresh embedded database with the demo data, mints a token for
the demo owner, and measures for each scenario (one after the other, each ``--seconds`` long):

* ``GET /v1/vehicles/{id}``   (random vehicle of the demo fleet)
* ``GET /v1/vehicles?limit=50``
* ``POST /v1/vehicle-expenses``

The baseline, measured in the same run: a bare Starlette endpoint doing the same primary-key
SELECT with the same driver (psycopg 3) and pool size, autocommit, no auth, no RLS (it connects
as the embedded server's superuser), served by the same uvicorn. Targets (quality.md): reads
≥ 60% of the baseline's requests/s; p99 < 25 ms for reads and < 50 ms for writes; 0 errors.

The load generator runs in this process (httpx, asyncio) on the same 2 cores as the servers,
so absolute figures are lower than with a separate load machine; the ratio is what counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from fleetcore.core.embedded import EmbeddedPostgres


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise SystemExit(f"{name} not found: install Fleetcore first (README)")
    return found


def _wait(
    url: str, process: subprocess.Popen[bytes], timeout: float = 180, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise SystemExit(f"server exited early with {process.returncode}\n{tail}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} not ready in {timeout} s")


BASELINE_APP = textwrap.dedent(
    """
    import os
    from contextlib import asynccontextmanager
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pool = AsyncConnectionPool(os.environ["BENCH_CONNINFO"], min_size=10, max_size=20,
                               kwargs={"autocommit": True}, open=False)

    async def vehicle(request):
        async with pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT id, licence_plate, vin, status, version FROM flt_vehicles"
                " WHERE tenant_id = %s AND id = %s",
                (request.query_params["t"], request.path_params["vid"]))).fetchone()
        return JSONResponse({"id": str(row[0]), "licence_plate": row[1], "vin": row[2],
                             "status": row[3], "version": row[4]})

    @asynccontextmanager
    async def lifespan(app):
        await pool.open()
        yield
        await pool.close()

    app = Starlette(routes=[Route("/vehicles/{vid}", vehicle)], lifespan=lifespan)
    """
)


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self) -> str:
        return (f"{self.name:<34} {self.rps:>8.0f} req/s   p50 {self.percentile(50):6.1f} ms"
                f"   p99 {self.percentile(99):6.1f} ms   errors {self.errors}")


async def _load(
    name: str, base: str, clients: int, seconds: float, make_request: object
) -> Result:
    latencies: list[float] = []
    errors = 0
    count = 0
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:

        async def worker(seed: int) -> None:
            nonlocal errors, count
            rng = random.Random(seed)
            while time.monotonic() < stop_at:
                method, url, kwargs, ok = make_request(rng)  # type: ignore[operator]
                started = time.perf_counter()
                try:
                    response = await client.request(method, url, **kwargs)
                    good = response.status_code == ok
                except httpx.HTTPError:
                    good = False
                latencies.append((time.perf_counter() - started) * 1000)
                count += 1
                if not good:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.monotonic() - started
    return Result(name, count, errors, elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-api-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(FLEETCORE_DATA_DIR=str(work / "data"), FLEETCORE_ENV="development",
               FLEETCORE_LOG_LEVEL="WARNING")
    port, base_port = _free_port(), _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print("starting fleetcore serve (embedded database, demo data)…", flush=True)
        serve = subprocess.Popen(
            [_bin("fleetcore"), "serve", "--port", str(port), "--no-worker"],
            env=env, stdout=(work / "serve.log").open("wb"), stderr=subprocess.STDOUT,
        )
        processes.append(serve)
        _wait(f"http://127.0.0.1:{port}/readyz", serve, log=work / "serve.log")
        token = subprocess.run(
            [_bin("fleetcore"), "token"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {token}"}

        socket_dir = work / "data" / "postgres"
        conninfo = f"host={socket_dir} user=postgres dbname=fleetcore"
        with psycopg.connect(conninfo) as conn:
            tenant = conn.execute(
                "SELECT id FROM adm_tenants WHERE slug = 'lumiere-vtc'").fetchone()[0]
            vehicles = [r[0] for r in conn.execute(
                "SELECT id FROM flt_vehicles WHERE tenant_id = %s", (tenant,))]

        app_file = work / "baseline_app.py"
        app_file.write_text(BASELINE_APP)
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(base_port),
             "--log-level", "warning"],
            cwd=work, env={**env, "BENCH_CONNINFO": conninfo},
            stdout=(work / "baseline.log").open("wb"), stderr=subprocess.STDOUT,
        )
        processes.append(baseline)
        _wait(f"http://127.0.0.1:{base_port}/vehicles/{vehicles[0]}?t={tenant}", baseline,
              log=work / "baseline.log")

        def baseline_read(rng: random.Random) -> tuple[str, str, dict[str, object], int]:
            return "GET", f"/vehicles/{rng.choice(vehicles)}?t={tenant}", {}, 200

        def read_one(rng: random.Random) -> tuple[str, str, dict[str, object], int]:
            return "GET", f"/v1/vehicles/{rng.choice(vehicles)}", {"headers": headers}, 200

        def read_page(rng: random.Random) -> tuple[str, str, dict[str, object], int]:
            return "GET", "/v1/vehicles?limit=50", {"headers": headers}, 200

        def write(rng: random.Random) -> tuple[str, str, dict[str, object], int]:
            body = {"vehicle_id": str(rng.choice(vehicles)), "category": "wash",
                    "payment_method": "company_card",
                    "amount": {"amount": f"{rng.randint(500, 2500) / 100:.2f}",
                               "currency": "EUR"},
                    "incurred_on": time.strftime("%Y-%m-%d")}
            return "POST", "/v1/vehicle-expenses", {"headers": headers, "json": body}, 201

        print(f"{args.clients} clients, {args.seconds:.0f} s per scenario\n", flush=True)
        results = []
        for name, base, maker in (
            ("baseline: bare Starlette PK select", f"http://127.0.0.1:{base_port}",
             baseline_read),
            ("GET /v1/vehicles/{id}", f"http://127.0.0.1:{port}", read_one),
            ("GET /v1/vehicles?limit=50", f"http://127.0.0.1:{port}", read_page),
            ("POST /v1/vehicle-expenses", f"http://127.0.0.1:{port}", write),
        ):
            result = asyncio.run(_load(name, base, args.clients, args.seconds, maker))
            results.append(result)
            print(result.line(), flush=True)
        base_rps = results[0].rps
        print()
        for result in results[1:]:
            print(f"{result.name:<34} {result.rps / base_rps:6.0%} of baseline")
        reads_ok = all(r.rps >= 0.6 * base_rps and r.percentile(99) < 25 for r in results[1:3])
        write_ok = results[3].percentile(99) < 50
        errors = sum(r.errors for r in results)
        print(f"\nreads ≥ 60% of baseline and p99 < 25 ms: {'yes' if reads_ok else 'NO'}; "
              f"writes p99 < 50 ms: {'yes' if write_ok else 'NO'}; errors: {errors}")
        print(f"median latency across API scenarios: "
              f"{statistics.median(r.percentile(50) for r in results[1:]):.1f} ms")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        # Whatever happened to serve, leave no server running on the bench's data dir.
        EmbeddedPostgres(work / "data" / "postgres").stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)  # the embedded database goes with it


if __name__ == "__main__":
    main()
