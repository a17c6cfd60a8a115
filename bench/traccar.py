"""Traccar forwarding benchmark: 16 concurrent senders posting positions and events.

    python bench/traccar.py [--seconds 15] [--senders 16] [--runs 1] [--warmup 5]

Starts ``fleetcore serve`` on a fresh embedded database with the demo data (``bench/api.py``'s
stack), issues the demo fleet's Traccar token (``POST /v1/integrations/traccar/token``) and
links one device per sender to a vehicle of the fleet. Then ``wrk`` (Debian package) with
``--senders`` connections on 2 threads posts what Traccar forwards: for each device, positions
10 s apart (``forward.type=json``, odometer rising 0.1 km per fix: 36 km/h), every tenth position
sent twice, and one request in fifty an overspeed event (``event.forward.url``) — each
event sent twice.

The baseline, measured in the same run against the same database: a bare Starlette endpoint
(same driver, psycopg 3, and pool size; autocommit; no auth, no RLS — the embedded server's
superuser) that parses the same bodies and inserts one row per position and per event, keyed so
a duplicate inserts nothing: the least work that keeps every forwarded position durably.
Target (quality.md): Fleetcore ≥ 50% of the baseline's positions/s, 0 lost or doubled.

"Lost or doubled" is checked on what each side keeps, from the streams the senders generated
(wrk reports, per thread, how many requests it generated; the last request of each connection
may be cut by the end of the run, so that tail is excused):

* baseline: one row per distinct position and event sent, none twice (its keys);
* Fleetcore (derived facts and a minute-level track, docs/gps.md): every event id sent is one
  ``flt_vehicle_events`` row; GPS odometer readings are never within 15 minutes of each other,
  every fix sent has one within 15 minutes, and each reading's km is the one its fix carried;
  every minute with a fix sent has exactly one ``flt_gps_track`` point, and no other minute.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api import Stack, _cpu_seconds, _free_port, _stack_cpu, _start_stack, _wait

STEP = timedelta(seconds=10)
"""Time between two fixes of one device (a tracker reporting every 10 s while moving)."""
KM_PER_FIX = Decimal("0.1")
"""Distance between two fixes (36 km/h)."""
SPACING = timedelta(minutes=15)
"""Fleetcore's GPS reading spacing (fleet.maintenance_service.GPS_READING_SPACING)."""
EVENT_EVERY = 50
DUPLICATE_EVERY = 10

BASELINE_APP = textwrap.dedent(
    """
    import json, os
    from contextlib import asynccontextmanager
    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pool = AsyncConnectionPool(os.environ["BENCH_CONNINFO"], min_size=10, max_size=10,
                               kwargs={"autocommit": True}, open=False)

    async def positions(request):
        body = json.loads(await request.body())
        position, device = body["position"], body["device"]
        odometer = (position.get("attributes") or {}).get("odometer")
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO bench_positions (unique_id, position_id, fix_time, odometer_m)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (device["uniqueId"], position["id"], position["fixTime"], odometer))
        return JSONResponse({"status": "accepted"})

    async def events(request):
        body = json.loads(await request.body())
        event, device = body["event"], body["device"]
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO bench_events (unique_id, event_id, event_type, event_time)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (device["uniqueId"], event["id"], event["type"], event["eventTime"]))
        return JSONResponse({"status": "stored"})

    @asynccontextmanager
    async def lifespan(app):
        await pool.open()
        yield
        await pool.close()

    async def healthz(request):
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[Route("/healthz", healthz),
                            Route("/webhooks/traccar/positions", positions, methods=["POST"]),
                            Route("/webhooks/traccar/events", events, methods=["POST"])],
                    lifespan=lifespan)
    """
)

BASELINE_TABLES = """
DROP TABLE IF EXISTS bench_positions, bench_events;
CREATE TABLE bench_positions (unique_id text NOT NULL, position_id bigint NOT NULL,
  fix_time timestamptz NOT NULL, odometer_m double precision,
  PRIMARY KEY (unique_id, position_id));
CREATE TABLE bench_events (unique_id text NOT NULL, event_id bigint NOT NULL,
  event_type text NOT NULL, event_time timestamptz NOT NULL, PRIMARY KEY (unique_id, event_id));
"""

