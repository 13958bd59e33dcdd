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


def _demo_articles(store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> Path:
    """The demo graph loaded, and a copy of its articles folder with GOOD added as kb-test-1.md."""
    load_demo(store, demo_dir)
    folder = tmp_path / "kb"
    shutil.copytree(demo_dir / "articles", folder)
    _write(folder, "kb-test-1.md", GOOD)
    return folder


def test_articles_are_linked_versioned_and_idempotent(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    folder = _demo_articles(falkordb_store, demo_dir, tmp_path)
    path = folder / "kb-test-1.md"
    first = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    total = len(list(folder.glob("*.md")))
    assert first.read == total and first.rejected == 0
    assert ingest_articles(falkordb_store, folder, data_dir=tmp_path).counts()["unchanged"] == total

    pairs = _links(falkordb_store, "kb-test-1")
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


TRANSLATION = """---
id: kb-test-1-zh
title: "AX-120 密封泄漏"
author: emp-002
audience: customer
language: zh
confidence: validated
products: [prod-ax120]
translation_of: kb-test-1
---

## 问题
设备出现密封泄漏，显示故障码E-1012。
"""


def _links(store: FalkorDBStore, article_id: str) -> set[tuple[str, str]]:
    rows = store.read("MATCH (a:KnowledgeArticle {id: $id})-[r]->(x) RETURN type(r) AS rel, x.id AS id", id=article_id)
    return {(r["rel"], r["id"]) for r in rows}


def _ingest_a_translated_article(store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> Path:
    """The demo graph with GOOD and its Chinese TRANSLATION ingested from a folder of their own (returned)."""
    load_demo(store, demo_dir)
    folder = tmp_path / "translated"
    _write(folder, "kb-test-1.md", GOOD)
    _write(folder, "kb-test-1-zh.md", TRANSLATION)
    assert ingest_articles(store, folder, data_dir=tmp_path).created == 2
    return folder


def test_translations_are_linked_to_their_original(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    folder = _demo_articles(falkordb_store, demo_dir, tmp_path)
    _write(folder, "kb-test-1-zh.md", TRANSLATION)  # its original is in the same directory
    report = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert report.rejected == 0
    assert ("TRANSLATION_OF", "kb-test-1") in _links(falkordb_store, "kb-test-1-zh")
    pairs = falkordb_store.read(
        "MATCH (t:KnowledgeArticle)-[:TRANSLATION_OF]->(o:KnowledgeArticle) "
        "RETURN t.id AS translation, t.language AS language, o.id AS original, o.language AS original_language"
    )
    chinese = sorted(p.name.removesuffix(".md") for p in folder.glob("*-zh.md"))
    assert sorted(p["translation"] for p in pairs) == chinese  # every demo translation names its original
    for pair in pairs:
        assert pair["original"] == pair["translation"].removesuffix("-zh")
        assert (pair["language"], pair["original_language"]) == ("zh", "en")


def test_a_translation_of_what_is_not_an_original_is_quarantined(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    _ingest_a_translated_article(falkordb_store, demo_dir, tmp_path)
    folder = tmp_path / "bad"
    cases = {
        "missing.md": ("kb-nowhere", "no article with this id in the graph or in this directory"),
        "same-language.md": ("kb-test-1", "kb-test-1 is also in 'en': a translation is in another language"),
        "of-a-translation.md": ("kb-test-1-zh", "kb-test-1-zh is itself a translation (of kb-test-1)"),
        "itself.md": ("kb-bad-itself", "an article cannot be a translation of itself"),
    }
    for name, (original, _) in cases.items():
        article_id = "kb-bad-itself" if name == "itself.md" else f"kb-bad-{name.removesuffix('.md')}"
        text = GOOD.replace("id: kb-test-1", f"id: {article_id}").replace(
            "confidence: validated", f"confidence: validated\ntranslation_of: {original}"
        )
        _write(folder, name, text)
    listed = GOOD.replace("id: kb-test-1", "id: kb-bad-list")
    _write(folder, "list.md", listed.replace("confidence: validated", "confidence: validated\ntranslation_of: [kb-x]"))
    report = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert report.counts() == {"read": 5, "created": 0, "updated": 0, "unchanged": 0, "rejected": 5}
    with Path(report.quarantine_file).open() as handle:
        rows = {Path(r["file"]).name: r for r in csv.DictReader(handle)}
    for name, (original, message) in cases.items():
        assert rows[name]["field"] == "translation_of" and rows[name]["value"] == original
        assert rows[name]["message"].startswith(message), rows[name]
    assert rows["list.md"]["message"] == "must be one article id"
    stored = falkordb_store.read("MATCH (a:KnowledgeArticle) WHERE a.id STARTS WITH 'kb-bad-' RETURN a.id AS id")
    assert stored == []  # nothing of a rejected file is written


def test_an_edited_file_unlinks_what_it_no_longer_names(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    folder = _ingest_a_translated_article(falkordb_store, demo_dir, tmp_path)
    path = folder / "kb-test-1-zh.md"
    before = _links(falkordb_store, "kb-test-1-zh")
    assert {("TRANSLATION_OF", "kb-test-1"), ("APPLIES_TO", "prod-ax120"), ("RESOLVES", "E-1012")} <= before
    # no longer a translation, about another product, and the error code taken out of the text
    path.write_text(
        TRANSLATION.replace("translation_of: kb-test-1\n", "")
        .replace("prod-ax120", "prod-ax200")
        .replace("AX-120", "AX-200")  # the title names the product too
        .replace("显示故障码E-1012", "")
    )
    report = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert report.updated == 1 and report.unchanged == 1
    after = _links(falkordb_store, "kb-test-1-zh")
    assert ("APPLIES_TO", "prod-ax200") in after
    gone = {("TRANSLATION_OF", "kb-test-1"), ("APPLIES_TO", "prod-ax120"), ("RESOLVES", "E-1012")}
    gone |= {("MENTIONS", "E-1012"), ("MENTIONS", "prod-ax120")}
    assert not gone & after, gone & after
    # what is not derived from the file's text stays: its versions, its provenance, its author
    assert {r for r, _ in after} >= {"HAS_VERSION", "DERIVED_FROM"}
    author = "MATCH (e:Employee)-[:AUTHORED]->(:KnowledgeArticle {id: 'kb-test-1-zh'}) RETURN e.id AS id"
    assert falkordb_store.read(author) == [{"id": "emp-002"}]


def test_a_console_edit_stands_until_the_articles_file_changes(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    """Re-running an unchanged folder had put every console-edited article back to its file's text."""
    from knowledge_transfer import kcs

    load_demo(falkordb_store, demo_dir)
    folder = tmp_path / "kb"
    path = _write(folder, "kb-test-1.md", GOOD)
    ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    kcs.edit_article(falkordb_store, "kb-test-1", by="emp-002", body="Replace the seal; edited in the console.")

    def body() -> str:
        return str(falkordb_store.get_node("KnowledgeArticle", "kb-test-1")["body"])

    again = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert again.counts()["unchanged"] == 1 and again.replaced_edits == []
    assert body() == "Replace the seal; edited in the console."  # the file did not change: the edit stands
    path.write_text(GOOD.replace("Replace the mechanical seal.", "Replace the mechanical seal kit."))
    changed = ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    assert changed.counts()["updated"] == 1 and changed.replaced_edits == ["kb-test-1"]
    assert "Replace the mechanical seal kit." in body()  # a changed file wins, and says so
    versions = [v["body"] for v in kcs.history(falkordb_store, "kb-test-1")]
    assert "Replace the seal; edited in the console." in versions  # the replaced edit is kept in the history
    assert ingest_articles(falkordb_store, folder, data_dir=tmp_path).counts()["unchanged"] == 1


CHECKLIST = """---
id: kb-test-checklist
title: "Seal leakage on AX-120: replace the seal"
author: emp-001
audience: customer
language: en
confidence: validated
products: [prod-ax120]
---

## Issue
Error E-1012 on start-up.

## Resolution
Replace the mechanical seal. Afterwards run the pump for an hour and check for overheating and noise.
"""


def _resolved(store: FalkorDBStore, article_id: str) -> set[str]:
    return {x for rel, x in _links(store, article_id) if rel == "RESOLVES"}


def _mentioned(store: FalkorDBStore, article_id: str) -> set[str]:
    return {x for rel, x in _links(store, article_id) if rel == "MENTIONS"}


def test_an_article_resolves_what_its_title_and_issue_name_not_its_checklists(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    """'Check for overheating and noise' after a repair names symptoms the article does not resolve."""
    load_demo(falkordb_store, demo_dir)
    folder = tmp_path / "kb"
    _write(folder, "checklist.md", CHECKLIST)
    plain = CHECKLIST.replace("id: kb-test-checklist", "id: kb-test-plain").split("## Issue")[0]
    _write(folder, "plain.md", plain + "The pump is overheating: clean the filter.\n")
    zh = TRANSLATION.replace("id: kb-test-1-zh", "id: kb-test-zh").replace("translation_of: kb-test-1\n", "")
    _write(folder, "zh.md", zh + "\n## 解决方法\n更换机械密封后检查是否过热。\n")
    assert ingest_articles(falkordb_store, folder, data_dir=tmp_path).created == 3

    # the title (seal leakage) and the Issue section (E-1012); the Resolution's checks are mentions only
    assert _resolved(falkordb_store, "kb-test-checklist") == {"sym-leak", "E-1012"}
    assert {"sym-overheat", "sym-noise", "comp-mech-seal"} <= _mentioned(falkordb_store, "kb-test-checklist")
    assert ("APPLIES_TO", "comp-mech-seal") in _links(falkordb_store, "kb-test-checklist")
    # an article without headings states its problem anywhere
    assert _resolved(falkordb_store, "kb-test-plain") == {"sym-leak", "sym-overheat"}
    # Chinese headings: 问题 is the issue, 解决方法 is not
    assert _resolved(falkordb_store, "kb-test-zh") == {"sym-leak", "E-1012"}
    assert "sym-overheat" in _mentioned(falkordb_store, "kb-test-zh")
    # links found in the text say so; the front matter's product is declared
    flags = falkordb_store.read(
        "MATCH (:KnowledgeArticle {id: 'kb-test-checklist'})-[r:APPLIES_TO|RESOLVES]->(x) "
        "RETURN x.id AS id, r.from_text AS from_text"
    )
    assert {r["id"]: r["from_text"] for r in flags} == {
        "prod-ax120": None,
        "comp-mech-seal": True,
        "sym-leak": True,
        "E-1012": True,
    }


def test_a_console_edit_derives_the_text_links_again_and_keeps_declared_ones(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    from knowledge_transfer import kcs

    load_demo(falkordb_store, demo_dir)
    folder = tmp_path / "kb"
    _write(folder, "checklist.md", CHECKLIST)
    ingest_articles(falkordb_store, folder, data_dir=tmp_path)
    body = "## Issue\nThe pump runs hot (overheating).\n\n## Resolution\nClean the air filter; check the bearing."
    kcs.edit_article(falkordb_store, "kb-test-checklist", by="emp-002", title="AX-120 runs hot", body=body)
    links = _links(falkordb_store, "kb-test-checklist")
    assert _resolved(falkordb_store, "kb-test-checklist") == {"sym-overheat"}  # E-1012 and the leak are gone
    assert ("APPLIES_TO", "prod-ax120") in links  # declared in the file: an edit of the text keeps it
    assert {("APPLIES_TO", "comp-filter"), ("APPLIES_TO", "comp-bearing")} <= links
    assert ("APPLIES_TO", "comp-mech-seal") not in links and ("MENTIONS", "E-1012") not in links
    mentions = falkordb_store.read(
        "MATCH (:KnowledgeArticle {id: 'kb-test-checklist'})-[m:MENTIONS]->(x {id: 'sym-overheat'}) "
        "RETURN m.matched_text AS text, m.start_char AS start ORDER BY start"
    )
    text = "AX-120 runs hot\n\n" + body
    assert mentions and all(text[m["start"] :].startswith(m["text"]) for m in mentions)  # offsets of the new text
    # an audience change leaves the links alone (a new version apart)
    before = {r for r in _links(falkordb_store, "kb-test-checklist") if r[0] != "HAS_VERSION"}
    kcs.edit_article(falkordb_store, "kb-test-checklist", by="emp-002", audience="public")
    assert {r for r in _links(falkordb_store, "kb-test-checklist") if r[0] != "HAS_VERSION"} == before


def test_relink_derives_unchanged_articles_links_with_todays_rules_and_catalogue(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    """An older rule's links (a checklist's symptom as RESOLVES, no from_text) and a catalogue that learned a
    new name: `relink` derives both again, from the text the article has now, without a new version."""
    from ingest.notes import NoteLinker
    from knowledge_transfer import kcs

    store = falkordb_store
    load_demo(store, demo_dir)
    folder = tmp_path / "kb"
    _write(folder, "checklist.md", CHECKLIST)
    edited = CHECKLIST.replace("id: kb-test-checklist", "id: kb-test-edited")
    _write(folder, "edited.md", edited)
    ingest_articles(store, folder, data_dir=tmp_path)
    kcs.edit_article(store, "kb-test-edited", by="emp-002", body="## Issue\nThe display stays dark.")
    # what the rule before 2026-12-08 wrote: every symptom named anywhere RESOLVES, unmarked
    store.execute(
        "MATCH (a:KnowledgeArticle {id: 'kb-test-checklist'}), (s:Symptom {id: 'sym-overheat'}) "
        "MERGE (a)-[:RESOLVES]->(s)"
    )
    # the catalogue learns the customers' word "dark" for a blank display
    store.execute("MATCH (s:Symptom {id: 'sym-display'}) SET s.aliases = s.aliases + ['stays dark']")
    versions = {a: len(kcs.history(store, a)) for a in ("kb-test-checklist", "kb-test-edited")}

    linker = NoteLinker.from_graph(store)
    plain = ingest_articles(store, folder, data_dir=tmp_path, linker=linker)
    assert plain.unchanged == 2 and plain.relinked == []
    assert "sym-overheat" in _resolved(store, "kb-test-checklist")  # an unchanged file keeps its old links

    again = ingest_articles(store, folder, data_dir=tmp_path, linker=linker, relink=True)
    assert again.counts()["unchanged"] == 2 and sorted(again.relinked) == ["kb-test-checklist", "kb-test-edited"]
    assert _resolved(store, "kb-test-checklist") == {"sym-leak", "E-1012"}
    assert ("APPLIES_TO", "prod-ax120") in _links(store, "kb-test-checklist")  # the file's declared product
    # the console edit stands: its text is linked (the title it kept names the leak), with the catalogue's new name
    assert _resolved(store, "kb-test-edited") == {"sym-leak", "sym-display"}
    named = store.read(
        "MATCH (:KnowledgeArticle {id: 'kb-test-edited'})-[m:MENTIONS]->(:Symptom {id: 'sym-display'}) "
        "RETURN m.matched_text AS text"
    )
    assert named == [{"text": "stays dark"}]
    assert store.get_node("KnowledgeArticle", "kb-test-edited")["body"] == "## Issue\nThe display stays dark."
    assert {a: len(kcs.history(store, a)) for a in versions} == versions  # no new version
