"""Service-note linking with spaCy span rulers generated from the graph's vocabulary."""

from __future__ import annotations

from pathlib import Path

from ingest.notes import NoteLinker, evaluate_demo_linking, link_notes, stated_outcome
from kbcrm.graph.falkordb_backend import FalkorDBStore


def test_linker_finds_english_and_chinese_mentions_with_graph_ids(demo_store: FalkorDBStore) -> None:
    linker = NoteLinker.from_graph(demo_store)
    english = linker.link("Customer reports AX120 shows leaking seal, display shows error E1012.")
    assert [(m.node_id, m.label, m.text) for m in english] == [
        ("prod-ax120", "Product", "AX120"),
        ("sym-leak", "Symptom", "leaking seal"),
        ("E-1012", "ErrorCode", "E1012"),
    ]
    chinese = linker.link("客户报告KC-75出现过热，控制器显示故障码E-2040。", "zh")
    assert {m.node_id for m in chinese} == {"prod-kc75", "sym-overheat", "E-2040"}
    for mention in chinese:
        assert "客户报告KC-75出现过热，控制器显示故障码E-2040。"[mention.start : mention.end] == mention.text


def test_stated_causes_are_captured_in_both_languages() -> None:
    english = stated_outcome("Root cause: clogged oil separator element. Resolution: replace the element.")
    assert english is not None and english.cause == "clogged oil separator element"
    assert english.resolution == "replace the element"
    chinese = stated_outcome("根本原因：油分离器滤芯堵塞。解决方法：更换油分离器滤芯和机油滤芯。")
    assert (
        chinese is not None
        and chinese.cause == "油分离器滤芯堵塞"
        and chinese.resolution == "更换油分离器滤芯和机油滤芯"
    )
    assert stated_outcome("Remote diagnosis: checked the bearing; site visit planned.") is None


def test_linking_quality_on_the_labelled_demo_notes(demo_store: FalkorDBStore, demo_dir: Path) -> None:
    quality = evaluate_demo_linking(demo_store, demo_dir)
    assert quality["entity_recall"] >= 0.99 and quality["entity_precision"] >= 0.95
    assert quality["span_recall"] >= 0.95 and quality["span_precision"] >= 0.95


def test_link_notes_writes_mentions_causes_and_case_links_idempotently(
    falkordb_store: FalkorDBStore, demo_dir: Path
) -> None:
    from kbcrm.demo.load import load_demo

    load_demo(falkordb_store, demo_dir)
    counts = link_notes(falkordb_store)
    assert counts["notes"] == falkordb_store.count_nodes("ServiceNote") and counts["mentions"] > counts["notes"]
    mentions = falkordb_store.count_relationships("MENTIONS")
    assert mentions > 0 and falkordb_store.count_nodes("Cause") > 0
    path = falkordb_store.read(
        "MATCH (c:Customer)-[:RAISED]->(k:ServiceCase)-[:REPORTED_ERROR]->(e:ErrorCode)-[:INDICATES]->(s:Symptom) "
        "MATCH (k)-[:HAS_CAUSE]->(cause:Cause) MATCH (k)-[:RESOLVED_BY]->(fix:Resolution) "
        "RETURN c.id AS customer, e.code AS code, s.name AS symptom, cause.text AS cause, fix.text AS fix LIMIT 1"
    )
    assert path and path[0]["cause"] and path[0]["fix"]
    edge = falkordb_store.read(
        "MATCH (n:ServiceNote)-[m:MENTIONS]->(x) RETURN n.text AS text, m.start_char AS s, m.end_char AS e, "
        "m.matched_text AS t LIMIT 20"
    )
    assert all(r["text"][r["s"] : r["e"]] == r["t"] for r in edge)
    link_notes(falkordb_store)
    assert falkordb_store.count_relationships("MENTIONS") == mentions
