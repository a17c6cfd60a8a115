"""API benchmark: 32 concurrent authenticated clients against the real stack.

    python bench/api.py [--seconds 20] [--clients 32] [--sequential 0 [--compare SRC]]

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

``--sequential N`` first sends N requests one at a time to each of ``/healthz``, ``GET /v1/me``,
``GET /v1/vehicles/{id}`` and ``GET /v1/vehicles?limit=50`` and prints median and p90 latency
and the CPU time per request of the server and its PostgreSQL: the cost of one request,
database round trips included (``docs/decisions/0003-request-round-trips.md``).
``--seconds 0`` skips the load scenarios. ``--compare SRC`` serves a second stack from the
``fleetcore`` package in ``SRC`` (say ``git archive <commit> src | tar -x -C /tmp/old``, then
``--compare /tmp/old/src``) on its own database, and alternates the sequential requests between
the two: a before/after that a busy shared machine disturbs alike on both sides.
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


@dataclass
class Stack:
    """A running ``fleetcore serve`` on its own embedded database with the demo data."""

    label: str
    base: str
    data_dir: Path
    headers: dict[str, str]
    tenant: object
    vehicles: list[object]
    serve_pid: int = 0

    @property
    def conninfo(self) -> str:
        """The embedded server's superuser (the baseline's connection: no RLS, no auth)."""
        return f"host={self.data_dir / 'postgres'} user=postgres dbname=fleetcore"


def _start_stack(
    label: str, data_dir: Path, env: dict[str, str], processes: list[subprocess.Popen[bytes]]
) -> Stack:
    port = _free_port()
    env = {**env, "FLEETCORE_DATA_DIR": str(data_dir)}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"serve-{label}.log"
    serve = subprocess.Popen(
        [_bin("fleetcore"), "serve", "--port", str(port), "--no-worker"],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    processes.append(serve)
    _wait(f"http://127.0.0.1:{port}/readyz", serve, log=log)
    token = subprocess.run(
        [_bin("fleetcore"), "token"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip().splitlines()[-1]
    stack = Stack(label, f"http://127.0.0.1:{port}", data_dir,
                  {"Authorization": f"Bearer {token}"}, None, [], serve.pid)
    with psycopg.connect(stack.conninfo) as conn:
        row = conn.execute("SELECT id FROM adm_tenants WHERE slug = 'lumiere-vtc'").fetchone()
        if row is None:
            raise SystemExit(f"{label}: the demo tenant lumiere-vtc is missing")
        stack.tenant = row[0]
        stack.vehicles = [r[0] for r in conn.execute(
            "SELECT id FROM flt_vehicles WHERE tenant_id = %s", (stack.tenant,))]
    return stack


def _cpu_seconds(*roots: int) -> float | None:
    """CPU time (user + system) used so far by the process trees under ``roots`` (Linux /proc;
    None elsewhere). Unlike latency, it hardly depends on what else the machine is doing."""
    proc = Path("/proc")
    if not proc.exists():
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    tree, frontier = set(roots), list(roots)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def _stack_cpu(stack: Stack) -> tuple[float, float] | None:
    """CPU used by the stack: ``fleetcore serve``, and its PostgreSQL (postmaster, backends)."""
    pid_file = stack.data_dir / "postgres" / "postmaster.pid"
    if not pid_file.exists():
        return None
    postmaster = int(pid_file.read_text().split()[0])
    app, database = _cpu_seconds(stack.serve_pid), _cpu_seconds(postmaster)
    return None if app is None or database is None else (app, database)


def _sequential(stacks: list[Stack], count: int) -> None:
    """Median and p90 latency, and CPU per request, of ``count`` one-at-a-time requests per
    endpoint and stack.

    Requests alternate between stacks (in a rotating order), so that load from elsewhere on a
    shared machine falls on every series alike. CPU per request (the stack's ``serve`` process
    and PostgreSQL together, over each endpoint's series) is the steadier figure on such a
    machine.
    """
    rng = random.Random(7)
    endpoints = ("GET /healthz", "GET /v1/me", "GET /v1/vehicles/{id}",
                 "GET /v1/vehicles?limit=50")

    def url(endpoint: str, stack: Stack) -> tuple[str, dict[str, str]]:
        if endpoint == "GET /healthz":
            return "/healthz", {}
        if endpoint == "GET /v1/me":
            return "/v1/me", stack.headers
        if endpoint == "GET /v1/vehicles?limit=50":
            return "/v1/vehicles?limit=50", stack.headers
        return f"/v1/vehicles/{rng.choice(stack.vehicles)}", stack.headers

    timings: dict[tuple[str, str], list[float]] = {
        (s.label, e): [] for s in stacks for e in endpoints}
    cpu: dict[tuple[str, str], tuple[float, float] | None] = {}
    clients = {s.label: httpx.Client(base_url=s.base, timeout=10) for s in stacks}

    def run(endpoint: str, rounds: int, record: bool) -> None:
        for round_ in range(rounds):
            order = stacks[round_ % len(stacks):] + stacks[:round_ % len(stacks)]
            for stack in order:
                path, headers = url(endpoint, stack)
                started = time.perf_counter()
                response = clients[stack.label].get(path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{stack.label} {endpoint}: {response.status_code} "
                                     f"{response.text[:300]}")
                if record:
                    timings[(stack.label, endpoint)].append(elapsed)

    try:
        for endpoint in endpoints:
            run(endpoint, 20, record=False)  # warm up connections and plan caches
            before = {s.label: _stack_cpu(s) for s in stacks}
            run(endpoint, count, record=True)
            for stack in stacks:
                used, start = _stack_cpu(stack), before[stack.label]
                cpu[(stack.label, endpoint)] = (
                    ((used[0] - start[0]) * 1000 / count, (used[1] - start[1]) * 1000 / count)
                    if used is not None and start is not None else None)
    finally:
        for client in clients.values():
            client.close()
    print(f"sequential, {count} requests each (load average {os.getloadavg()[0]:.1f}):")
    for (label, endpoint), values in timings.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        name = f"{label}: {endpoint}" if len(stacks) > 1 else endpoint
        used = cpu.get((label, endpoint))
        cpu_text = (f"   CPU/request: app {used[0]:5.2f} ms + PostgreSQL {used[1]:4.2f} ms"
                    if used is not None else "")
        print(f"  {name:<40} median {statistics.median(values):5.1f} ms   p90 {p90:5.1f} ms"
              f"{cpu_text}")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--sequential", type=int, default=0,
                        help="requests per endpoint sent one at a time first (0: none)")
    parser.add_argument("--compare", type=Path, default=None, metavar="SRC",
                        help="with --sequential: also serve the fleetcore package found in SRC "
                        "(e.g. an older checkout's src/) and alternate requests between both")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-api-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(FLEETCORE_ENV="development", FLEETCORE_LOG_LEVEL="WARNING")
    base_port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    data_dirs = [work / "data"]
    try:
        print("starting fleetcore serve (embedded database, demo data)…", flush=True)
        stack = _start_stack("this", work / "data", env, processes)
        headers, tenant, vehicles, conninfo = (
            stack.headers, stack.tenant, stack.vehicles, stack.conninfo)
        stacks = [stack]
        if args.compare is not None:
            compare_src = args.compare.resolve()
            print(f"starting the comparison from {compare_src}…", flush=True)
            data_dirs.append(work / "compare" / "data")
            compare_env = {**env, "PYTHONPATH": os.pathsep.join(
                [str(compare_src), *filter(None, [env.get("PYTHONPATH")])])}
            stacks.append(_start_stack("compare", data_dirs[-1], compare_env, processes))
        if args.sequential:
            _sequential(stacks, args.sequential)
        if args.seconds <= 0:
            return
        port = stack.base.rsplit(":", 1)[1]

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
        # Whatever happened to serve, leave no server running on the bench's data dirs.
        for data_dir in data_dirs:
            if (data_dir / "postgres").exists():
                EmbeddedPostgres(data_dir / "postgres").stop()
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(work, ignore_errors=True)  # the embedded database goes with it


if __name__ == "__main__":
    main()
