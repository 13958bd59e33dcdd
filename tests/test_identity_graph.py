"""Identity resolution on the graph: the demo's three department exports become the true customers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ingest.identity.graph import current_model, customer_of_source_key, quality_against_truth, resolve_customers
from ingest.mapping import load_mapping
from ingest.runner import ingest_file
from kbcrm.demo.load import load_demo
from kbcrm.graph import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore

EXPORTS = [
    ("sales", "sales_customers.csv"),
    ("service", "service_customers.jsonl"),
    ("billing", "billing_accounts.csv"),
]


def ingest_exports(store: FalkorDBStore, demo_dir: Path, data_dir: Path, exports: list[tuple[str, str]]) -> None:
    """Run department customer exports through ingest (SourceRecords)."""
    for mapping, name in exports:
        ingest_file(
            store, path=demo_dir / name, mapping=load_mapping(mapping), source_kind="customers", data_dir=data_dir
        )


def test_department_exports_collapse_to_the_true_customers(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    ingest_exports(falkordb_store, demo_dir, tmp_path, EXPORTS)
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
    audits = falkordb_store.read("MATCH (a:AuditEvent {action: 'resolve'}) RETURN a.detail AS detail, a.actor AS actor")
    assert len(audits) == summary["merged"] > 0
    detail = json.loads(audits[0]["detail"])
    assert (
        detail["rule"].startswith("identity-v2") and detail["links"][0]["score"] >= 0 and audits[0]["actor"] == "test"
    )
    assert all(re.fullmatch(r"[a-z0-9 ]+ \([+-]\d+\.\d\)", text) for text in detail["links"][0]["evidence"].values())
    assert any(text.startswith("same (+") for text in detail["links"][0]["evidence"].values())
    model = current_model(falkordb_store)  # the fitted model is stored for the duplicate check on new customers
    assert model.pairs == summary["candidate_pairs"] and model.iterations > 0

    again = resolve_customers(falkordb_store, actor="test")
    assert again["customers"] == 40
    assert falkordb_store.count_relationships("RESOLVED_FROM") == len(per_record)  # idempotent: no extra edges
    assert falkordb_store.count_nodes("Customer") == 40


def test_merge_keeps_related_records_and_unmerge_restores_the_previous_state(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    from ingest.identity.merge import unmerge

    store = falkordb_store
    ingest_exports(store, demo_dir, tmp_path, EXPORTS[:1])
    assert resolve_customers(store, actor="test")["customers"] == 40
    before = "cust:sales:S0000001"
    store.upsert_nodes("Order", [{"id": "SO-T1", "order_number": "SO-T1", "total_amount": 99.0}])
    store.upsert_nodes("ServiceCase", [{"id": "CS-T1", "case_number": "CS-T1", "subject": "pump leaks"}])
    store.upsert_relationships("PLACED", [{"start": before, "end": "SO-T1"}], start_label="Customer", end_label="Order")
    store.upsert_relationships(
        "RAISED",
        [{"start": before, "end": "CS-T1", "source_id": "crm"}],
        start_label="Customer",
        end_label="ServiceCase",
    )

    ingest_exports(store, demo_dir, tmp_path, EXPORTS[1:])
    summary = resolve_customers(store, actor="test")
    assert summary["customers"] == 40 and summary["customer_merges"] == 40
    survivor = store.read("MATCH (c:Customer)-[:PLACED]->(:Order {id: 'SO-T1'}) RETURN c.id AS id")
    assert survivor == [{"id": "cust:billing:ACC-0000001"}]  # the order followed the merge
    assert store.get_node("Customer", before) is None
    raised = store.read(
        "MATCH (c:Customer)-[r:RAISED]->(:ServiceCase {id: 'CS-T1'}) RETURN c.id AS id, r.source_id AS s"
    )
    assert raised == [{"id": "cust:billing:ACC-0000001", "s": "crm"}]  # relationship properties kept

    audit = store.read(
        "MATCH (a:AuditEvent {action: 'merge', target_id: 'cust:billing:ACC-0000001'}) RETURN a.id AS id"
    )
    assert len(audit) == 1
    result = unmerge(store, audit[0]["id"], actor="test")
    assert result["restored"] == before
    assert store.read("MATCH (c:Customer)-[:PLACED]->(:Order {id: 'SO-T1'}) RETURN c.id AS id") == [{"id": before}]
    assert store.read(
        "MATCH (c:Customer)-[:RESOLVED_FROM]->(:SourceRecord {id: 'sales:S0000001'}) RETURN c.id AS id"
    ) == [{"id": before}]
    assert store.get_node("Customer", before)["name"] == store.get_node("SourceRecord", "sales:S0000001")["name"]  # type: ignore[index]

    again = resolve_customers(store, actor="test")  # the resolver now keeps the unmerged records apart
    assert again["customers"] == 41 and again["customer_merges"] == 0
    assert store.read("MATCH (c:Customer)-[:PLACED]->(:Order {id: 'SO-T1'}) RETURN c.id AS id") == [{"id": before}]


def test_cli_prints_the_model_the_last_run_fitted(
    falkordb_store: FalkorDBStore,
    embedded: EmbeddedServer,
    demo_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from kbcrm.cli import app
    from kbcrm.settings import get_settings

    monkeypatch.setenv("KBCRM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KBCRM_GRAPH_URI", f"falkordb+embedded://{embedded.directory}")
    monkeypatch.setenv("KBCRM_GRAPH_NAME", falkordb_store.graph_name)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        before = runner.invoke(app, ["identity", "model"])
        ingest_exports(falkordb_store, demo_dir, tmp_path, EXPORTS[:2])
        summary = resolve_customers(falkordb_store, actor="test")
        table = runner.invoke(app, ["identity", "model"])
        as_json = runner.invoke(app, ["identity", "model", "--json"])
    finally:
        get_settings.cache_clear()
    assert before.exit_code == 0 and "not fitted yet: the prior" in before.output
    assert table.exit_code == 0, table.output
    assert f"m by EM on {summary['candidate_pairs']:,} candidate pairs, u from all record pairs" in table.output
    assert "of record pairs are one customer" in table.output
    assert "within a month or one typo" in table.output
    body = json.loads(as_json.output)
    assert body["pairs"] == summary["candidate_pairs"] and set(body["m"]) == set(body["u"]) >= {"name", "email", "dob"}
