"""The server under load: prints figures, asserts nothing about time.

Run ``python -m tests.benchmarks.http`` from a checkout with the dev extra
(``quotatree bench http`` there does the same). Not part of the installed package.

The real server runs as a subprocess (``python -m service.cli serve``) in the
production configuration: ``QUOTATREE_ENV=production``, a JWT secret (every
request carries a bearer token), the default depth, alias and token limits,
metrics and JSON logs at INFO (written to a file, not the terminal). Its
database is a scratch database seeded with SQL (see :mod:`tests.benchmarks.versions`):
a version of about ``--nodes`` nodes, one region of which holds about a tenth.

1. Bulk read: ``planVersion.subtree`` of that region (about 10,000 nodes) over
   HTTP with httpx on one keep-alive connection, timed from send to the whole body,
   against the floor measured in the same run: raw asyncpg fetching the same
   columns with the same SQL as ``repositories.subtree_rows`` and ``orjson.dumps``
   of the rows. Goal: within 3x. Best of ``--repeats`` each.
2. Peak memory of the server process (``VmHWM``, and ``VmRSS``, from
   ``/proc/<pid>/status``) before and after the bulk reads.
3. Small query: a node, its 20 children and their slices, from a load generator
   on loopback for ``--duration`` seconds after a warm-up: ``wrk`` when it is on
   PATH (2 threads, 8 connections), else a Python generator (httpx, 8 keep-alive
   connections) in a separate process. Goal: at least 500 requests per second from
   one server process; p50 and p99 latency, and the non-200 or ``errors``
   responses, which must be none. Beside it, its floor: the same document executed
   by strawberry alone over in-memory objects of the same shape
   (:mod:`tests.benchmarks.typed_floor`), whose inverse is the most requests per second
   one process could serve on one core, whatever the server does.

Server, load generator and PostgreSQL share the machine's cores; the output says
how many there are.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import math
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import asyncpg
import httpx
import orjson

from service.api.ids import encode
from service.auth import Role, mint_token
from service.db.repositories import SUBTREE_ROWS_SQL
from service.domain.paths import subtree_end
from tests.benchmarks.typed_floor import seconds_per_query
from tests.benchmarks.versions import (
    Scratch,
    Seeded,
    add_dimension,
    add_level,
    check_sums,
    scratch_database,
    seed_tree,
    settle,
)

BULK_GOAL_RATIO = 3.0
SMALL_GOAL_RPS = 500.0
SMALL_CHILDREN = 20

SUBTREE_QUERY = (
    "query($id: ID!, $root: ID!) { planVersion(id: $id) { subtree(rootId: $root) "
    "{ count truncated columns } } }"
)
SMALL_QUERY = (
    "query($id: ID!) { node(id: $id) { ... on TargetNode { id target children { id target "
    "share slice { dimension { name } member { code name } } } } } }"
)
# The very statement the server runs (repositories.subtree_rows, on the driver).
FLOOR_SQL = SUBTREE_ROWS_SQL

Out = Callable[[str], None]
T = TypeVar("T")


# --- the server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    url: str,
    secret: str,
    port: int,
    log: BinaryIO,
    data_dir: Path,
    extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """``python -m service.cli serve`` in the production configuration, logs to ``log``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("QUOTATREE_") or k == "QUOTATREE_MIGRATIONS_DIR"
    }
    env.update(
        QUOTATREE_DATABASE_URL=url,
        QUOTATREE_JWT_SECRET=secret,
        QUOTATREE_ENV="production",
        # Metrics are on in production, on a port of their own: a free one, so
        # that runs side by side do not collide on the default 9464.
        QUOTATREE_METRICS_PORT=str(free_port()),
        QUOTATREE_LOG_LEVEL="INFO",
        QUOTATREE_DATA_DIR=str(data_dir),
    )
    env.update(extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def stop_server(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def _log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


async def wait_ready(
    client: httpx.AsyncClient, process: subprocess.Popen[bytes], log_path: Path, seconds: float
) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server exited with code {process.returncode}:\n{_log_tail(log_path)}"
            )
        try:
            response = await client.get("/readyz")
            if response.status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the server was not ready after {seconds:g} s:\n{_log_tail(log_path)}")


def memory_kib(pid: int) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of a process, in KiB ({} off Linux)."""
    found: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0])
    return found


# --- seeding ------------------------------------------------------------------------------


@dataclass
class Tree:
    seeded: Seeded
    bulk_key: int
    """The region read in bulk."""
    bulk_sort_path: str
    bulk_count: int
    small_key: int
    """The node with 20 children."""


async def seed(conn: asyncpg.Connection, nodes: int) -> Tree:
    """The tree, plus its last leaf split into 20 segments (the small query's node)."""
    seeded = await seed_tree(conn, nodes, name="Bench FY2027 (http)")
    bulk_key, bulk_sort_path = await conn.fetchrow(
        "SELECT key, sort_path FROM target_node WHERE version_id = $1 AND depth = 1 "
        "ORDER BY sort_path LIMIT 1",
        seeded.version_id,
    )
    leaf_key = int(
        await conn.fetchval(
            "SELECT key FROM target_node WHERE version_id = $1 AND depth = 4 "
            "ORDER BY sort_path DESC LIMIT 1",
            seeded.version_id,
        )
    )
    segments = await add_dimension(conn, "Segments", "CUSTOM", "S", SMALL_CHILDREN)
    seeded.dimensions["Segments"] = segments
    async with conn.transaction():
        await add_level(
            conn,
            seeded,
            parent_depth=4,
            dimension_id=segments,
            per_parent=SMALL_CHILDREN,
            only_key=leaf_key,
        )
    bulk_count = int(
        await conn.fetchval(
            "SELECT count(*) FROM target_node WHERE version_id = $1 "
            "AND sort_path >= $2 AND sort_path < $3",
            seeded.version_id,
            bulk_sort_path,
            subtree_end(bulk_sort_path),
        )
    )
    return Tree(seeded, int(bulk_key), str(bulk_sort_path), bulk_count, leaf_key)


# --- measurements ----------------------------------------------------------------------------


async def timed(fn: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    """(seconds, result) of one call of an async callable, garbage collected beforehand."""
    gc.collect()
    start = time.perf_counter()
    result = await fn()
    return time.perf_counter() - start, result


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("QT_BAD %d\\n", total))
  io.write(string.format("QT_REQUESTS %d\\n", summary.requests))
  io.write(string.format("QT_DURATION_US %d\\n", summary.duration))
  io.write(string.format("QT_P50_US %d\\n", latency:percentile(50)))
  io.write(string.format("QT_P99_US %d\\n", latency:percentile(99)))
  local e = summary.errors
  io.write(string.format("QT_ERRORS %d\\n", e.connect + e.read + e.write + e.timeout))
end
"""


def run_wrk(
    wrk: str,
    url: str,
    body: bytes,
    token: str,
    connections: int,
    warmup: float,
    duration: float,
    workdir: Path,
) -> dict[str, Any]:
    version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout
    name = (version.splitlines() or ["wrk"])[0].split(" [")[0].strip() or "wrk"
    script = workdir / "small_query.lua"
    script.write_text(WRK_SCRIPT.format(body=body.decode(), token=token))
    threads = str(max(1, min(2, connections)))
    base = [wrk, "-t", threads, "-c", str(connections), "--latency", "-s", str(script)]
    if warmup > 0:
        subprocess.run(
            [*base, "-d", f"{max(1, round(warmup))}s", url],
            capture_output=True,
            check=True,
            timeout=warmup + 60,
        )
    done = subprocess.run(
        [*base, "-d", f"{max(1, round(duration))}s", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    )
    figures = {k: int(v) for k, v in re.findall(r"^QT_(\w+) (\d+)$", done.stdout, re.M)}
    seconds = figures["DURATION_US"] / 1e6
    return {
        "requests": figures["REQUESTS"],
        "seconds": seconds,
        "rps": figures["REQUESTS"] / seconds,
        "p50": figures["P50_US"] / 1e6,
        "p99": figures["P99_US"] / 1e6,
        "bad": figures["BAD"],
        "errors": figures["ERRORS"],
        "version": name,
    }


def _python_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    """The fallback load generator (runs in its own process): httpx, N keep-alive tasks."""
    return asyncio.run(_python_load_async(url, body, headers, connections, warmup, duration))


async def _python_load_async(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:

        async def phase(seconds: float) -> tuple[list[float], int, int, float]:
            latencies: list[float] = []
            counts = {"bad": 0, "errors": 0}
            deadline = time.perf_counter() + seconds

            async def worker() -> None:
                while time.perf_counter() < deadline:
                    start = time.perf_counter()
                    try:
                        response = await client.post(url, content=body, headers=headers)
                    except httpx.HTTPError:
                        counts["errors"] += 1
                        continue
                    latencies.append(time.perf_counter() - start)
                    if response.status_code not in (200, 304) or b'"errors"' in response.content:
                        counts["bad"] += 1

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(connections)))
            return latencies, counts["bad"], counts["errors"], time.perf_counter() - started

        if warmup > 0:
            await phase(warmup)
        latencies, bad, errors, seconds = await phase(duration)
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": seconds,
        "rps": len(latencies) / seconds,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "bad": bad,
        "errors": errors,
    }


async def run_python_load(
    url: str,
    body: bytes,
    headers: dict[str, str],
    connections: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    # Resolve the function from the imported module, also under ``python -m``.
    target = importlib.import_module("tests.benchmarks.http")._python_load
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        result: dict[str, Any] = await loop.run_in_executor(
            pool, target, url, body, headers, connections, warmup, duration
        )
    return result


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:.1f} MiB"


# --- the benchmark ---------------------------------------------------------------------------


async def run(args: argparse.Namespace, out: Out) -> int:
    with tempfile.TemporaryDirectory(prefix="quotatree-http-") as tmp:
        workdir = Path(tmp)
        log_path = Path(args.server_log) if args.server_log else workdir / "server.log"
        async with scratch_database("quotatree_bench_http") as scratch:
            out(
                f"quotatree http benchmark - Python {platform.python_version()}, PostgreSQL "
                f"{scratch.server_version} ({scratch.where}); {os.cpu_count()} CPU cores shared "
                "by the server, the load generator and PostgreSQL"
            )
            conn = await asyncpg.connect(scratch.dsn)
            try:
                started = time.perf_counter()
                tree = await seed(conn, args.nodes)
                bad = await check_sums(conn, tree.seeded.version_id)
                await settle(conn)
                out(
                    f"seeded {tree.seeded.nodes:,} nodes with SQL in "
                    f"{time.perf_counter() - started:.1f} s (per depth: "
                    + " / ".join(f"{n:,}" for n in tree.seeded.levels)
                    + f"); children add up to parents: {'yes' if bad == 0 else 'NO'}"
                )
                with log_path.open("wb") as log:
                    return await _with_server(args, out, scratch, conn, tree, log, workdir)
            finally:
                await conn.close()


async def _with_server(
    args: argparse.Namespace,
    out: Out,
    scratch: Scratch,
    conn: asyncpg.Connection,
    tree: Tree,
    log: BinaryIO,
    workdir: Path,
) -> int:
    version_id = tree.seeded.version_id
    secret = secrets.token_urlsafe(32)
    token = mint_token(secret, subject="bench", role=Role.ADMIN, ttl_hours=1)
    port = args.port or free_port()
    base_url = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    bulk_body = orjson.dumps(
        {
            "query": SUBTREE_QUERY,
            "variables": {
                "id": encode("PlanVersion", version_id),
                "root": encode("TargetNode", version_id, tree.bulk_key),
            },
        }
    )
    small_body = orjson.dumps(
        {
            "query": SMALL_QUERY,
            "variables": {"id": encode("TargetNode", version_id, tree.small_key)},
        }
    )
    log_path = Path(log.name)
    # The cold path: the response cache off, every request executes.
    process = start_server(
        scratch.url, secret, port, log, workdir, {"QUOTATREE_RESPONSE_CACHE_BYTES": "0"}
    )
    try:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base_url, limits=limits, timeout=120.0, headers=headers
        ) as client:
            ready = await wait_ready(client, process, log_path, args.start_timeout)
            out(
                f"server: pid {process.pid}, {base_url}, production configuration (JWT auth, "
                "depth/alias/token limits, metrics, JSON logs at INFO to "
                f"{log_path if args.server_log else 'a temporary file'}); ready in {ready:.1f} s"
            )
            # A first small query checks the answer and loads what the server loads lazily.
            children = _small_children(await client.post("/graphql", content=small_body))
            memory_before = memory_kib(process.pid)
            failures = await _bulk(args, out, client, conn, tree, bulk_body)
            memory_after = memory_kib(process.pid)
            _memory(out, tree.bulk_count, memory_before, memory_after)
            failures += await _small(
                args,
                out,
                client,
                base_url,
                small_body,
                headers,
                token,
                children,
                workdir,
                process.pid,
            )
    finally:
        code = stop_server(process)
        out(f"server stopped (exit code {code})")
    failures += await _warm(args, out, scratch, secret, small_body, headers, log, workdir)
    if args.subscribers:  # live updates across two servers (tests.benchmarks.subscriptions)
        from tests.benchmarks.subscriptions import measure

        failures += await measure(
            out, scratch, subscribers=args.subscribers, log=log, workdir=workdir
        )
    return 1 if failures else 0


def _small_children(response: httpx.Response) -> int:
    if response.status_code != 200:
        raise RuntimeError(f"small query: HTTP {response.status_code}: {response.text[:500]}")
    body = response.json()
    if "errors" in body:
        raise RuntimeError(f"small query: errors {body['errors']}")
    node = body["data"]["node"]
    if node is None:
        raise RuntimeError("small query: node not found")
    return len(node["children"])


async def _bulk(
    args: argparse.Namespace,
    out: Out,
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    tree: Tree,
    bulk_body: bytes,
) -> int:
    from service.plans.nodes import MAX_BULK_NODES

    bulk_count = tree.bulk_count
    version_id, low = tree.seeded.version_id, tree.bulk_sort_path
    high = subtree_end(low)

    async def floor() -> bytes:
        rows = await conn.fetch(FLOOR_SQL, version_id, low, high, 32767, MAX_BULK_NODES + 1)
        return orjson.dumps([tuple(r) for r in rows])

    async def measured() -> httpx.Response:
        return await client.post("/graphql", content=bulk_body)

    # Warm-up (prepared statements, caches), then alternate so both see the same machine.
    await floor()
    first = await measured()
    if first.status_code != 200 or "errors" in first.json():
        raise RuntimeError(f"subtree query failed: HTTP {first.status_code}: {first.text[:500]}")
    table = first.json()["data"]["planVersion"]["subtree"]
    floors: list[float] = []
    reads: list[float] = []
    payload = b""
    response = first
    for _ in range(args.repeats):
        seconds, payload = await timed(floor)
        floors.append(seconds)
        seconds, response = await timed(measured)
        reads.append(seconds)
    t_floor, t_read = min(floors), min(reads)
    ratio = t_read / t_floor
    same = response.content == first.content
    out("")
    out(
        f"Bulk read: planVersion.subtree of a region, {table['count']:,} nodes "
        f"(truncated: {str(table['truncated']).lower()}; expected {bulk_count:,}), "
        f"best of {args.repeats}"
    )
    out(f"  {'':<36} {'best time':>12}   {'ratio':>6}   {'payload':>10}")
    out(
        f"  {'floor (asyncpg fetch + orjson)':<36} {_ms(t_floor)}   x{1.0:5.2f}   "
        f"{len(payload) / 1024:7.0f} KiB"
    )
    out(
        f"  {'POST /graphql, httpx, keep-alive':<36} {_ms(t_read)}   x{ratio:5.2f}   "
        f"{len(response.content) / 1024:7.0f} KiB"
    )
    out(
        "  all runs (ms): floor "
        + " ".join(f"{s * 1e3:.1f}" for s in floors)
        + "; http "
        + " ".join(f"{s * 1e3:.1f}" for s in reads)
        + f"; same answer every run: {'yes' if same else 'NO'}"
    )
    out(
        f"  goal http <= {BULK_GOAL_RATIO:g}x floor: "
        f"{'met' if ratio <= BULK_GOAL_RATIO else 'NOT met'} (x{ratio:.2f})"
    )
    ok = table["count"] == bulk_count and not table["truncated"] and same
    return 0 if ok else 1


def _memory(out: Out, nodes: int, before: dict[str, int], after: dict[str, int]) -> None:
    out("")
    out(f"Server memory (/proc/<pid>/status) around the {nodes:,}-node reads")
    if not before or not after:
        out("  n/a: /proc is not available on this system")
        return
    out(
        f"  before: peak (VmHWM) {_mib(before.get('VmHWM'))}, resident (VmRSS) "
        f"{_mib(before.get('VmRSS'))}"
    )
    out(
        f"  after:  peak (VmHWM) {_mib(after.get('VmHWM'))}, resident (VmRSS) "
        f"{_mib(after.get('VmRSS'))}"
    )
    out(
        f"  peak grew by {_mib(after['VmHWM'] - before['VmHWM'])} during the bulk reads; "
        f"resident grew by {_mib(after['VmRSS'] - before['VmRSS'])}"
    )


async def _small(
    args: argparse.Namespace,
    out: Out,
    client: httpx.AsyncClient,
    base_url: str,
    small_body: bytes,
    headers: dict[str, str],
    token: str,
    children: int,
    workdir: Path,
    pid: int,
) -> int:
    wrk = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
    if args.generator == "wrk" and wrk is None:
        raise RuntimeError("--generator wrk: wrk is not on PATH")
    url = f"{base_url}/graphql"
    first = (await client.post("/graphql", content=small_body)).json()
    coordinates = len(first["data"]["node"]["children"][0]["slice"])
    floor = await asyncio.to_thread(seconds_per_query, SMALL_QUERY, children, coordinates)
    cpu_before = cpu_seconds(pid)
    if wrk is not None:
        figures = await asyncio.to_thread(
            run_wrk,
            wrk,
            url,
            small_body,
            token,
            args.connections,
            args.warmup,
            args.duration,
            workdir,
        )
        generator = f"{figures['version']} (C, LuaJIT), {min(2, args.connections)} threads"
    else:
        why = "wrk is not on PATH" if args.generator == "auto" else "--generator python"
        generator = f"Python (httpx.AsyncClient in a separate process; {why})"
        figures = await run_python_load(
            url, small_body, headers, args.connections, args.warmup, args.duration
        )
    cpu = cpu_seconds(pid) - cpu_before
    after = await client.post("/graphql", content=small_body)
    after_children = _small_children(after)
    bad = figures["bad"] + figures["errors"]
    out("")
    out(
        f"Small query: a node, its {children} children and their slices; "
        f"{args.connections} keep-alive connections on loopback, {args.duration:g} s after "
        f"a {args.warmup:g} s warm-up"
    )
    out(f"  load generator: {generator}")
    ceiling = 1.0 / floor
    out(
        f"  typed floor: strawberry alone executing the same document over in-memory objects "
        f"({children} children x {coordinates} coordinates; no HTTP, no database): "
        f"{floor * 1e3:.2f} ms, so at most {ceiling:.0f} requests/s per core"
    )
    out(
        f"  {figures['rps']:8.0f} requests/s ({figures['requests']:,} in "
        f"{figures['seconds']:.1f} s); latency p50 {figures['p50'] * 1e3:.1f} ms, "
        f"p99 {figures['p99'] * 1e3:.1f} ms"
    )
    out(
        f"  non-200 or error responses: {figures['bad']}, transport errors: "
        f"{figures['errors']}; sample answer after the run: {after_children} children, "
        "no errors"
    )
    # The CPU counters cover the warm-up too: its requests are estimated at the same rate.
    per_request = cpu / max(1.0, figures["requests"] * (1 + args.warmup / args.duration))
    out(
        f"  server CPU per request (cold: response cache off): {per_request * 1e3:.2f} ms, "
        f"x{per_request / floor:.2f} the typed floor (goal <= x2); load average "
        f"{_load()}"
    )
    out(
        f"  server at {figures['rps'] / ceiling:.0%} of that ceiling; "
        f"{figures['rps'] * floor:.0%} of its time would go to the typed answer alone"
    )
    out(
        f"  goal >= {SMALL_GOAL_RPS:g} requests/s from one server process: "
        f"{'met' if figures['rps'] >= SMALL_GOAL_RPS else 'NOT met'}; "
        f"{os.cpu_count()} cores shared by server, generator and PostgreSQL"
    )
    return 0 if bad == 0 and children == SMALL_CHILDREN == after_children else 1


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (``/proc/<pid>/stat``), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


BARE_APP = """
from fastapi import FastAPI, Request
from fastapi.responses import Response
import sys
BODY = open(sys.argv[1], "rb").read()
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

@app.post("/graphql")
async def graphql(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def start_bare(
    app_file: Path, body_file: Path, port: int, log: BinaryIO
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(app_file), str(body_file), str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _load_phase(
    args: argparse.Namespace, url: str, body: bytes, headers: dict[str, str], pid: int
) -> tuple[dict[str, Any], float]:
    """(figures, server CPU seconds per request) of one load phase (Python generator)."""
    before = cpu_seconds(pid)
    figures = await run_python_load(
        url, body, headers, args.connections, args.warmup, args.duration
    )
    spent = cpu_seconds(pid) - before
    total = figures["requests"] * (1 + args.warmup / max(args.duration, 1e-9))
    return figures, spent / max(1.0, total)


async def _warm(
    args: argparse.Namespace,
    out: Out,
    scratch: Scratch,
    secret: str,
    small_body: bytes,
    headers: dict[str, str],
    log: BinaryIO,
    workdir: Path,
) -> int:
    """The small query answered from the response cache, revalidated with If-None-Match
    (304), and a bare FastAPI endpoint returning the same bytes, in the same run."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_server(scratch.url, secret, port, log, workdir)
    failures = 0
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60.0, headers=headers) as client:
            await wait_ready(client, process, Path(log.name), args.start_timeout)
            first = await client.post("/graphql", content=small_body)
            etag = first.headers.get("etag")
            answer = first.content
            again = await client.post("/graphql", content=small_body)
            if etag is None or again.content != answer:
                raise RuntimeError("warm: no ETag, or the cached answer differs")
            url = f"{base_url}/graphql"
            warm, warm_cpu = await _load_phase(args, url, small_body, headers, process.pid)
            revalidate = {**headers, "If-None-Match": etag}
            check = await client.post("/graphql", content=small_body, headers=revalidate)
            if check.status_code != 304:
                raise RuntimeError(f"If-None-Match: HTTP {check.status_code}, not 304")
            not_modified, nm_cpu = await _load_phase(args, url, small_body, revalidate, process.pid)
    finally:
        stop_server(process)
    body_file = workdir / "answer.json"
    body_file.write_bytes(answer)
    app_file = workdir / "bare_app.py"
    app_file.write_text(BARE_APP)
    bare_port = free_port()
    bare = start_bare(app_file, body_file, bare_port, log)
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            for _ in range(100):
                try:
                    await client.post(f"http://127.0.0.1:{bare_port}/graphql", content=b"{}")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        bare_figures, bare_cpu = await _load_phase(
            args, f"http://127.0.0.1:{bare_port}/graphql", small_body, headers, bare.pid
        )
    finally:
        stop_server(bare)
    out("")
    out(
        f"Warm small query (response cache hits), 304 revalidations and a bare FastAPI "
        f"endpoint returning the same {len(answer):,} bytes; Python load generator, "
        f"{args.connections} connections, {args.duration:g} s each; load average {_load()}"
    )
    for name, figures, cpu in (
        ("warm (cache hit), 200", warm, warm_cpu),
        ("If-None-Match, 304", not_modified, nm_cpu),
        ("bare FastAPI endpoint, same bytes", bare_figures, bare_cpu),
    ):
        out(
            f"  {name:<36} {figures['rps']:8.0f} requests/s, p50 {figures['p50'] * 1e3:.1f} ms, "
            f"p99 {figures['p99'] * 1e3:.1f} ms, server CPU {cpu * 1e3:.2f} ms/request; "
            f"bad {figures['bad']}, transport errors {figures['errors']}"
        )
    ratio = warm["rps"] / bare_figures["rps"]
    out(
        f"  warm / bare: {ratio:.0%} (goal >= 50%: {'met' if ratio >= 0.5 else 'NOT met'}); "
        f"304 / warm: {not_modified['rps'] / warm['rps']:.0%}"
    )
    # A 304 has no body, which the generator counts as no error (status is checked).
    failures += warm["bad"] + warm["errors"] + bare_figures["errors"]
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.benchmarks.http",
        description="The real server under load (prints figures): a bulk subtree read "
        "against an asyncpg + orjson floor, peak memory, requests per second of a small query.",
    )
    parser.add_argument("--nodes", type=int, default=100_000, help="nodes in the version")
    parser.add_argument("--repeats", type=int, default=10, help="bulk reads of each kind")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--generator",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator: wrk when on PATH (auto), or the Python one",
    )
    parser.add_argument(
        "--subscribers",
        type=int,
        default=1_000,
        help="WebSocket subscribers of the live-update figure (0 leaves it out)",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--server-log", help="keep the server's JSON log in this file")
    parser.add_argument("--start-timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.quick:
        args.nodes = min(args.nodes, 3_000)
        args.repeats = min(args.repeats, 2)
        args.duration = min(args.duration, 1.0)
        args.warmup = min(args.warmup, 0.5)
        args.subscribers = min(args.subscribers, 10)
    if args.nodes < 1_111 or args.repeats < 1 or args.connections < 1 or args.duration <= 0:
        parser.error("--nodes >= 1111, --repeats >= 1, --connections >= 1, --duration > 0")

    def out(line: str) -> None:
        print(line, flush=True)

    try:
        return asyncio.run(run(args, out))
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"tests.benchmarks.http: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
