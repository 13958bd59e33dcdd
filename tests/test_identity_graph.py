"""Identity resolution on the graph: the demo's three department exports become the true customers."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.identity.graph import customer_of_source_key, quality_against_truth, resolve_customers
from ingest.mapping import load_mapping
from ingest.runner import ingest_file
from kbcrm.demo.load import load_demo
from kbcrm.graph.falkordb_backend import FalkorDBStore

EXPORTS = [
    ("sales", "sales_customers.csv"),
    ("service", "service_customers.jsonl"),
    ("billing", "billing_accounts.csv"),
]


def test_department_exports_collapse_to_the_true_customers(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    for mapping, name in EXPORTS:
        ingest_file(
            falkordb_store,
            path=demo_dir / name,
            mapping=load_mapping(mapping),
            source_kind="customers",
            data_dir=tmp_path,
        )
    summary = resolve_customers(falkordb_store, actor="test")
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    assert summary["customers"] == manifest["customers"] == 40
    load_demo(falkordb_store, demo_dir, customer_of=customer_of_source_key(falkordb_store))
    quality = quality_against_truth(falkordb_store)
    assert quality is not None and quality["f1"] >= 0.99
    assert falkordb_store.count_nodes("Customer") == 40

    per_record = falkordb_store.read(
        "MATCH (s:SourceRecord) RETURN s.id AS id, size([(c:Customer)-[:RESOLVED_FROM]->(s) | c]) AS owners"
    )
    assert per_record and all(r["owners"] == 1 for r in per_record)
    orphans = falkordb_store.read("MATCH (o:Order) WHERE NOT (:Customer)-[:PLACED]->(o) RETURN count(o) AS n")
    assert orphans[0]["n"] == 0  # every order hangs off its resolved customer
    audits = falkordb_store.read("MATCH (a:AuditEvent {action: 'merge'}) RETURN a.detail AS detail, a.actor AS actor")
    assert len(audits) == summary["merged"] > 0
    detail = json.loads(audits[0]["detail"])
    assert (
        detail["rule"].startswith("identity-v1") and detail["links"][0]["score"] >= 6 and audits[0]["actor"] == "test"
    )

    again = resolve_customers(falkordb_store, actor="test")
    assert again["customers"] == 40
    assert falkordb_store.count_relationships("RESOLVED_FROM") == len(per_record)  # idempotent: no extra edges
    assert falkordb_store.count_nodes("Customer") == 40
