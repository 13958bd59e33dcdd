"""Recommendation cost as the customer base grows: what a customer's /my page pays per view.

For each size, a seeded demo set is generated and loaded into a fresh embedded graph
(`load_demo`, articles included). Then, for random customers, it times
`next_best_articles` (the page's recommendations: articles about known issues of the
customer's products, ranked with the cases of every customer who owns the product) beside
`installed_base` (the same page's plain read of the customer's products: the baseline,
measured in the same run), and prints p50/p95 of each and their ratio.

The recommendation counts the service cases on each owned product, so its cost grows with
the number of cases per product, that is with the customer base; the baseline does not.

    python -m bench.recommendations [--sizes 300,3000] [--customers 100]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from kbcrm.access.models import Principal, Role
from kbcrm.customers.service import installed_base
from kbcrm.demo.generator import generate
from kbcrm.demo.load import load_demo
from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from knowledge_transfer.recommendations import next_best_articles

OWNERS = "MATCH (c:Customer)-[:OWNS]->(:Product) RETURN DISTINCT c.id AS id ORDER BY id"
CASES = "MATCH (k:ServiceCase) RETURN count(k) AS n"


def _timed(call: Callable[[], object], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        call()
    return (time.perf_counter() - started) * 1000 / repeats


def measure(store: FalkorDBStore, customers: list[str], repeats: int) -> tuple[list[float], list[float]]:
    """Per customer: ms for the recommendations and for the installed-base read (warm: one call first)."""
    staff = Principal("user:bench", "bench", Role.engineer)
    recommend, baseline = [], []
    for customer in customers:
        next_best_articles(store, customer)
        recommend.append(_timed(lambda c=customer: next_best_articles(store, c), repeats))
        baseline.append(_timed(lambda c=customer: installed_base(store, principal=staff, customer_id=c), repeats))
    return recommend, baseline


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="300,3000", help="Customer counts, comma-separated.")
    parser.add_argument("--customers", type=int, default=100, help="Random customers timed per size.")
    parser.add_argument("--repeats", type=int, default=3, help="Calls per customer (the mean is kept).")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    console = Console()
    table = Table(title="recommendations per customer page view (warm graph, ms)")
    for column in ("customers", "service cases", "recommend p50", "recommend p95", "baseline p50", "ratio p50"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="kbcrm-bench-rec-") as tmp:
        server = EmbeddedServer(Path(tmp) / "graph")
        socket = server.ensure_running()
        try:
            for size in (int(s) for s in args.sizes.split(",")):
                demo = Path(tmp) / f"demo-{size}"
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task(f"{size:,} customers: generate and load", total=None)

                    def step(name: str, task: TaskID = task, size: int = size) -> None:
                        progress.update(task, description=f"{size:,} customers: {name}")

                    generate(demo, customers=size, seed=args.seed)
                    store = FalkorDBStore(graph_name=f"bench_rec_{size}", socket_path=socket)
                    store.ensure_schema(vector_dimension=384)
                    load_demo(store, demo, progress=step)
                owners = [r["id"] for r in store.read(OWNERS)]
                picked = random.Random(args.seed).sample(owners, min(args.customers, len(owners)))
                recommend, baseline = measure(store, picked, args.repeats)
                cases = int(store.read(CASES)[0]["n"])
                table.add_row(
                    f"{size:,}",
                    f"{cases:,}",
                    f"{_p(recommend, 50):.2f}",
                    f"{_p(recommend, 95):.2f}",
                    f"{_p(baseline, 50):.2f}",
                    f"{_p(recommend, 50) / _p(baseline, 50):.1f}",
                )
                store.drop_graph()
                store.close()
        finally:
            server.destroy()
    console.print(table)


if __name__ == "__main__":
    main()