# Each wrk thread owns devices [thread * per_thread, (thread + 1) * per_thread) and walks them
# round-robin; request n of a thread is fix n // per_thread of device n % per_thread. The
# sequence is deterministic, so Python rebuilds exactly what was sent from the counts.
LUA = r"""
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
local token, t0, base_km, per_thread, event_every, dup_every = "%(token)s", %(t0)d, %(base_km)s,
  %(per_thread)d, %(event_every)d, %(dup_every)d
local step_s, km_per_fix = %(step_s)d, %(km_per_fix)s
local seq, tid = 0, 0
function init(args) tid = tonumber(wrk.thread:get("tid")) end
local function iso(epoch)
  return os.date("!%%Y-%%m-%%dT%%H:%%M:%%S.000+00:00", epoch)
end
local function body_for(n)
  local slot = n %% per_thread
  local device = tid * per_thread + slot
  local k = math.floor(n / per_thread)
  local unique = "bench-" .. device
  local dev = '{"id":' .. (1000 + device) .. ',"name":"Bench ' .. device .. '","uniqueId":"'
    .. unique .. '","status":"online","attributes":{}}'
  if n %% event_every == event_every - 1 then
    local eid = (tid + 1) * 100000000 + n
    return "/webhooks/traccar/events", '{"event":{"id":' .. eid .. ',"attributes":'
      .. '{"speed":49.68,"speedLimit":27.0},"deviceId":' .. (1000 + device)
      .. ',"type":"deviceOverspeed","eventTime":"' .. iso(t0 + k * step_s) .. '","positionId":0,'
      .. '"geofenceId":0,"maintenanceId":0},"device":' .. dev .. '}'
  end
  local km = base_km + k * km_per_fix
  return "/webhooks/traccar/positions", '{"position":{"id":' .. ((device + 1) * 1000000 + k)
    .. ',"deviceId":' .. (1000 + device) .. ',"protocol":"osmand","fixTime":"'
    .. iso(t0 + k * step_s) .. '","valid":true,"latitude":52.52,"longitude":13.40,'
    .. '"speed":0.0,"course":0.0,'
    .. '"attributes":{"odometer":' .. string.format("%%.1f", km * 1000) .. '}},"device":' .. dev
    .. '}'
end
function request()
  local n = seq
  -- the request after a duplicated one repeats it (Traccar may forward twice)
  if n > 0 and ((n - 1) %% dup_every == 0 or (n - 1) %% event_every == event_every - 1) then
    n = n - 1
  end
  seq = seq + 1
  wrk.thread:set("generated", seq)
  local path, body = body_for(n)
  return wrk.format("POST", path, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token}, body)
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("generated %%d %%d\n", thread:get("tid"), thread:get("generated")))
  end
  io.write(string.format("non2xx %%d\n", summary.errors.status))
  io.write(string.format("p99_ms %%.2f\n", latency:percentile(99) / 1000))
end
"""


def _sent(generated: dict[int, int], per_thread: int, tail: int) -> tuple[
        dict[str, list[int]], set[int], dict[str, int], set[int]]:
    """What the senders generated: fix indexes per device and event ids; and, excusing each
    thread's last ``tail`` requests (maybe cut by the end of the run), what must have arrived."""
    fixes: dict[str, list[int]] = {}
    events: set[int] = set()
    must_fix: dict[str, int] = {}
    must_events: set[int] = set()
    for tid, count in generated.items():
        for seq in range(count):
            n = seq
            if n > 0 and ((n - 1) % DUPLICATE_EVERY == 0
                          or (n - 1) % EVENT_EVERY == EVENT_EVERY - 1):
                n -= 1
            device = f"bench-{tid * per_thread + n % per_thread}"
            k = n // per_thread
            certain = seq < count - tail
            if n % EVENT_EVERY == EVENT_EVERY - 1:
                events.add((tid + 1) * 100_000_000 + n)
                if certain:
                    must_events.add((tid + 1) * 100_000_000 + n)
            else:
                fixes.setdefault(device, []).append(k)
                if certain:
                    must_fix[device] = max(must_fix.get(device, -1), k)
    return fixes, events, must_fix, must_events


