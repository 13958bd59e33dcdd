"""Identity resolution at scale: the demo's three department exports for N customers (default 100k).

Generates the demo set (seeded), reads the sales, service and billing exports through their
bundled mappings (validation included, no graph), then in the same run:

* KBCRM: `resolve` — blocking, comparison levels, the model fit (u from random pairs, m by EM), clustering —
  with the time of each phase, pairwise precision / recall / F1 against the generator's
  truth, and the peak memory;
* baseline: exact-key linkage (records sharing a normalised e-mail address, phone number or
  registration id are one customer, union-find), the rule a CRM without a resolver applies,
  timed and scored the same way.

    python bench/identity_scale.py [--customers 100000] [--data DIR] [--phases]
"""

from __future__ import annotations

import argparse
import csv
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ingest.identity.graph import canonical_record
from ingest.identity.model import fit, prepare
from ingest.identity.resolver import Record, candidates, level_matrix, pairwise_quality, resolve
from ingest.mapping import load_mapping
from ingest.runner import read_rows
from ingest.validate import validate_row
from kbcrm.demo.generator import generate

EXPORTS = [
    ("sales", "sales_customers.csv"),
    ("service", "service_customers.jsonl"),
    ("billing", "billing_accounts.csv"),
]


def department_records(directory: Path) -> tuple[list[Record], dict[str, str]]:
    """Canonical records of the three exports (as `resolve_customers` reads them) and each one's true customer."""
    truth_by_key = {}
    with (directory / "truth" / "source_records.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            truth_by_key[f"{row['source_system']}:{row['source_key']}"] = row["customer_id"]
    records, truth = [], {}
    for name, file in EXPORTS:
        mapping = load_mapping(name)
        for row in read_rows(directory / file, mapping):
            key, props, problems = validate_row(mapping, file, row.line, row.data)
            if problems:
                continue
            record_id = mapping.node_id(key)
            records.append(canonical_record({"id": record_id, **props}))
            truth[record_id] = truth_by_key[record_id]
    return records, truth


def exact_key_clusters(records: list[Record]) -> list[list[str]]:
    """Baseline: one customer per shared e-mail, phone (last 8 digits) or registration id."""
    parent = {str(r["id"]): str(r["id"]) for r in records}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first: dict[str, str] = {}
    for record in records:
        for key in (
            f"e:{str(record.get('email') or '').lower()}" if record.get("email") else "",
            f"p:{str(record.get('phone') or '')[-8:]}" if record.get("phone") else "",
            f"r:{record.get('reg_id')}" if record.get("reg_id") else "",
        ):
            if not key:
                continue
            if key in first:
                a, b = find(first[key]), find(str(record["id"]))
                if a != b:
                    parent[max(a, b)] = min(a, b)
            else:
                first[key] = str(record["id"])
    groups: dict[str, list[str]] = defaultdict(list)
    for rid in parent:
        groups[find(rid)].append(rid)
    return list(groups.values())


def phases(records: list[Record]) -> dict[str, float]:
    """Seconds of each phase of `resolve`, measured separately (the clustering is the remainder)."""
    started = time.perf_counter()
    pairs = candidates(records)
    blocked = time.perf_counter()
    prepared = {str(r["id"]): prepare(r) for r in records}
    matrix = level_matrix(pairs, prepared)
    compared = time.perf_counter()
    fit(matrix, list(prepared.values()))
    fitted = time.perf_counter()
    return {
        "blocking": blocked - started,
        "comparing": compared - blocked,
        "fit (random pairs + EM)": fitted - compared,
        "pairs": float(len(pairs)),
    }


def true_share(truth: dict[str, str]) -> float:
    """The share of all record pairs that are one customer: what the model's prior estimates."""
    sizes = defaultdict(int)
    for customer in truth.values():
        sizes[customer] += 1
    records = len(truth)
    return sum(n * (n - 1) / 2 for n in sizes.values()) / (records * (records - 1) / 2)


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="an already generated demo directory (default: generate one)")
    parser.add_argument("--phases", action="store_true", help="then time blocking, comparing and the fit apart")
    args = parser.parse_args()
    console = Console(width=140)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.data or Path(scratch) / "demo"
        if args.data is None:
            console.print(f"generating the demo set for {args.customers:,} customers …")
            generate(directory, customers=args.customers, seed=7)
        records, truth = department_records(directory)
    console.print(f"{len(records):,} department records of {len(set(truth.values())):,} true customers")

    rows: list[tuple[str, float, dict[str, float], int, float]] = []
    loaded = peak_mb()
    started = time.perf_counter()
    baseline = exact_key_clusters(records)
    baseline_seconds = time.perf_counter() - started
    baseline_peak = peak_mb() - loaded
    started = time.perf_counter()
    result = resolve(records)
    kbcrm_seconds = time.perf_counter() - started
    kbcrm_peak = peak_mb() - loaded
    quality = pairwise_quality(result.clusters, truth, result.pairs)
    rows.append(("KBCRM resolve", kbcrm_seconds, quality, len(result.clusters), kbcrm_peak))
    rows.append(
        ("exact keys (baseline)", baseline_seconds, pairwise_quality(baseline, truth), len(baseline), baseline_peak)
    )
    table = Table(
        "method", "seconds", "records/s", "customers", "precision", "recall", "F1", "peak MB added",
        title=f"identity resolution: {len(records):,} records, {len(set(truth.values())):,} true customers",
    )  # fmt: skip
    for name, seconds, q, customers, peak in rows:
        table.add_row(
            name,
            f"{seconds:.1f}",
            f"{len(records) / seconds:,.0f}",
            f"{customers:,}",
            f"{q['precision']:.4f}",
            f"{q['recall']:.4f}",
            f"{q['f1']:.4f}",
            f"{peak:,.0f}",
        )
    console.print(table)
    console.print(
        f"time ratio KBCRM / baseline: {kbcrm_seconds / baseline_seconds:,.0f}x; "
        f"F1 {quality['f1']:.4f} vs {rows[1][2]['f1']:.4f}; blocking pair completeness "
        f"{quality['pair_completeness']:.4f} over {int(quality['candidate_pairs']):,} candidate pairs; "
        f"model: prior {result.model.prior:.3g} (true share of matching record pairs "
        f"{true_share(truth):.3g}), {result.model.iterations} EM iterations",
        soft_wrap=True,
    )
    if not args.phases:
        return
    split = phases(records)
    console.print(
        "phases (measured again, separately): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in split.items() if k != "pairs")
        + f"; clustering ≈ {max(kbcrm_seconds - sum(v for k, v in split.items() if k != 'pairs'), 0):.1f} s",
        soft_wrap=True,
    )


if __name__ == "__main__":
    main()
