"""Identity resolution benchmark: KBCRM's resolver vs `recordlinkage` on the same labelled data, same run.

For each labelled set in ../shared/data (Febrl 1-3, Splink fake_1000), both tools link
the records; the table shows time, pairwise precision / recall / F1 and the speed ratio.
recordlinkage runs its documented Febrl recipe: blocking on given name plus a sorted
neighbourhood on surname, Jaro-Winkler / exact comparisons, and a link when at least
3.5 of the field scores agree (its usual threshold rule).

    python bench/identity_linkage.py
"""

from __future__ import annotations

import time
from itertools import combinations
from pathlib import Path

import pandas as pd
import recordlinkage
from rich.console import Console
from rich.table import Table

from ingest.identity.evaluate import read_labelled
from ingest.identity.resolver import pairwise_quality, resolve

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SETS = [
    ("Febrl dataset1", DATA / "febrl" / "dataset1.csv", "rec_id", r"rec-(\d+)"),
    ("Febrl dataset2", DATA / "febrl" / "dataset2.csv", "rec_id", r"rec-(\d+)"),
    ("Febrl dataset3", DATA / "febrl" / "dataset3.csv", "rec_id", r"rec-(\d+)"),
    ("Splink fake_1000", DATA / "splink" / "fake_1000.csv", "cluster", None),
]
FIELDS = ["given", "family", "dob", "email", "street", "city", "postcode", "reg_id"]


def pair_quality(pairs: set[tuple[str, str]], truth: dict[str, str]) -> tuple[float, float, float]:
    groups: dict[str, list[str]] = {}
    for rid, entity in truth.items():
        groups.setdefault(entity, []).append(rid)
    true_pairs = {tuple(sorted(p)) for g in groups.values() for p in combinations(g, 2)}
    hits = len(pairs & true_pairs)
    precision = hits / len(pairs) if pairs else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def run_recordlinkage(records: list[dict]) -> set[tuple[str, str]]:
    frame = pd.DataFrame([{f: r.get(f, None) for f in FIELDS} | {"id": r["id"]} for r in records]).set_index("id")
    indexer = recordlinkage.Index()
    indexer.block("given")
    indexer.sortedneighbourhood("family")
    candidates = indexer.index(frame)
    compare = recordlinkage.Compare()
    compare.string("given", "given", method="jarowinkler", threshold=0.85, label="given")
    compare.string("family", "family", method="jarowinkler", threshold=0.85, label="family")
    compare.exact("dob", "dob", label="dob")
    compare.string("email", "email", method="jarowinkler", threshold=0.9, label="email")
    compare.string("street", "street", method="levenshtein", threshold=0.85, label="street")
    compare.exact("city", "city", label="city")
    compare.exact("postcode", "postcode", label="postcode")
    compare.exact("reg_id", "reg_id", label="reg_id")
    features = compare.compute(candidates, frame)
    matches = features[features.sum(axis=1) >= 3.5].index
    return {tuple(sorted((str(a), str(b)))) for a, b in matches}


def main() -> None:
    console = Console(width=140)
    table = Table(title="identity resolution: KBCRM resolver vs recordlinkage (same data, same run)")
    for column in ("data set", "records", "tool", "seconds", "precision", "recall", "F1", "speed ratio"):
        table.add_column(column, justify="right" if column not in ("data set", "tool") else "left")
    for name, path, truth_column, pattern in SETS:
        if not path.exists():
            console.print(f"[yellow]skipping {name}: {path} not found[/yellow]")
            continue
        records, truth = read_labelled(path, truth_column=truth_column, truth_pattern=pattern)
        started = time.perf_counter()
        result = resolve(records)
        ours_s = time.perf_counter() - started
        ours = pairwise_quality(result.clusters, truth)
        started = time.perf_counter()
        theirs_pairs = run_recordlinkage(records)
        theirs_s = time.perf_counter() - started
        p, r, f = pair_quality(theirs_pairs, truth)
        table.add_row(
            name,
            f"{len(records):,}",
            "KBCRM",
            f"{ours_s:.2f}",
            f"{ours['precision']:.3f}",
            f"{ours['recall']:.3f}",
            f"{ours['f1']:.3f}",
            f"{theirs_s / ours_s:.2f}x",
        )
        table.add_row("", "", "recordlinkage", f"{theirs_s:.2f}", f"{p:.3f}", f"{r:.3f}", f"{f:.3f}", "1.00x")
    console.print(table)
    console.print("speed ratio = recordlinkage seconds / KBCRM seconds (above 1: KBCRM is faster)")


if __name__ == "__main__":
    main()