def _wrk(base: str, lua: Path, senders: int, seconds: float) -> tuple[float, dict[int, int], int,
                                                                       float, int]:
    out = subprocess.run(
        ["wrk", "-t", "2", "-c", str(senders), "-d", f"{seconds:.0f}s", "--latency", "-s",
         str(lua), base], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    generated = {int(t): int(c) for t, c in re.findall(r"generated (\d+) (\d+)", out)}
    non2xx = int(re.search(r"non2xx (\d+)", out).group(1))  # type: ignore[union-attr]
    p99 = float(re.search(r"p99_ms ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"    wrk socket errors: {socket_errors.group(1)}")
    return rps, generated, non2xx, p99, total


def _prepare(stack: Stack, senders: int, t0: datetime, base_km: Decimal) -> None:
    """Link device bench-i to vehicle i of the demo fleet, starting from a clean odometer."""
    with psycopg.connect(stack.conninfo, autocommit=True) as conn:
        chosen = [r[0] for r in conn.execute(
            "SELECT id FROM flt_vehicles WHERE tenant_id = %s AND deleted_at IS NULL"
            " ORDER BY id LIMIT %s", (stack.tenant, senders))]
        if len(chosen) < senders:
            raise SystemExit(f"the demo fleet has only {len(chosen)} live vehicles")
        conn.execute("UPDATE flt_vehicles SET traccar_device_id = NULL WHERE tenant_id = %s",
                     (stack.tenant,))
        for i, vehicle in enumerate(chosen):
            conn.execute("UPDATE flt_vehicles SET traccar_device_id = %s WHERE id = %s",
                         (f"bench-{i}", vehicle))
        conn.execute("DELETE FROM flt_vehicle_events WHERE source = 'traccar'")
        conn.execute("DELETE FROM flt_odometer_readings WHERE vehicle_id = ANY(%s)", (chosen,))
        conn.execute("DELETE FROM flt_gps_devices")
        conn.execute("DELETE FROM flt_gps_track WHERE vehicle_id = ANY(%s)", (chosen,))
        for vehicle in chosen:
            conn.execute(
                "INSERT INTO flt_odometer_readings (tenant_id, id, vehicle_id, read_at,"
                " odometer_km, source) VALUES (%s, gen_random_uuid(), %s, %s, %s, 'manual')",
                (stack.tenant, vehicle, t0 - timedelta(days=1), base_km - 10))
        conn.execute(BASELINE_TABLES)


def _check_fleetcore(stack: Stack, sent: tuple[dict[str, list[int]], set[int], dict[str, int],
                     set[int]], t0: datetime, base_km: Decimal) -> list[str]:
    fixes, events, must_fix, must_events = sent
    problems: list[str] = []
    with psycopg.connect(stack.conninfo) as conn:
        stored = [r[0] for r in conn.execute(
            "SELECT external_event_id::bigint FROM flt_vehicle_events WHERE source = 'traccar'")]
        readings: dict[str, list[tuple[datetime, Decimal, bool]]] = {}
        for device, read_at, km, anomaly in conn.execute(
                "SELECT v.traccar_device_id, r.read_at, r.odometer_km, r.is_anomaly"
                " FROM flt_odometer_readings r JOIN flt_vehicles v ON v.id = r.vehicle_id"
                " WHERE r.source = 'gps' ORDER BY 1, 2"):
            readings.setdefault(device, []).append((read_at, km, anomaly))
        track: dict[str, list[datetime]] = {}
        for device, minute in conn.execute(
                "SELECT v.traccar_device_id, t.minute FROM flt_gps_track t"
                " JOIN flt_vehicles v ON v.id = t.vehicle_id ORDER BY 1, 2"):
            track.setdefault(device, []).append(minute)
    if len(stored) != len(set(stored)):
        problems.append(f"{len(stored) - len(set(stored))} events doubled")
    if set(stored) - events:
        problems.append(f"{len(set(stored) - events)} events that were never sent")
    if must_events - set(stored):
        problems.append(f"{len(must_events - set(stored))} events lost")
    for device, ks in fixes.items():
        kept = readings.get(device, [])
        times = [at for at, _km, _a in kept]
        for (a, _, _), (b, _, _) in itertools.pairwise(kept):
            if b - a < SPACING:
                problems.append(f"{device}: readings {a} and {b} closer than {SPACING}")
        for at, km, anomaly in kept:
            k = round((at - t0) / STEP)
            if k not in ks or km != base_km + k * KM_PER_FIX or anomaly:
                problems.append(f"{device}: reading {at} {km} km (anomaly {anomaly}) "
                                "is no fix that was sent")
        # The track: one point per minute with a fix, none for a minute without.
        minutes = track.get(device, [])
        sent_minutes = {(t0 + k * STEP).replace(second=0) for k in ks}
        certain = {(t0 + k * STEP).replace(second=0) for k in ks
                   if k <= must_fix.get(device, -1)}
        if len(minutes) != len(set(minutes)) or set(minutes) - sent_minutes:
            problems.append(f"{device}: track points doubled or never sent")
        if certain - set(minutes):
            problems.append(f"{device}: {len(certain - set(minutes))} track minutes lost")
        for k in sorted(set(ks)):
            at = t0 + k * STEP
            if k <= must_fix.get(device, -1) and not any(abs(t - at) < SPACING for t in times):
                near = [f"{(t - t0) / STEP:.0f}" for t in times if abs(t - at) < 3 * SPACING]
                problems.append(f"{device}: fix {k} ({at}) lost: no reading within {SPACING} "
                                f"(readings at fixes {', '.join(near)}; last fix sent "
                                f"{max(ks)}, last certain {must_fix[device]})")
    return problems


def _check_baseline(stack: Stack, sent: tuple[dict[str, list[int]], set[int], dict[str, int],
                    set[int]]) -> list[str]:
    fixes, events, must_fix, must_events = sent
    with psycopg.connect(stack.conninfo) as conn:
        positions = conn.execute("SELECT count(*) FROM bench_positions").fetchone()[0]  # type: ignore[index]
        stored_events = conn.execute("SELECT count(*) FROM bench_events").fetchone()[0]  # type: ignore[index]
    distinct = sum(len(set(ks)) for ks in fixes.values())
    must = sum(len({k for k in ks if k <= must_fix.get(device, -1)})
               for device, ks in fixes.items())
    problems = []
    if not must <= positions <= distinct:
        problems.append(f"baseline kept {positions} positions, expected {must}..{distinct}")
    if not len(must_events) <= stored_events <= len(events):
        problems.append(f"baseline kept {stored_events} events")
    return problems


def _phase_cpu(stack: Stack, baseline_pid: int, label: str) -> tuple[float, float] | None:
    """CPU seconds used so far by the side under test: its server process and the database
    (postmaster and backends; the two sides share it, and only one side runs at a time).

    Requests per CPU-second hardly depend on what else a shared machine is running, unlike
    requests per second: printed beside them as the steadier comparison."""
    both = _stack_cpu(stack)
    if both is None:
        return None
    server = both[0] if label == "fleetcore" else _cpu_seconds(baseline_pid)
    return None if server is None else (server, both[1])


def _py_spy(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` for ``seconds`` (``-f raw``: one collapsed stack per line with
    its sample count; ``--gil``: only samples holding the GIL, i.e. the server's Python time)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([spy, "record", "-p", str(pid), "-f", "raw", "-o", str(out),
                             "-d", str(int(seconds)), "-r", "200", "--gil", "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--runs", type=int, default=1, help="baseline/Fleetcore pairs")
    parser.add_argument("--warmup", type=float, default=5,
                        help="seconds of unmeasured load on each side before the first run")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy raw (collapsed stacks) of fleetcore serve during the "
                             "first measured Fleetcore run, written to this file")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk not found: apt-get install wrk")
    if args.profile and not (shutil.which("py-spy")
                             or Path(sys.executable).with_name("py-spy").exists()):
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    if args.senders % 2:
        raise SystemExit("--senders must be even (2 wrk threads)")
    per_thread = args.senders // 2
    work = Path(tempfile.mkdtemp(prefix="fleetcore-bench-traccar-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    env.update(FLEETCORE_ENV="development", FLEETCORE_LOG_LEVEL="WARNING")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print("starting fleetcore serve (embedded database, demo data)…", flush=True)
        stack = _start_stack("this", work / "data", env, processes)
        token = httpx.post(f"{stack.base}/v1/integrations/traccar/token", headers=stack.headers,
                           timeout=30).json()["token"]
        base_port = _free_port()
        (work / "baseline_app.py").write_text(BASELINE_APP)
        baseline = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "baseline_app:app", "--port", str(base_port),
             "--log-level", "warning"],
            cwd=work, env={**env, "BENCH_CONNINFO": stack.conninfo},
            stdout=(work / "baseline.log").open("wb"), stderr=subprocess.STDOUT)
        processes.append(baseline)
        base_url = f"http://127.0.0.1:{base_port}"
        _wait(f"{base_url}/healthz", baseline, log=work / "baseline.log")
        rows = []
        loads: dict[tuple[int, str], tuple[float, float]] = {}
        for run in range(1, args.runs + 1):
            base_km = Decimal(200_000 + run * 10_000)
            t0 = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
            lua = work / f"senders-{run}.lua"
            lua.write_text(LUA % {"token": token, "t0": int(t0.timestamp()),
                                  "base_km": str(base_km), "per_thread": per_thread,
                                  "event_every": EVENT_EVERY, "dup_every": DUPLICATE_EVERY,
                                  "step_s": int(STEP.total_seconds()),
                                  "km_per_fix": str(KM_PER_FIX)})
            if run == 1 and args.warmup > 0:
                # Both sides once before measuring: pools filled, statements prepared, caches
                # warm (what a server that has been up for a minute has). Its effects are
                # cleared by the preparation below.
                _prepare(stack, args.senders, t0, base_km)
                for url in (base_url, stack.base):
                    _wrk(url, lua, args.senders, args.warmup)
                time.sleep(2)
            _prepare(stack, args.senders, t0, base_km)
            for label, url in (("baseline", base_url), ("fleetcore", stack.base)):
                load_before = os.getloadavg()[0]
                spy = (_py_spy(stack.serve_pid, args.profile, args.seconds)
                       if args.profile and run == 1 and label == "fleetcore" else None)
                before = _phase_cpu(stack, baseline.pid, label)
                rps, generated, errors, p99, total = _wrk(url, lua, args.senders, args.seconds)
                loads[run, label] = (load_before, os.getloadavg()[0])
                if spy is not None:
                    spy.wait(timeout=args.seconds + 30)
                time.sleep(2)  # let requests cut by the end of the run finish before reading
                after = _phase_cpu(stack, baseline.pid, label)
                split = (None if before is None or after is None else
                         tuple(1000 * (a - b) / max(total, 1) for a, b in zip(after, before,
                                                                              strict=True)))
                cpu_ms = None if split is None else sum(split)
                sent = _sent(generated, per_thread, tail=per_thread)
                problems = (_check_baseline(stack, sent) if label == "baseline"
                            else _check_fleetcore(stack, sent, t0, base_km))
                rows.append((run, label, rps, p99, total, errors, problems, cpu_ms))
                cpu = (f"{cpu_ms:.2f} ms CPU/req ({split[0]:.2f} server + {split[1]:.2f} "
                       "database)" if cpu_ms is not None and split else "CPU n/a")
                print(f"run {run} {label:<9} {rps:8.0f} req/s   p99 {p99:6.1f} ms   {cpu}   "
                      f"load {loads[run, label][0]:.1f} → {loads[run, label][1]:.1f}   "
                      f"{total} requests   non-2xx {errors}   "
                      f"{'OK: 0 lost or doubled' if not problems else problems[:5]}",
                      flush=True)
        print()
        for run in range(1, args.runs + 1):
            bare = next(r for r in rows if r[0] == run and r[1] == "baseline")
            ours = next(r for r in rows if r[0] == run and r[1] == "fleetcore")
            by_cpu = (f"; per CPU-second {bare[7] / ours[7]:.0%}"
                      if bare[7] and ours[7] else "")
            load = [x for side in ("baseline", "fleetcore") for x in loads[run, side]]
            print(f"run {run}: Fleetcore at {ours[2] / bare[2]:.0%} of the baseline "
                  f"(target ≥ 50%){by_cpu}, load average {min(load):.1f} to {max(load):.1f}")
        ratios = [ours[2] / bare[2] for bare, ours in zip(
            (r for r in rows if r[1] == "baseline"), (r for r in rows if r[1] == "fleetcore"),
            strict=True)]
        clean = all(not r[5] and not r[6] for r in rows)
        print(f"median of {len(ratios)}: {statistics.median(ratios):.0%} (target ≥ 50%), "
              f"{'0 non-2xx, 0 lost or doubled' if clean else 'NOT CLEAN: see the runs above'}")
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
