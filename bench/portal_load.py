"""Portal load benchmark: N concurrent simulated users on loopback against `kbcrm serve --demo`.

Starts the real server (uvicorn, `--workers` processes) on the demo graph in a data directory
of its own, then runs, for a bounded time, N users that each log in and then search the knowledge
base and read articles (and now and then log in again).
Prints, per kind of request and overall, req/s, p50/p95/p99 and errors, and — measured in
the same run, against the same server — the baseline: the same users calling /health,
the cheapest request the server answers (its ceiling for this client on this machine).
Half of the searches (`--fresh-share`) are questions never asked before, so neither the
server's question-vector cache nor its kept answers can answer them; the rest repeat twelve
popular questions.

The last column, users waiting, is the mean number of that kind's requests in progress (their
latencies summed over the run's time, Little's law): in the closed loop the kinds share out the
users, so it shows whether one kind (logins, say) holds most of them while the rest run fast.
When a kind under 5 % of the requests holds over half the users, a closed run says so under
its verdict: its p95 then leaves that kind out and measures the other requests of fewer users.

Two ways to load the server:
- closed loop (the default): each user sends its next request as soon as the last one is
  answered, with no think time, so the users saturate the server and req/s is its capacity;
  with N users, the mean latency is then N / (req/s) by Little's law.
- `--rate R`: the users together offer R requests per second, each user at R / N per second
  with exponential gaps (Poisson arrivals) from the start.
  A request's latency counts from the moment it was due, not from when the user, still
  waiting on its previous answer, could send it (no coordinated omission: a server that falls
  behind the offered load shows it in the latencies).
`--ramp S` spreads the users' arrival (their first login) evenly over the first S seconds;
by default all 50 log in at once, 50 argon2 checks of about 10 ms each at the same moment.
Closed, p95 <= 100 ms with 50 users already implies well over 500 req/s (the mean latency is
50 / (req/s)); paced at `--rate 500`, the goal reads as 50 users offering 500 req/s answered
at p95 <= 100 ms. The script checks the goal the same way in both.

Goal (issue 5): 50 users, >= 500 req/s, p95 <= 100 ms, 0 errors.

    python -m bench.portal_load [--users 50] [--seconds 20] [--workers 1] [--fresh-share 0.5] [--rate 0] [--ramp 0]

The server inherits the environment, so `KBCRM_ACCESS_LOG=false python -m bench.portal_load`
measures it without uvicorn's access log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from json import dumps
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "display shows an error",
    "pump makes noise after restart",
    "E-1012 on AX-120",
    "excessive vibration",
    "unit does not start",
    "firmware update failed",
    "blank display",
    "overheating warning",
    "pressure drops",
    "controller watchdog reset",
    "显示屏 错误",
    "how do I replace the filter",
]
# Words for questions no one asked before (each one is new to the server's question cache).
SYMPTOMS = ["noise", "vibration", "leak", "no display", "overheating", "pressure loss", "slow start", "alarm"]
PRODUCTS = ["AX-120", "AX-200", "HP-50", "the controller", "the pump", "the sensor"]
LOGINS = [("customer1", "customer-demo-1"), ("customer2", "customer-demo-1"), ("customer3", "customer-demo-1")]


def machine() -> str:
    """The processor as the results depend on it: model, cores, and the vector instructions the models use.

    The int8 models' matrix products use AVX-512 VNNI (or AVX-VNNI) where the processor has it and
    plain AVX2 otherwise; libsodium's argon2 uses AVX-512F or AVX2. A new question cost 6.5 against
    4.25 ms of server CPU, a login 17.2 against 12.1 ms, on an AVX2-only processor (AMD EPYC, Zen 3)
    against one with AVX-512 VNNI (bench/request_cost.py; README, Benchmarks).
    """
    model, flags = "unknown processor", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "model name" and model == "unknown processor":
                model = value.strip()
            elif name.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    vector = next((f for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2") if f in flags), "no AVX2")
    return f"{model}, {os.cpu_count()} cores, {vector.upper().replace('_', '-')}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(data_dir: Path, port: int, console: Console, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KBCRM_DATA_DIR": str(data_dir), "KBCRM_PORT": str(port), "KBCRM_WORKERS": str(workers)}
    log = (data_dir / "server.log").open("wb")
    kbcrm = Path(sys.executable).with_name("kbcrm")
    process = subprocess.Popen([str(kbcrm), "serve", "--demo", "--port", str(port)], env=env, stdout=log, stderr=log)
    deadline = time.monotonic() + 900  # the first run generates and loads the demo graph
    with console.status(f"starting kbcrm serve --demo (log: {data_dir / 'server.log'})"):
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the server stopped; see {data_dir / 'server.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    # Each worker process builds its knowledge base on its first question, and a new
                    # connection may reach any of them: ask from many connections at once, then wait
                    # until the server's processes are idle (every build done) before timing anything.
                    uvloop.run(warm_up(port, 8 * workers))
                    while time.monotonic() < deadline:
                        pids = process_tree(process.pid)
                        before = cpu_seconds(pids)
                        time.sleep(1)
                        if cpu_seconds(pids) - before < 0.05:
                            return process
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not answer in time")


@contextmanager
def serving(data_dir: Path, console: Console, workers: int) -> Iterator[tuple[int, dict[str, list[int]]]]:
    """`kbcrm serve --demo` on a free port while the block runs: its port, and the processes whose CPU is measured.

    The groups: the server (uvicorn and its workers), the graph server it started (FalkorDB),
    and this process (the load generator).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = start_server(data_dir, port, console, workers)
    try:
        graph = int((data_dir / "graph" / "redis.pid").read_text())  # started by the server
        yield (
            port,
            {
                "server (uvicorn)": [pid for pid in process_tree(server.pid) if pid != graph],
                "graph (FalkorDB)": [graph],
                "load generator": [os.getpid()],
            },
        )
    finally:
        server.terminate()
        server.wait(timeout=60)


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (None for a process that has gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's worker processes), from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(entry.name)
        if fields is not None:
            children[int(fields[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (0 for one that has gone)."""
    stats = [fields for fields in map(_stat, pids) if fields is not None]
    return sum(int(fields[11]) + int(fields[12]) for fields in stats) / os.sysconf("SC_CLK_TCK")


async def warm_up(port: int, connections: int) -> None:
    """One question from each of `connections` connections at once."""
    clients = [Connection("127.0.0.1", port) for _ in range(connections)]
    await asyncio.gather(*(c.request("GET", "/api/v1/knowledge/search", params={"q": "warm up"}) for c in clients))
    await asyncio.gather(*(c.close() for c in clients))


def question(rng: random.Random, fresh_share: float) -> str:
    """A popular question (QUESTIONS) or, with probability `fresh_share`, one never asked before."""
    if rng.random() >= fresh_share:
        return rng.choice(QUESTIONS)
    return f"{rng.choice(SYMPTOMS)} on {rng.choice(PRODUCTS)} since update {rng.randrange(10**9)}"


class Connection:
    """A lean HTTP/1.1 keep-alive client (one connection, one request at a time) with a cookie jar.

    The load generator shares the machine's cores with the server it measures: httpx's
    AsyncClient cost about 0.85 ms of CPU per request here (the /health baseline ran 1,428
    req/s with the client using more CPU than the server), this about a tenth of that.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = {}
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, *, params: dict[str, str] | None = None, json: object = None
    ) -> int:
        """Send one request and read the whole response; its status (ConnectionError when the server hangs up)."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = b"" if json is None else dumps(json).encode()
        target = f"{path}?{urlencode(params)}" if params else path
        head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if json is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        try:
            status_line = await self.reader.readuntil(b"\r\n")
            headers = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise ConnectionError(f"{method} {path}: the server closed the connection") from exc
        length, chunked, close = 0, False, False
        for line in headers:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                close = value.lower() == "close"
            elif name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
        if chunked:
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return int(status_line.split()[1])

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def user(
    host: str,
    port: int,
    articles: list[str],
    seconds: float,
    seed: int,
    results: dict[str, list[float]],
    errors: dict[str, int],
    fresh_share: float,
    rate: float = 0.0,
    start: float = 0.0,
) -> None:
    """One user: after `start` seconds, log in, then search, read and now and then log in again.

    The user stops when `seconds` have passed since the run began. `rate` > 0: requests are due
    at exponential gaps of mean 1 / rate seconds, and each is timed from when it was due.
    """
    rng = random.Random(seed)
    client = Connection(host, port)
    end = time.perf_counter() + seconds
    await asyncio.sleep(start)
    due = time.perf_counter() + rng.expovariate(rate) if rate else 0.0

    async def timed(kind: str, method: str, path: str, **kwargs: Any) -> None:
        nonlocal due
        if rate:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            started, due = due, due + rng.expovariate(rate)
        else:
            started = time.perf_counter()
        try:
            ok = await client.request(method, path, **kwargs) < 400
        except (OSError, ValueError):
            ok = False
        results[kind].append(time.perf_counter() - started)
        if not ok:
            errors[kind] += 1

    username, password = LOGINS[seed % len(LOGINS)]
    await timed("login", "POST", "/api/v1/auth/login", json={"username": username, "password": password})
    # Paced, every request due before the end is sent, however late: a server that falls behind
    # is measured by the latencies of all the requests it was offered, not only the early ones.
    while (due if rate else time.perf_counter()) < end:
        roll = rng.random()
        if roll < 0.5:
            await timed("search", "GET", "/api/v1/knowledge/search", params={"q": question(rng, fresh_share)})
        elif roll < 0.97:
            await timed("read", "GET", f"/api/v1/knowledge/articles/{rng.choice(articles)}")
        else:
            await timed("login", "POST", "/api/v1/auth/login", json={"username": username, "password": password})
    await client.close()


async def health_user(
    host: str, port: int, seconds: float, results: dict[str, list[float]], errors: dict[str, int]
) -> None:
    client = Connection(host, port)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            ok = await client.request("GET", "/health") == 200
        except (OSError, ValueError):
            ok = False
        results["health"].append(time.perf_counter() - started)
        if not ok:
            errors["health"] += 1
    await client.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) >= 2 else float("nan")


async def run(
    port: int,
    users: int,
    seconds: float,
    fresh_share: float,
    groups: dict[str, list[int]],
    rate: float = 0.0,
    ramp: float = 0.0,
) -> tuple[dict[str, list[float]], dict[str, int], float, float, dict[str, float]]:
    host = "127.0.0.1"
    found = httpx.get(f"http://{host}:{port}/api/v1/knowledge/search", params={"q": "error", "limit": 20}, timeout=60)
    articles = [s["id"] for s in found.json()["suggestions"]]
    baseline: dict[str, list[float]] = defaultdict(list)
    baseline_errors: dict[str, int] = defaultdict(int)
    started = time.perf_counter()
    await asyncio.gather(*(health_user(host, port, seconds / 2, baseline, baseline_errors) for _ in range(users)))
    baseline_elapsed = time.perf_counter() - started
    results: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    cpu = {name: cpu_seconds(pids) for name, pids in groups.items()}
    started = time.perf_counter()
    await asyncio.gather(
        *(
            user(host, port, articles, seconds, i, results, errors, fresh_share, rate / users, ramp * i / users)
            for i in range(users)
        )
    )
    elapsed = time.perf_counter() - started
    cpu = {name: cpu_seconds(pids) - cpu[name] for name, pids in groups.items()}
    results.update(baseline)
    errors.update(baseline_errors)
    return results, errors, elapsed, baseline_elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench-portal")
    parser.add_argument(
        "--fresh-share",
        type=float,
        default=0.5,
        help="share of searches with a question never asked before (the rest repeat 12 popular ones)",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (KBCRM_WORKERS)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second the users offer together (Poisson arrivals, latency from when each was due); "
        "0: closed loop, each user sends its next request as soon as it has its answer",
    )
    parser.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="seconds over which the users arrive, evenly spread (0: all log in at once)",
    )
    args = parser.parse_args()
    if not 0 <= args.ramp < args.seconds:
        raise SystemExit("--ramp must be shorter than --seconds")
    if not 1 <= args.users <= 500 or not 1 <= args.seconds <= 300 or not 0 <= args.rate <= 20_000:
        raise SystemExit("--users 1..500, --seconds 1..300 and --rate 0..20000")
    console = Console()
    status = f"{args.users} users for {args.seconds:.0f} s (after {args.seconds / 2:.0f} s of /health)"
    with serving(args.data_dir, console, args.workers) as (port, groups), console.status(status):
        results, errors, elapsed, baseline_elapsed, cpu = uvloop.run(
            run(port, args.users, args.seconds, args.fresh_share, groups, args.rate, args.ramp)
        )
    table = Table(
        title=f"portal load: {args.users} concurrent users, loopback, {args.workers} uvicorn worker(s), "
        f"{machine()}, {args.fresh_share:.0%} of searches never asked before, "
        + (f"{args.rate:.0f} req/s offered (Poisson, timed from when due)" if args.rate else "closed loop")
        + (f", users arriving over {args.ramp:g} s" if args.ramp else ", all logging in at once")
    )
    for column in ("requests", "kind", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "users waiting"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    portal = [v for kind, values in results.items() if kind != "health" for v in values]
    rows = [(kind, results[kind], elapsed) for kind in ("login", "search", "read")]
    rows += [("portal (all)", portal, elapsed), ("baseline: /health", results["health"], baseline_elapsed)]
    for kind, values, span in rows:
        errs = (
            sum(errors[k] for k in ("login", "search", "read"))
            if kind == "portal (all)"
            else errors[kind.split(":")[-1].strip().lstrip("/")]
        )
        table.add_row(
            str(len(values)),
            kind,
            f"{len(values) / span:.0f}",
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 95):.1f}",
            f"{percentile(values, 99):.1f}",
            str(errs),
            f"{sum(values) / span:.1f}",
        )
    console.print(table)
    rate, base_rate = len(portal) / elapsed, len(results["health"]) / baseline_elapsed
    p95 = percentile(portal, 95)
    console.print(f"portal throughput / /health baseline: {rate / base_rate:.2f}")
    console.print(
        "CPU during the portal run, ms per request: "
        + ", ".join(f"{name} {1000 * used / max(len(portal), 1):.2f}" for name, used in cpu.items())
        + f" (of {2000 * elapsed / max(len(portal), 1) / 2 * (os.cpu_count() or 1):.2f} available)"
    )
    goal = rate >= 500 and p95 <= 100 and sum(errors.values()) == 0
    console.print(
        f"goal (>= 500 req/s, p95 <= 100 ms, 0 errors): {'met' if goal else 'NOT met'} "
        f"({rate:.0f} req/s, p95 {p95:.1f} ms, {sum(errors.values())} errors)"
    )
    for kind in ("login", "search", "read"):
        waiting = sum(results[kind]) / elapsed
        if not args.rate and len(results[kind]) < 0.05 * len(portal) and waiting > args.users / 2:
            console.print(
                f"[yellow]caution: {kind} requests are {len(results[kind]) / len(portal):.1%} of all but held "
                f"{waiting:.0f} of the {args.users} users on average: the p95 leaves them out and measures the "
                f"other requests of the remaining users, not {args.users} users' load[/yellow]"
            )


if __name__ == "__main__":
    main()
