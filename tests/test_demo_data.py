"""The demo data set: seeded, realistic, and loadable."""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from pathlib import Path

from kbcrm.demo.generator import generate, read_jsonl
from kbcrm.demo.load import load_demo, read_article
from kbcrm.graph.falkordb_backend import FalkorDBStore


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        h.update(path.relative_to(directory).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_same_data_other_seed_other_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", customers=25, seed=3)
    generate(tmp_path / "b", customers=25, seed=3)
    generate(tmp_path / "c", customers=25, seed=4)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def test_departments_spell_the_same_customers_differently(demo_dir: Path) -> None:
    truth = {r["customer_id"]: r for r in csv.DictReader((demo_dir / "truth" / "customers.csv").open())}
    records = list(csv.DictReader((demo_dir / "truth" / "source_records.csv").open()))
    assert len(truth) == 40
    assert Counter(r["source_system"] for r in records)["sales"] == 40
    assert {r["customer_id"] for r in records} == set(truth)
    service = {r["svc_id"]: r for r in read_jsonl(demo_dir / "service_customers.jsonl")}
    key_to_customer = {r["source_key"]: r["customer_id"] for r in records}
    differing = sum(1 for key, r in service.items() if r["display_name"] != truth[key_to_customer[key]]["name"])
    assert 0 < differing < len(service)  # typos and spelling variants, but not everywhere
    billing_ids = {r["account_number"] for r in csv.DictReader((demo_dir / "billing_accounts.csv").open())}
    assert not billing_ids & set(service)  # each department has its own ids


def test_orders_show_repeat_buying_and_churn(tmp_path: Path) -> None:
    manifest = generate(tmp_path, customers=400, seed=5)
    per_customer = Counter(r["account_number"] for r in csv.DictReader((tmp_path / "orders.csv").open()))
    assert len(per_customer) == 400
    repeaters = sum(1 for n in per_customer.values() if n > 1)
    assert 0.3 < repeaters / 400 < 0.95
    last_order = {}
    for r in csv.DictReader((tmp_path / "orders.csv").open()):
        last_order[r["account_number"]] = max(last_order.get(r["account_number"], ""), r["order_date"])
    lapsed = sum(1 for d in last_order.values() if d < "2026-01-01")
    assert lapsed > 40  # some customers stopped buying long before the as-of date
    assert manifest["counts"]["orders"] == sum(per_customer.values())


def test_notes_mention_catalogue_terms_and_some_are_chinese(demo_dir: Path) -> None:
    notes = {r["note_id"]: r for r in read_jsonl(demo_dir / "case_notes.jsonl")}
    truth = list(read_jsonl(demo_dir / "truth" / "note_mentions.jsonl"))
    assert len(truth) == len(notes) > 20
    for record in truth:
        text = notes[record["note_id"]]["text"]
        for mention in record["mentions"]:
            assert text[mention["start"] : mention["end"]] == mention["text"]
    kinds = Counter(m["type"] for r in truth for m in r["mentions"])
    assert {"Product", "Symptom", "ErrorCode", "Component"} <= set(kinds)
    assert any(r["language"] == "zh" for r in notes.values())


def test_articles_have_front_matter_and_chinese_ones(demo_dir: Path) -> None:
    paths = sorted((demo_dir / "articles").glob("*.md"))
    assert len(paths) >= 50
    metas = [read_article(p)[0] for p in paths]
    assert {m["audience"] for m in metas} == {"internal", "customer", "public"}
    assert sum(1 for m in metas if m["language"] == "zh") >= 5
    assert all(m["author"].startswith("emp-") and m["products"] is not None for m in metas)


def test_load_is_idempotent(demo_store: FalkorDBStore, demo_dir: Path) -> None:
    before = (demo_store.count_nodes(), demo_store.count_relationships())
    manifest = json.loads((demo_dir / "manifest.json").read_text())
    counts = load_demo(demo_store, demo_dir)
    assert (counts["nodes"], counts["relationships"]) == before
    assert counts["customers"] == manifest["customers"] == 40
    assert demo_store.count_nodes("Order") == manifest["counts"]["orders"]
    assert demo_store.count_nodes("KnowledgeArticle") == manifest["counts"]["articles"]
    assert demo_store.count_nodes("ServiceNote") == manifest["counts"]["notes"]
