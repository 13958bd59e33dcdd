"""Expert know-how ingest: front matter validation, links found in the text, versions, provenance."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

from ingest.articles import ingest_articles
from ingest.runner import why
from kbcrm.demo.load import load_demo
from kbcrm.graph.falkordb_backend import FalkorDBStore

GOOD = """---
id: kb-test-1
title: "Seal leakage on AX-120"
author: emp-001
audience: customer
language: en
confidence: validated
products: [prod-ax120]
topics: [topic-troubleshooting, topic-new-area]
---

## Issue
The pump shows seal leakage and error E-1012.

## Resolution
Replace the mechanical seal.
"""


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_articles_are_linked_versioned_and_idempotent(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    load_demo(falkordb_store, demo_dir)
    folder = tmp_path / "kb"
    shutil.copytree(demo_dir / "articles", folder)
    path = _write(folder, "kb-test-1.md", GOOD)
    first = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    total = len(list(folder.glob("*.md")))
    assert first.read == total and first.rejected == 0
    assert ingest_articles(falkordb_store, folder, data_dir=tmp_path).counts()["unchanged"] == total

    links = falkordb_store.read(
        "MATCH (a:KnowledgeArticle {id: 'kb-test-1'})-[r]->(x) RETURN type(r) AS rel, x.id AS id ORDER BY rel, id"
    )
    pairs = {(r["rel"], r["id"]) for r in links}
    assert {
        ("RESOLVES", "sym-leak"),
        ("RESOLVES", "E-1012"),
        ("APPLIES_TO", "prod-ax120"),
        ("APPLIES_TO", "comp-mech-seal"),
        ("ON_TOPIC", "topic-new-area"),
    } <= pairs
    author = falkordb_store.read(
        "MATCH (e:Expert)-[:AUTHORED]->(:KnowledgeArticle {id: 'kb-test-1'}) RETURN e.id AS id"
    )
    assert author == [{"id": "emp-001"}]
    chinese = falkordb_store.read("MATCH (:KnowledgeArticle {id: 'kb-e-1012-zh'})-[:RESOLVES]->(x) RETURN x.id AS id")
    assert {r["id"] for r in chinese} >= {"sym-leak", "E-1012"}
    origin = why(falkordb_store, "kb-test-1")
    assert origin[-1]["file"] == str(path.resolve())

    path.write_text(GOOD.replace("Replace the mechanical seal.", "Replace the mechanical seal and check run-out."))
    edited = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert edited.counts()["updated"] == 1 and edited.counts()["unchanged"] == total - 1
    versions = falkordb_store.read(
        "MATCH (:KnowledgeArticle {id: 'kb-test-1'})-[:HAS_VERSION]->(v) "
        "RETURN v.version AS version, v.body AS body ORDER BY version"
    )
    assert [v["version"] for v in versions] == [1, 2]
    assert "run-out" not in versions[0]["body"] and "run-out" in versions[1]["body"]  # every edit kept


def test_bad_articles_are_quarantined_with_reasons(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    load_demo(falkordb_store, demo_dir)
    folder = tmp_path / "bad"
    _write(folder, "no-front-matter.md", "# Just a heading\n")
    _write(folder, "unclosed.md", "---\nid: x\ntitle: t\n")
    _write(
        folder,
        "bad-values.md",
        GOOD.replace("audience: customer", "audience: everyone")
        .replace("author: emp-001", "author: emp-999")
        .replace("prod-ax120", "prod-unknown")
        .replace('title: "Seal leakage on AX-120"', "title: ''"),
    )
    report = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert report.counts() == {"read": 3, "created": 0, "updated": 0, "unchanged": 0, "rejected": 3}
    with Path(report.quarantine_file).open() as handle:
        rows = list(csv.DictReader(handle))
    messages = {(Path(r["file"]).name, r["field"], r["message"]) for r in rows}
    assert ("bad-values.md", "audience", "must be one of internal, customer, public") in messages
    assert ("bad-values.md", "author", "no employee with this id in the graph") in messages
    assert ("bad-values.md", "products", "no product with this id in the graph") in messages
    assert ("bad-values.md", "title", "required field 'title' is missing") in messages
    assert any(name == "no-front-matter.md" and "no YAML front matter" in msg for name, _, msg in messages)
    assert any(name == "unclosed.md" and "not closed" in msg for name, _, msg in messages)
    assert falkordb_store.get_node("KnowledgeArticle", "kb-test-1") is None
