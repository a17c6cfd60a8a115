"""API benchmark: ``wrk`` against the real stack and a bare Starlette baseline, same run.

    python bench/api.py [--seconds 15] [--connections 32] [--threads 2] [--runs 3]
                        [--sequential 0 [--compare SRC]]

Starts ``fleetcore serve`` (one worker process) on a fresh embedded database with the demo
data, mints a token for the demo owner, and drives with ``wrk`` (Debian package ``wrk``), for
each scenario one after the other, ``--seconds`` long, repeated ``--runs`` times:

* the baseline: a bare Starlette endpoint (one uvicorn worker) doing the same primary-key
  SELECT with the same driver (psycopg 3, async pool), autocommit, no auth, no RLS (it connects
  as the embedded server's superuser), on the same PostgreSQL;
* ``GET /v1/vehicles/{id}``   (random vehicle of the demo fleet)
* ``GET /v1/vehicles?limit=50``
* ``POST /v1/vehicle-expenses``
* ``GET /healthz``: no auth, no database — what routing and middleware alone allow
* the list's own baseline: the same bare Starlette app running the lane's SELECT of
  ``GET /v1/vehicles?limit=50`` (same columns, odometer ``LATERAL``, order and limit; the
  tenant a parameter), its rows turned into JSON with ``json.dumps``

and prints requests/s, p50/p99 latency (wrk's own histogram), non-2xx and socket errors, the
ratio to the baseline of the same round, and the median over the rounds. A list of 50 rows
cannot reach a one-row read by its nature, so the list is also given as a share of its own
bare baseline (the PK ratio, the one the target names, is kept). Targets
(quality.md): reads ≥ 60% of the baseline's requests/s, writes ≥ 40%; p99 < 25 ms for reads
and < 50 ms for writes; 0 errors. ``wrk`` is native code, so unlike a Python load generator it
does not cap the baseline; it still shares the machine's cores with both servers.

``--sequential N`` first sends N requests one at a time to each of ``/healthz``, ``GET /v1/me``,
``GET /v1/vehicles/{id}`` and ``GET /v1/vehicles?limit=50`` and prints median and p90 latency
and the CPU time per request of the server and its PostgreSQL: the cost of one request,
database round trips included (``docs/decisions/0003-request-round-trips.md``). CPU per
request hardly depends on what else a shared machine runs: it is the figure to compare
changes by. ``--seconds 0`` skips the load scenarios. ``--compare SRC`` serves a second stack
from the ``fleetcore`` package in ``SRC`` (say ``git archive <commit> src | tar -x -C /tmp/old``,
then ``--compare /tmp/old/src``) on its own database, and alternates the sequential requests
between the two: a before/after that a busy shared machine disturbs alike on both sides.
"""

from __future__ import annotations

import argparse
import json
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
    import json
    import os
    from contextlib import asynccontextmanager
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
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

    LIST_SQL = os.environ["BENCH_LIST_SQL"]
    LIST_PARAMS = json.loads(os.environ["BENCH_LIST_PARAMS"])

    async def vehicles(request):
        async with pool.connection() as conn:
            cursor = await conn.execute(
                LIST_SQL, {**LIST_PARAMS, "tenant": request.query_params["t"]})
            names = [c.name for c in cursor.description]
            rows = await cursor.fetchall()
        body = json.dumps({"items": [dict(zip(names, row)) for row in rows]}, default=str)
        return Response(body, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app):
        await pool.open()
        yield
        await pool.close()

    app = Starlette(routes=[Route("/vehicles/{vid}", vehicle), Route("/vehicles", vehicles)],
                    lifespan=lifespan)
    """
)


WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT %d %d %d %d %d %d %d %.3f %.3f %.3f\\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""
"""wrk's ``done`` hook: one machine-readable line (requests, µs, errors by kind, ms)."""


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk_script(method: str, path: str, items: list[str], headers: dict[str, str],
                body: str | None = None) -> str:
    """A wrk script: ``method path`` with ``{item}`` replaced by a random one of ``items``, in
    ``body`` too, and ``{amount}`` in ``body`` by a random amount between 5.00 and 25.00."""
    lines = [
        "math.randomseed(os.time() + math.floor(os.clock() * 1000000))",
        "local items = {" + ", ".join(_lua_string(i) for i in items) + "}",
        "local headers = {" + ", ".join(
            f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}",
        f"local path = {_lua_string(path)}",
        f"local body = {_lua_string(body) if body is not None else 'nil'}",
        "request = function()",
        "  local item = items[math.random(#items)]",
        "  local p = path:gsub('{item}', item)",
        "  local b = nil",
        "  if body then",
        "    local cents = math.random(500, 2500)",
        "    local amount = string.format('%d.%02d', math.floor(cents / 100), cents % 100)",
        "    b = body:gsub('{item}', item)",
        "    b = b:gsub('{amount}', amount)",
        "  end",
        f"  return wrk.format({_lua_string(method)}, p, headers, b)",
        "end",
    ]
    return "\n".join(lines) + "\n" + WRK_REPORT


