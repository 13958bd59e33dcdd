"""Store load benchmark: the store interface vs raw FalkorDB UNWIND, same data, same run.

Loads N customer nodes and M REFERRED relationships (random pairs) twice into a fresh
embedded FalkorDB — once through `GraphStore.upsert_nodes` / `upsert_relationships`, once
through the falkordb client's raw `UNWIND … MERGE` — and prints both rates, their ratio
(goal ≥ 0.8), p50/p95 of a 2-hop neighbourhood query, and the server's memory.

    python bench/store_load.py [--nodes 200000] [--relationships 1000000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from falkordb import FalkorDB
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore

TWO_HOP = (
    "MATCH (c:Customer {id: $id})-[:REFERRED]-()-[:REFERRED]-(n:Customer) "
    "WHERE n.id <> $id RETURN count(DISTINCT n) AS reach"
)


def make_data(nodes: int, relationships: int, seed: int) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    node_rows = [{"id": f"c{i:08d}", "name": f"Customer {i}", "email": f"c{i}@example.org"} for i in range(nodes)]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < relationships:
        a, b = rng.randrange(nodes), rng.randrange(nodes)
        if a != b:
            pairs.add((a, b))
    rel_rows = [{"start": f"c{a:08d}", "end": f"c{b:08d}"} for a, b in sorted(pairs)]
    return node_rows, rel_rows


def load_through_store(
    store: FalkorDBStore, nodes: list[dict], rels: list[dict], batch: int, progress: Progress
) -> float:
    task = progress.add_task("store interface", total=len(nodes) + len(rels))
    started = time.perf_counter()
    for i in range(0, len(nodes), batch):
        store.upsert_nodes("Customer", nodes[i : i + batch], batch_size=batch)
        progress.advance(task, len(nodes[i : i + batch]))
    for i in range(0, len(rels), batch):
        store.upsert_relationships(
            "REFERRED", rels[i : i + batch], start_label="Customer", end_label="Customer", batch_size=batch
        )
        progress.advance(task, len(rels[i : i + batch]))
    return time.perf_counter() - started


def load_raw(
    socket: Path, graph_name: str, nodes: list[dict], rels: list[dict], batch: int, progress: Progress
) -> float:
    graph = FalkorDB(unix_socket_path=str(socket)).select_graph(graph_name)
    graph.query("CREATE INDEX FOR (n:Customer) ON (n.id)")
    task = progress.add_task("raw UNWIND", total=len(nodes) + len(rels))
    started = time.perf_counter()
    for i in range(0, len(nodes), batch):
        rows = [{"id": r["id"], "props": {k: v for k, v in r.items() if k != "id"}} for r in nodes[i : i + batch]]
        graph.query("UNWIND $rows AS row MERGE (n:Customer {id: row.id}) SET n += row.props", {"rows": rows})
        progress.advance(task, len(rows))
    for i in range(0, len(rels), batch):
        rows = [{"start": r["start"], "end": r["end"], "props": {}} for r in rels[i : i + batch]]
        graph.query(
            "UNWIND $rows AS row MATCH (a:Customer {id: row.start}) MATCH (b:Customer {id: row.end}) "
            "MERGE (a)-[r:REFERRED]->(b) SET r += row.props",
            {"rows": rows},
        )
        progress.advance(task, len(rows))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--relationships", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    console = Console()
    nodes, rels = make_data(args.nodes, args.relationships, args.seed)
    with tempfile.TemporaryDirectory(prefix="kbcrm-bench-") as tmp:
        server = EmbeddedServer(Path(tmp) / "graph")
        socket = server.ensure_running()
        try:
            store = FalkorDBStore(graph_name="bench_store", socket_path=socket)
            store.ensure_schema()
            with Progress(console=console, transient=True) as progress:
                store_s = load_through_store(store, nodes, rels, args.batch, progress)
                raw_s = load_raw(socket, "bench_raw", nodes, rels, args.batch, progress)
            assert store.count_nodes("Customer") == args.nodes
            assert store.count_relationships("REFERRED") == args.relationships
            rng = random.Random(args.seed)
            latencies = []
            for _ in range(args.queries):
                node_id = f"c{rng.randrange(args.nodes):08d}"
                started = time.perf_counter()
                store.read(TWO_HOP, id=node_id)
                latencies.append((time.perf_counter() - started) * 1000)
            memory_mb = store.memory_bytes() / 2**20
            store.close()
        finally:
            server.destroy()
    items = args.nodes + args.relationships
    quantiles = statistics.quantiles(latencies, n=100)
    table = Table(
        title=f"store load: {args.nodes:,} nodes + {args.relationships:,} relationships, batch {args.batch:,}"
    )
    table.add_column("path")
    table.add_column("seconds", justify="right")
    table.add_column("items/s", justify="right")
    table.add_row("store interface (upsert_nodes / upsert_relationships)", f"{store_s:.1f}", f"{items / store_s:,.0f}")
    table.add_row("raw FalkorDB UNWIND MERGE (baseline)", f"{raw_s:.1f}", f"{items / raw_s:,.0f}")
    console.print(table)
    ratio = raw_s / store_s
    console.print(
        f"ratio store/raw throughput: [bold]{ratio:.2f}[/bold] (goal ≥ 0.80) {'OK' if ratio >= 0.8 else 'BELOW GOAL'}"
    )
    console.print(
        f"2-hop neighbourhood query over {args.queries} random customers: "
        f"p50 {quantiles[49]:.2f} ms, p95 {quantiles[94]:.2f} ms"
    )
    console.print(f"server memory after both loads (two graphs): {memory_mb:,.0f} MB")


if __name__ == "__main__":
    main()
