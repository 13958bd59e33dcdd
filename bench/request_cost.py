"""Request cost benchmark: server CPU per request, one kind of request at a time, against `kbcrm serve --demo`.

bench/portal_load.py measures the portal's mix; this splits it. For each kind of request the
mix sends — an article read, a repeated question (answered from the kept answers), a new
question (encoded by both models, ranked and explained), a login (argon2) — N users on
loopback send only that kind, closed loop, for a bounded time, against one server with one
uvicorn worker (so each request's CPU is that process's, not shared with a second one).
Prints, per kind, req/s, the server's and the graph server's CPU per request and the load
generator's, and the ratio of the server's CPU to that of the baseline measured in the same
run: `/health`, the cheapest request the server answers (one graph ping).

    python -m bench.request_cost [--users 20] [--seconds 8] [--kinds health,read,repeated,new,login]

What the mix costs is more than the sum of these: in the mix, the kinds share the cores, the
caches and the GIL (README, Benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

from bench.portal_load import (
    LOGINS,
    QUESTIONS,
    ROOT,
    Connection,
    cpu_seconds,
    machine,
    question,
    serving,
)

SERVER = "server (uvicorn)"  # the CPU groups are bench.portal_load.serving's
Request = tuple[str, str, dict[str, object]]  # method, path, keyword arguments of Connection.request


def kinds(articles: list[str], login: tuple[str, str]) -> dict[str, Callable[[random.Random], Request]]:
    """What one request of each kind is, drawn with the user's random generator."""
    username, password = login
    return {
        "health": lambda rng: ("GET", "/health", {}),
        "read": lambda rng: ("GET", f"/api/v1/knowledge/articles/{rng.choice(articles)}", {}),
        "repeated": lambda rng: ("GET", "/api/v1/knowledge/search", {"params": {"q": rng.choice(QUESTIONS)}}),
        "new": lambda rng: ("GET", "/api/v1/knowledge/search", {"params": {"q": question(rng, 1.0)}}),
        "login": lambda rng: ("POST", "/api/v1/auth/login", {"json": {"username": username, "password": password}}),
    }


async def user(port: int, seed: int, kind: str, articles: list[str], seconds: float, statuses: list[int]) -> None:
    """Log in, then send only `kind` requests, each as soon as the last is answered, for `seconds`."""
    rng = random.Random(seed)
    client = Connection("127.0.0.1", port)
    username, password = LOGINS[seed % len(LOGINS)]
    await client.request("POST", "/api/v1/auth/login", json={"username": username, "password": password})
    make = kinds(articles, (username, password))[kind]
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        method, path, kwargs = make(rng)
        try:
            statuses.append(await client.request(method, path, **kwargs))  # type: ignore[arg-type]
        except (OSError, ValueError):
            statuses.append(599)
    await client.close()


async def measure(
    port: int, kind: str, users: int, seconds: float, articles: list[str], groups: dict[str, list[int]]
) -> tuple[float, dict[str, float], int, int]:
    """One kind: a short warm-up, then the timed run; req/s, CPU ms per request by group, requests, errors."""
    await asyncio.gather(*(user(port, i, kind, articles, 1.0, []) for i in range(users)))  # warm-up
    statuses: list[int] = []
    before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    started = time.perf_counter()
    await asyncio.gather(*(user(port, i, kind, articles, seconds, statuses) for i in range(users)))
    elapsed = time.perf_counter() - started
    requests = len(statuses) + users  # and each user's login
    cpu = {name: (cpu_seconds(pids) - before[name]) * 1000 / requests for name, pids in groups.items()}
    return requests / elapsed, cpu, requests, sum(status >= 400 for status in statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kinds", default="health,read,repeated,new,login", help="comma-separated, health first")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench-portal")
    args = parser.parse_args()
    chosen = args.kinds.split(",")
    unknown = set(chosen) - set(kinds([], ("", "")))
    if unknown or not 1 <= args.users <= 200 or not 1 <= args.seconds <= 120:
        raise SystemExit(
            f"--kinds from health,read,repeated,new,login ({sorted(unknown)}), --users 1..200, --seconds 1..120"
        )
    console = Console()
    rows: dict[str, tuple[float, dict[str, float], int, int]] = {}
    with serving(args.data_dir, console, workers=1) as (port, groups):
        found = httpx.get(f"http://127.0.0.1:{port}/api/v1/knowledge/search", params={"q": "error", "limit": 20})
        articles = [s["id"] for s in found.json()["suggestions"]]
        for kind in chosen:
            with console.status(f"{args.users} users, {kind} only, {args.seconds:g} s"):
                rows[kind] = uvloop.run(measure(port, kind, args.users, args.seconds, articles, groups))
    table = Table(
        title=f"request cost: one kind at a time, {args.users} users, closed loop, one uvicorn worker, "
        f"{machine()}, {args.seconds:g} s each"
    )
    for column in ("kind", "requests", "req/s", "server CPU ms/req", "graph", "load generator", "errors", "ratio"):
        table.add_column(column, justify="left" if column == "kind" else "right", no_wrap=column == "kind")
    baseline = rows["health"][1][SERVER] if "health" in rows else None
    for kind, (rate, cpu, requests, errors) in rows.items():
        ratio = f"{cpu[SERVER] / baseline:.2f}" if baseline else "-"
        table.add_row(
            kind + (" (baseline)" if kind == "health" else ""),
            str(requests),
            f"{rate:.0f}",
            f"{cpu[SERVER]:.3f}",
            f"{cpu['graph (FalkorDB)']:.3f}",
            f"{cpu['load generator']:.3f}",
            str(errors),
            ratio,
        )
    console.print(table)
    console.print("ratio: server CPU per request against /health's, measured in the same run")


if __name__ == "__main__":
    main()