@dataclass
class Result:
    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (f"{self.name:<34} {self.rps:>8.0f} req/s   p50 {self.p50_ms:6.1f} ms"
                f"   p99 {self.p99_ms:6.1f} ms   errors {self.errors}")


def _wrk(name: str, base: str, script: Path, *, threads: int, connections: int,
         seconds: float) -> Result:
    """Run wrk for ``seconds`` against ``base`` with ``script``; errors are non-2xx/3xx
    answers, socket errors and timeouts."""
    completed = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s",
         "-s", str(script), base],
        capture_output=True, text=True, check=False,
    )
    line = next((x for x in completed.stdout.splitlines() if x.startswith("WRK-RESULT ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n"
                         f"{completed.stderr}")
    fields = line.split()[1:]
    requests, duration_us = int(fields[0]), int(fields[1])
    errors = sum(int(x) for x in fields[2:7])
    return Result(name, requests, errors, duration_us / 1e6, float(fields[7]), float(fields[8]))


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


def _list_baseline_sql() -> tuple[str, dict[str, object]]:
    """The lane's own SQL for ``GET /v1/vehicles?limit=50`` (every column, the odometer
    ``LATERAL``, the default sort), its tenant a parameter instead of the caller's row, and its
    binds, ``limit`` 50: the bare list baseline reads exactly the rows the route reads."""
    from fleetcore.core.lane import CALLER_TENANT
    from fleetcore.fleet.filters import VehicleSort
    from fleetcore.fleet.lane import _statement

    sql, fixed = _statement((), 0, False, VehicleSort.CREATED, False, False)
    if CALLER_TENANT not in sql:
        raise SystemExit("the lane's list statement no longer names the caller's tenant")
    return sql.replace(CALLER_TENANT, "%(tenant)s::uuid"), {**fixed, "limit": LIST_LIMIT}


LIST_LIMIT = 50
LIST_BASELINE = 5
"""Index of the bare list baseline among the scenarios (after the five of before, so that the
others keep their places); ``GET /v1/vehicles?limit=50`` (index 2) is also compared to it."""


def _summary(rounds: list[list[Result]]) -> None:
    """Medians over the rounds (ratios are per round, then the median) and the targets."""
    print(f"\nmedian of {len(rounds)} round(s) (load average {os.getloadavg()[0]:.1f}):")
    targets = {1: (0.60, 25.0), 2: (0.60, 25.0), 3: (0.40, 50.0)}
    met = True
    errors = sum(r.errors for results in rounds for r in results)
    for index, name in enumerate(r.name for r in rounds[0]):
        rps = statistics.median(results[index].rps for results in rounds)
        p50 = statistics.median(results[index].p50_ms for results in rounds)
        p99 = statistics.median(results[index].p99_ms for results in rounds)
        text = f"  {name:<34} {rps:>8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        ratio = statistics.median(results[index].rps / results[0].rps for results in rounds)
        if index == LIST_BASELINE:
            text += f"   {ratio:4.0%} of the PK baseline"
        elif index > 0 and index not in targets:
            text += f"   {ratio:4.0%} of baseline"
        elif index in targets:
            share, limit = targets[index]
            ok = ratio >= share and p99 < limit
            met = met and ok
            text += (f"   {ratio:4.0%} of baseline (target ≥ {share:.0%}, p99 < {limit:.0f} ms:"
                     f" {'met' if ok else 'NOT met'})")
            if index == 2:
                same = statistics.median(results[2].rps / results[LIST_BASELINE].rps
                                         for results in rounds)
                text += f"; {same:4.0%} of the bare list"
        print(text)
    print(f"\nerrors (non-2xx, socket, timeouts): {errors}; "
          f"every target: {'met' if met and not errors else 'NOT met'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--runs", type=int, default=3,
                        help="rounds of the four scenarios (the median is reported)")
    parser.add_argument("--sequential", type=int, default=0,
                        help="requests per endpoint sent one at a time first (0: none)")
    parser.add_argument("--compare", type=Path, default=None, metavar="SRC",
                        help="with --sequential: also serve the fleetcore package found in SRC "
                        "(e.g. an older checkout's src/) and alternate requests between both")
    args = parser.parse_args()
    if args.seconds > 0 and shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk (or --seconds 0)")

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
        app_base = stack.base

        list_sql, list_params = _list_baseline_sql()
        app_file = work / "baseline_app.py"
        app_file.write_text(BASELINE_APP)
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(base_port),
             "--log-level", "warning", "--no-access-log"],
            cwd=work, env={**env, "BENCH_CONNINFO": conninfo, "BENCH_LIST_SQL": list_sql,
                           "BENCH_LIST_PARAMS": json.dumps(list_params)},
            stdout=(work / "baseline.log").open("wb"), stderr=subprocess.STDOUT,
        )
        processes.append(baseline)
        _wait(f"http://127.0.0.1:{base_port}/vehicles/{vehicles[0]}?t={tenant}", baseline,
              log=work / "baseline.log")
        bare_list = httpx.get(f"http://127.0.0.1:{base_port}/vehicles?t={tenant}").json()
        if not bare_list["items"]:
            raise SystemExit("the bare list read no rows")
        print(f"the lists read {len(bare_list['items'])} rows (limit {LIST_LIMIT})", flush=True)

        ids = [str(v) for v in vehicles]
        auth = {"Authorization": headers["Authorization"]}
        expense = json.dumps({"vehicle_id": "{item}", "category": "wash",
                              "payment_method": "company_card",
                              "amount": {"amount": "{amount}", "currency": "EUR"},
                              "incurred_on": time.strftime("%Y-%m-%d")})
        scenarios = [
            ("baseline: bare Starlette PK select", f"http://127.0.0.1:{base_port}",
             _wrk_script("GET", f"/vehicles/{{item}}?t={tenant}", ids, {})),
            ("GET /v1/vehicles/{id}", app_base,
             _wrk_script("GET", "/v1/vehicles/{item}", ids, auth)),
            ("GET /v1/vehicles?limit=50", app_base,
             _wrk_script("GET", "/v1/vehicles?limit=50", ids, auth)),
            ("POST /v1/vehicle-expenses", app_base,
             _wrk_script("POST", "/v1/vehicle-expenses", ids,
                         {**auth, "Content-Type": "application/json"}, expense)),
            # The app's floor: routing and middleware, no auth, no database, no target.
            ("GET /healthz (the app's floor)", app_base,
             _wrk_script("GET", "/healthz", ids, {})),
            # The list's own bare baseline: the same SELECT (50 rows, same columns and order).
            ("baseline: bare Starlette list of 50", f"http://127.0.0.1:{base_port}",
             _wrk_script("GET", f"/vehicles?t={tenant}", ids, {})),
        ]
        scripts = []
        for index, (_, _, script) in enumerate(scenarios):
            scripts.append(work / f"scenario{index}.lua")
            scripts[-1].write_text(script)

        print(f"wrk: {args.threads} threads, {args.connections} connections, "
              f"{args.seconds:.0f} s per scenario, {args.runs} round(s)\n", flush=True)
        rounds: list[list[Result]] = []
        for round_ in range(args.runs):
            print(f"round {round_ + 1} (load average {os.getloadavg()[0]:.1f}):", flush=True)
            results = []
            for (name, base, _), script in zip(scenarios, scripts, strict=True):
                result = _wrk(name, base, script, threads=args.threads,
                              connections=args.connections, seconds=args.seconds)
                results.append(result)
                ratio = (f"   {result.rps / results[0].rps:4.0%} of baseline"
                         if len(results) > 1 else "")
                if len(results) - 1 == LIST_BASELINE:
                    ratio += (f"; the list above: {results[2].rps / result.rps:4.0%}"
                              " of this one")
                print(f"  {result.line()}{ratio}", flush=True)
            rounds.append(results)
        _summary(rounds)
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
