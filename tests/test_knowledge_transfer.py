"""Knowledge transfer on the real embedded graph: answers, evidence, audience, KCS, experts, recommendations."""

from __future__ import annotations

import dataclasses
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kbcrm.access.models import AccessDenied as RecordAccessDenied
from kbcrm.access.models import Principal, Role
from kbcrm.graph.embedded import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.cases.service import open_case, set_status
from kbcrm.settings import Settings
from knowledge_transfer import kcs
from knowledge_transfer.answers.models import EvidencePath
from knowledge_transfer.answers.service import AccessDenied, AnswerError, KnowledgeBase, answer, cross_model_scale
from knowledge_transfer.experts import who_knows
from knowledge_transfer.recommendations import cross_sell, for_customer, next_best_actions, next_best_articles
from ontology import load_vocabulary
from tests.conftest import load_knowledge_graph


@pytest.fixture(scope="module")
def kt_store(
    embedded: EmbeddedServer, demo_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FalkorDBStore]:
    """The small demo set loaded as `make run` loads it (articles through the article connector, notes linked)."""
    store = load_knowledge_graph(embedded, "kt_module", demo_dir, tmp_path_factory.mktemp("kt_data"))
    yield store
    store.drop_graph()
    store.close()


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("kt_settings"))


@pytest.fixture(scope="module")
def kb(kt_store: FalkorDBStore, settings: Settings) -> KnowledgeBase:
    return KnowledgeBase.from_graph(kt_store, settings)


def _customers(store: FalkorDBStore) -> list[str]:
    return [
        r["id"] for r in store.read("MATCH (c:Customer)-[:OWNS]->(:Product) RETURN DISTINCT c.id AS id ORDER BY id")
    ]


def _random_questions(store: FalkorDBStore, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    terms = [
        r["t"]
        for r in store.read(
            "MATCH (n) WHERE n:Symptom OR n:ErrorCode OR n:Product OR n:Component "
            "RETURN coalesce(n.name, n.code) AS t ORDER BY t"
        )
        if r["t"]
    ]
    zh = [r["t"] for r in store.read("MATCH (s:Symptom) RETURN s.name_zh AS t ORDER BY t") if r["t"]]
    filler = [
        "why does",
        "my",
        "machine",
        "keeps",
        "stopping",
        "warranty",
        "internal",
        "supplier",
        "how to fix",
        "again",
    ]
    questions = []
    for _ in range(count):
        words = rng.sample(terms, rng.randint(1, 3)) + rng.sample(filler, rng.randint(0, 3))
        rng.shuffle(words)
        questions.append(" ".join(words) if rng.random() > 0.2 else f"设备{rng.choice(zh)}怎么办")
    return questions


def _assert_path_resolves(store: FalkorDBStore, path: EvidencePath) -> None:
    relationships = load_vocabulary().relationships
    for node in path.nodes:
        assert re.fullmatch(r"[A-Za-z]+", node.label), node
        rows = store.read(f"MATCH (n:{node.label} {{id: $id}}) RETURN count(n) AS c", id=node.id)
        assert rows[0]["c"] == 1, f"evidence node {node} is not in the graph"
    ids = {n.id for n in path.nodes}
    for edge in path.edges:
        assert edge.type in relationships and edge.start in ids and edge.end in ids
        rows = store.read(
            f"MATCH (a {{id: $start}})-[r:{edge.type}]->(b {{id: $end}}) RETURN count(r) AS c",
            start=edge.start,
            end=edge.end,
        )
        assert rows[0]["c"] >= 1, f"evidence edge {edge} is not in the graph"


def test_evidence_resolves_for_many_random_questions(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    customers = _customers(kt_store)
    cases = [r["id"] for r in kt_store.read("MATCH (k:ServiceCase) RETURN k.id AS id ORDER BY id LIMIT 20")]
    rng = random.Random(5)
    checked = 0
    for question in _random_questions(kt_store, 40, seed=1):
        result = answer(kb, kt_store, question, customer_id=rng.choice(customers), case_id=rng.choice([None, *cases]))
        assert result.suggestions, question
        for suggestion in result.suggestions:
            assert (
                suggestion.evidence.paths
                or suggestion.evidence.matched_terms
                or suggestion.evidence.semantic_similarity
            )
            for path in suggestion.evidence.paths:
                _assert_path_resolves(kt_store, path)
                checked += 1
    assert checked > 100


def test_customer_audience_never_sees_internal_content(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    customers = _customers(kt_store)
    allowed = {
        r["id"]
        for r in kt_store.read(
            "MATCH (a:KnowledgeArticle) WHERE a.audience IN ['customer', 'public'] AND a.confidence = 'validated' "
            "RETURN a.id AS id"
        )
    }
    employees = {r["id"] for r in kt_store.read("MATCH (e:Employee) RETURN e.id AS id")}
    rng = random.Random(9)
    for question in [*_random_questions(kt_store, 60, seed=2), "internal warranty supplier batch analysis"]:
        me = rng.choice(customers)
        result = answer(kb, kt_store, question, customer_id=me, audience="customer")
        assert result.suggestions
        for s in result.suggestions:
            assert s.kind == "article" and s.id in allowed, (question, s.id)
            dumped = str(s.to_dict())
            assert "INTERNAL ONLY" not in dumped
            assert not any(e in dumped for e in employees), "employee ids reach a customer"
            for path in s.evidence.paths:
                others = [n for n in path.nodes if n.label == "Customer" and n.id != me]
                assert not others, "another customer's node in a customer's explanation"
                assert not any(n.label in ("ServiceCase", "ServiceNote") for n in path.nodes)


def test_customer_cannot_ask_about_another_customers_case(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    row = kt_store.read("MATCH (c:Customer)-[:RAISED]->(k:ServiceCase) RETURN c.id AS c, k.id AS k LIMIT 1")[0]
    other = next(c for c in _customers(kt_store) if c != row["c"])
    with pytest.raises(AccessDenied):
        answer(kb, kt_store, "noise", customer_id=other, case_id=row["k"], audience="customer")
    assert answer(kb, kt_store, "noise", customer_id=row["c"], case_id=row["k"], audience="customer").suggestions
    with pytest.raises(AccessDenied):
        answer(kb, kt_store, "noise", case_id=row["k"], audience="customer")
    visitor = answer(kb, kt_store, "noise", audience="customer")  # a portal visitor who is not logged in
    assert visitor.suggestions and all(s.kind == "article" and s.audience != "internal" for s in visitor.suggestions)
    with pytest.raises(AnswerError, match="audience"):
        answer(kb, kt_store, "noise", audience="everyone")


def test_staff_answer_has_articles_cases_and_experts_with_evidence(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    code = kt_store.read("MATCH (k:ServiceCase)-[:REPORTED_ERROR]->(e:ErrorCode) RETURN e.code AS c LIMIT 1")[0]["c"]
    result = answer(kb, kt_store, f"display shows {code}, what now?")
    kinds = [s.kind for s in result.suggestions]
    assert {"article", "case", "expert"} <= set(kinds)
    top = result.suggestions[0]
    assert code.lower() in top.evidence.matched_terms and code in top.title
    assert any(p.edges[0].type == "RESOLVES" for p in top.evidence.paths)
    assert any(e.id == code for e in result.linked)
    case = next(s for s in result.suggestions if s.kind == "case")
    assert case.summary.startswith("Resolution:") and any(
        p.edges[-1].type == "RESOLVED_BY" for p in case.evidence.paths
    )
    expert = next(s for s in result.suggestions if s.kind == "expert")
    assert expert.evidence.paths and expert.evidence.paths[0].nodes[0].id == expert.id


def test_chinese_question_finds_chinese_article(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    customer = _customers(kt_store)[0]
    symptom = kt_store.read(
        "MATCH (a:KnowledgeArticle {language: 'zh'})-[:RESOLVES]->(s:Symptom) "
        "RETURN s.name_zh AS zh ORDER BY zh LIMIT 1"
    )[0]["zh"]
    result = answer(kb, kt_store, f"我的设备{symptom}，怎么处理？", customer_id=customer, audience="customer")
    top = result.suggestions[0]
    assert top.id.endswith("-zh") and symptom in top.title
    assert top.evidence.dense_model == "use-multilingual-v3-int8"


def test_each_suggestion_names_the_model_that_judged_its_document(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    # An English question: MiniLM judges the English documents, the multilingual model the Chinese ones.
    question = "display shows an error after a firmware update"
    fused, parts = kb.ranked(question, audience="staff")
    judged: dict[str, set[str]] = {}
    for i in np.flatnonzero(np.isfinite(fused)):
        judged.setdefault(kb.docs[i].language, set()).add(kb.dense_model(bool(parts["multilingual"][i])))
    assert judged == {"en": {"all-MiniLM-L6-v2-int8"}, "zh": {"use-multilingual-v3-int8"}}
    result = answer(kb, kt_store, question, audience="staff", limit=30)
    shown = [s for s in result.suggestions if s.kind in ("article", "case")]
    assert shown
    for s in shown:  # a Chinese article is shown as its English original's translation here
        assert {s.evidence.dense_model} == judged[kb.docs[kb.by_id[(s.kind, s.id)]].language]


def test_feedback_changes_rank(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    question = "preventive maintenance schedule"
    customer = _customers(kt_store)[0]
    before = [s.id for s in answer(kb, kt_store, question, customer_id=customer, audience="customer").suggestions]
    first, second = before[0], before[1]
    for _ in range(6):
        kcs.record_usage(kt_store, first, audience="customer", event="not_helpful")
        kcs.record_usage(kt_store, second, audience="customer", event="helpful")
    for article in (first, second):
        kb.refresh_usage(kt_store, article)
    after = [s.id for s in answer(kb, kt_store, question, customer_id=customer, audience="customer").suggestions]
    assert after.index(second) < after.index(first)
    counts = kt_store.get_node("KnowledgeArticle", second)
    assert counts is not None and counts["helpful_count"] == 6 and counts["customer_helpful_count"] == 6


def test_feedback_counts_most_for_its_own_audience(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    question = "calibration drift after firmware update"
    top = next(s for s in answer(kb, kt_store, question, audience="staff").suggestions if s.kind == "article")
    before = next(s for s in answer(kb, kt_store, top.title, audience="staff").suggestions if s.id == top.id)
    start = {a: kb.votes_for(kb.by_id[("article", top.id)], a) for a in ("staff", "customer")}
    for _ in range(4):
        kcs.record_usage(kt_store, top.id, audience="staff", event="not_helpful")
    kb.refresh_usage(kt_store, top.id)
    i = kb.by_id[("article", top.id)]
    weight = kb.settings.feedback_other_audience_weight
    assert kb.votes_for(i, "staff") == (start["staff"][0], start["staff"][1] + 4)
    assert kb.votes_for(i, "customer") == (start["customer"][0], start["customer"][1] + 4 * weight)
    staff_boost = kb.static_boost_parts(i, "staff")["feedback"]
    customer_boost = kb.static_boost_parts(i, "customer")["feedback"]
    assert staff_boost < customer_boost < 0  # engineers' votes weigh most in engineers' ranking
    after = next(s for s in answer(kb, kt_store, top.title, audience="staff").suggestions if s.id == top.id)
    assert after.evidence.boosts["feedback"] == pytest.approx(staff_boost, abs=1e-4)
    assert after.evidence.usage["staff_not_helpful"] == before.evidence.usage["staff_not_helpful"] + 4
    assert after.score < before.score


def test_a_code_finds_its_article_first_in_whatever_language_the_reader_may_read(
    kt_store: FalkorDBStore, kb: KnowledgeBase
) -> None:
    """A visitor who types an error code gets an article resolving that code first, English or not.

    The demo has codes whose only customer-visible article is Chinese (the English one is not
    validated): English articles about other codes had outranked it on dense similarity and the
    same-language boost.
    """
    rows = kt_store.read(
        "MATCH (a:KnowledgeArticle {confidence: 'validated'})-[:RESOLVES]->(e:ErrorCode) "
        "WHERE a.audience IN ['customer', 'public'] "
        "RETURN e.id AS id, e.code AS code, collect(a.language) AS languages ORDER BY code"
    )
    only_chinese = [r for r in rows if set(r["languages"]) == {"zh"}]
    assert rows and only_chinese, "the demo has codes whose only visible article is Chinese"
    for row in rows:
        top = answer(kb, kt_store, row["code"], audience="customer").suggestions[0]
        assert any(p.nodes[-1].id == row["id"] for p in top.evidence.paths), (row, top.id)
        assert top.evidence.boosts["linked_code"] == kb.settings.boost_linked_code


def test_english_question_about_a_code_gets_the_english_article_first(
    kt_store: FalkorDBStore, kb: KnowledgeBase
) -> None:
    """Each language's documents are judged by another embedder; calibrated, a translation no longer wins."""
    rows = kt_store.read(
        "MATCH (a:KnowledgeArticle {language: 'zh'})-[:RESOLVES]->(e:ErrorCode)<-[:RESOLVES]-"
        "(b:KnowledgeArticle {language: 'en'}) RETURN DISTINCT e.id AS id, e.code AS code ORDER BY code"
    )
    assert len(rows) >= 5
    for row in rows:
        for question in (f"error {row['code']}", f"I get {row['code']} when starting the device"):
            top = next(s for s in answer(kb, kt_store, question, audience="staff").suggestions if s.kind == "article")
            assert not top.id.endswith("-zh"), (question, top.id)
            assert any(p.nodes[-1].id == row["id"] for p in top.evidence.paths), (question, top.id)
            assert top.evidence.boosts["same_language"] == kb.settings.boost_same_language


def test_an_answer_as_json_is_every_field_of_its_dataclasses_in_order(
    kt_store: FalkorDBStore, kb: KnowledgeBase
) -> None:
    customer = _customers(kt_store)[0]
    result = answer(kb, kt_store, "error E-1012 after restart", customer_id=customer, audience="staff")
    expected = dataclasses.asdict(result)  # what to_dict wrote until it was written out by hand
    for suggestion, raw in zip(result.suggestions, expected["suggestions"], strict=True):
        for path, raw_path in zip(suggestion.evidence.paths, raw["evidence"]["paths"], strict=True):
            raw_path["text"] = path.text
    data = result.to_dict()
    assert json.dumps(data, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)  # same keys, same order
    kinds = {s["kind"] for s in data["suggestions"]}
    assert {"article", "expert"} <= kinds and any(s["evidence"]["paths"] for s in data["suggestions"])
    data["suggestions"][0]["evidence"]["source"]["changed"] = True  # a copy: the kept answer is not changed
    assert "changed" not in result.suggestions[0].evidence.source


def test_a_repeated_question_is_encoded_once(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    question = "pressure drops when the second pump starts (cache check)"
    first = answer(kb, kt_store, question, audience="staff").to_dict()
    before = kb.question_vector.cache_info()
    second = answer(kb, kt_store, question, audience="staff").to_dict()
    after = kb.question_vector.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
    assert second == first
    assert not kb.question_vector(kb.embedder.model_id, question).flags.writeable


def test_a_customers_installed_base_is_kept_for_the_poll_interval(
    kt_store: FalkorDBStore, kb: KnowledgeBase, settings: Settings
) -> None:
    customer = _customers(kt_store)[0]
    owned = {
        r["id"] for r in kt_store.read("MATCH (:Customer {id: $c})-[:OWNS]->(p:Product) RETURN p.id AS id", c=customer)
    }
    kb.customers.clear()
    answer(kb, kt_store, "noise after restart (kept context 1)", customer_id=customer, audience="customer")
    hits = kb.customers.hits
    result = answer(kb, kt_store, "noise after restart (kept context 2)", customer_id=customer, audience="customer")
    assert kb.customers.hits == hits + 1  # the second question did not read the graph for the customer
    assert set(kb.customers.get(customer)[1]) == owned
    assert {n.id for s in result.suggestions for p in s.evidence.paths for n in p.nodes} & {customer, *owned}
    with pytest.raises(AnswerError):  # an unknown customer is an error, and not kept
        answer(kb, kt_store, "noise", customer_id="cust:nobody", audience="customer")
    assert kb.customers.get("cust:nobody") is None
    assert kb.customers.max_age_s == settings.knowledge_poll_seconds


def test_cross_model_scale_maps_by_rank() -> None:
    reference_scores = np.array([0.1, 0.5, 0.3, 0.9], dtype=np.float32)
    reference_z = np.array([-1.0, 2.0, 0.5, 0.0], dtype=np.float32)
    mapped = cross_model_scale(np.array([0.95, 0.5, 0.4, 0.0]), reference_scores, reference_z)
    # 0.95 is above every reference: the best reference z; 0.5 is 3rd of 4: the 3rd z; below all: the lowest.
    assert mapped.tolist() == pytest.approx([2.0, 0.5, 0.25, -1.0])


def test_demo_kcs_reuse_links_resolved_cases_to_an_article_for_their_error(
    kt_store: FalkorDBStore, kb: KnowledgeBase
) -> None:
    from kbcrm.demo.kcs_reuse import RESOLVED_CASES, SHARE, seed_kcs_reuse

    links = kt_store.read(
        "MATCH (a:KnowledgeArticle)-[r:LINKED_TO_CASE]->(k:ServiceCase) OPTIONAL MATCH (k)-[:HANDLED_BY]->(w:Employee) "
        "RETURN a.id AS article, k.id AS case, k.status AS status, r.kind AS kind, r.linked_by AS by, "
        "r.linked_at AS at, k.closed_at AS closed_at, collect(w.id) AS engineers"
    )
    eligible = kt_store.read(RESOLVED_CASES, after="", limit=100_000)
    assert links and abs(len(links) / len(eligible) - SHARE) < 0.15
    for link in links:
        assert link["kind"] == "reused" and link["status"] in ("resolved", "closed") and link["at"] == link["closed_at"]
        assert link["by"] in link["engineers"]
        assert kt_store.read(
            "MATCH (:ServiceCase {id: $case})-[:REPORTED_ERROR]->(:ErrorCode)"
            "<-[:RESOLVES]-(a:KnowledgeArticle {id: $a}) RETURN count(*) AS n",
            case=link["case"],
            a=link["article"],
        )[0]["n"]
    assert seed_kcs_reuse(kt_store) == len(links)  # the same links again, no more
    assert kt_store.read("MATCH ()-[r:LINKED_TO_CASE]->() RETURN count(r) AS n")[0]["n"] == len(links)
    reused = max(kb.docs, key=lambda d: d.reused)
    assert reused.reused > 1 and kb.static_boost_parts(kb.by_id[("article", reused.id)], "staff")["reuse"] > 0


def test_kcs_states_and_version_history(kt_store: FalkorDBStore) -> None:
    article = "kb-maint-ax-120"
    start = kcs._article(kt_store, article)
    kcs.set_confidence(kt_store, article, "archived", by="emp-001")
    with pytest.raises(kcs.KcsError, match="cannot go from archived to validated"):
        kcs.set_confidence(kt_store, article, "validated", by="emp-001")
    kcs.set_confidence(kt_store, article, "not-validated", by="emp-002")
    kcs.edit_article(kt_store, article, by="emp-003", body="New schedule: every 250 hours.")
    row = kcs.set_confidence(kt_store, article, "validated", by="emp-004")
    assert row["confidence"] == "validated" and row["body"] == "New schedule: every 250 hours."
    versions = kcs.history(kt_store, article)
    # Each version is what the article said after that person's change; the last is the article now.
    assert [v["version"] for v in versions] == list(range(1, int(start["version"]) + 5))
    assert [v["edited_by"] for v in versions[-4:]] == ["emp-001", "emp-002", "emp-003", "emp-004"]
    assert [v["confidence"] for v in versions[-4:]] == ["archived", "not-validated", "not-validated", "validated"]
    assert versions[-5]["confidence"] == start["confidence"] and versions[-5]["body"] == start["body"]
    authors = kt_store.read(
        "MATCH (e:Employee)-[:AUTHORED]->(:KnowledgeArticle {id: $id}) RETURN e.id AS id", id=article
    )
    assert [{"id": versions[-5]["edited_by"]}] == authors  # the author's version keeps its author
    assert versions[-1]["body"] == row["body"] and versions[-3]["body"] == start["body"]
    assert all(v["created_at"] for v in versions)
    assert kt_store.read(
        "MATCH (:Employee {id: 'emp-004'})-[r:VALIDATED]->(:KnowledgeArticle {id: $id}) RETURN r.validated_at AS at",
        id=article,
    )[0]["at"]
    with pytest.raises(kcs.KcsError, match="confidence state"):
        kcs.set_confidence(kt_store, article, "published", by="emp-001")


def test_draft_from_resolved_case(kt_store: FalkorDBStore) -> None:
    row = kt_store.read(
        "MATCH (k:ServiceCase {status: 'closed'})-[:RESOLVED_BY]->(r:Resolution) "
        "MATCH (k)-[:HAS_NOTE]->(n:ServiceNote {visibility: 'internal'}) "
        "MATCH (k)-[:ABOUT_PRODUCT]->(p:Product), (k)-[:REPORTED_ERROR]->(e:ErrorCode) "
        "RETURN k.id AS case, r.text AS fix, n.text AS internal, p.name AS product, p.id AS product_id, "
        "collect(DISTINCT e.id) AS codes ORDER BY case LIMIT 1"
    )[0]
    draft = kcs.draft_from_case(kt_store, row["case"], by="emp-005")
    assert set(draft.sections) == {"Issue", "Environment", "Cause", "Resolution"}
    assert row["fix"].rstrip(".") in draft.sections["Resolution"]
    assert row["product"] in draft.sections["Environment"]
    # Linked like an ingested article: what the case reported is what the draft resolves, so a validated
    # draft is found and recommended through the graph (before, a draft had its product link only).
    linked = kt_store.read(
        "MATCH (:KnowledgeArticle {id: $id})-[r:RESOLVES|APPLIES_TO|MENTIONS]->(x) RETURN type(r) AS rel, x.id AS id",
        id=draft.article_id,
    )
    resolved = {r["id"] for r in linked if r["rel"] == "RESOLVES"}
    assert set(row["codes"]) <= resolved and all(f"Error {c}" in draft.sections["Issue"] for c in row["codes"])
    assert {"rel": "APPLIES_TO", "id": row["product_id"]} in linked
    assert {r["id"] for r in linked if r["rel"] == "MENTIONS"} >= resolved
    assert row["internal"] not in draft.body, "an internal note was copied into a draft"
    node = kt_store.get_node("KnowledgeArticle", draft.article_id)
    assert node is not None and node["confidence"] == "work-in-progress" and node["audience"] == "internal"
    first = kcs.history(kt_store, draft.article_id)
    assert [(v["version"], v["edited_by"], v["body"]) for v in first] == [(1, "emp-005", draft.body)]
    links = kcs.case_links(kt_store, draft.article_id)
    assert [(x["case"], x["kind"], x["linked_by"]) for x in links] == [(row["case"], "created", "emp-005")]
    assert links[0]["linked_at"]
    kt_store.upsert_nodes("ServiceCase", [{"id": "CS-OPEN-TEST", "subject": "still open", "status": "open"}])
    open_case = "CS-OPEN-TEST"
    with pytest.raises(kcs.KcsError, match="no resolution"):
        kcs.draft_from_case(kt_store, open_case, by="emp-005")
    with pytest.raises(kcs.KcsError, match="link kind"):
        kcs.link_article_to_case(kt_store, draft.article_id, row["case"], kind="liked", by="emp-005")


def test_marked_text_shows_what_the_linker_found_and_what_it_resolves() -> None:
    title, body = "Pump leaks", "## Issue\nSeal leakage.\n\n## Resolution\nCheck for noise."
    text = f"{title}\n\n{body}"

    def found(words: str, node: str) -> dict[str, Any]:
        start = text.index(words)
        return {"start": start, "end": start + len(words), "text": words, "id": node, "label": "Symptom"}

    stale = {"start": 0, "end": 4, "text": "Gone", "id": "sym-x", "label": "Symptom"}  # from an older text
    mentions = [stale, found("Seal leakage", "sym-leak"), found("noise", "sym-noise")]
    segments = kcs.marked_text(title, body, mentions, {"sym-leak"})
    assert "".join(s["text"] for s in segments) == text
    assert [(s["id"], s["resolves"]) for s in segments if "id" in s] == [("sym-leak", True), ("sym-noise", False)]


def test_a_chinese_case_drafts_a_chinese_article(kt_store: FalkorDBStore) -> None:
    """Headings and fixed words in the case's language; its 问题 section is the issue it resolves."""
    row = kt_store.read(
        "MATCH (k:ServiceCase)-[:RESOLVED_BY]->(:Resolution) MATCH (k)-[:HAS_NOTE]->(n:ServiceNote {language: 'zh'}) "
        "MATCH (k)-[:REPORTED_ERROR]->(e:ErrorCode) RETURN k.id AS case, collect(DISTINCT e.id) AS codes "
        "ORDER BY case LIMIT 1"
    )[0]
    draft = kcs.draft_from_case(kt_store, row["case"], by="emp-005")
    assert [line for line in draft.body.splitlines() if line.startswith("## ")] == [
        "## 问题",
        "## 环境",
        "## 原因",
        "## 解决方法",
    ]
    assert f"（由工单 {row['case']} 起草）" in draft.title and "。." not in draft.body
    assert all(f"故障码 {c}" in draft.sections["Issue"] for c in row["codes"])
    resolved = kt_store.read(
        "MATCH (:KnowledgeArticle {id: $id})-[:RESOLVES]->(x) RETURN x.id AS id", id=draft.article_id
    )
    assert set(row["codes"]) <= {r["id"] for r in resolved}
    node = kt_store.get_node("KnowledgeArticle", draft.article_id)
    assert node is not None and node["language"] == "zh"


def test_content_health_finds_duplicates_within_a_language_and_unused(
    kt_store: FalkorDBStore, kb: KnowledgeBase, settings: Settings
) -> None:
    import dataclasses

    english = [d for d in kb.docs if d.kind == "article" and d.language == "en"][:4]
    chinese = [d for d in kb.docs if d.kind == "article" and d.language == "zh"][:3]
    copies = [
        dataclasses.replace(english[0], id="copy-en", links=[], people=[]),
        dataclasses.replace(chinese[0], id="copy-zh", links=[], people=[]),
        dataclasses.replace(english[1], id="copy-archived", confidence="archived", links=[], people=[]),
    ]
    small = KnowledgeBase(
        [*english, *chinese, *copies],
        settings=kb.settings,
        embedder=kb.embedder,
        multilingual=kb.multilingual,
        vectors_dir=settings.data_dir / "vectors",
    )
    pairs = kcs.article_duplicates(small)
    # Each copy pairs with its original, on the model that reads its language; the archived copy and the
    # translations (English vs Chinese article about the same code) are not duplicates.
    assert sorted(sorted(p["ids"]) for p in pairs) == sorted(
        [sorted([english[0].id, "copy-en"]), sorted([chinese[0].id, "copy-zh"])]
    )
    assert all(p["cosine"] == pytest.approx(1.0, abs=1e-3) for p in pairs)
    report = kcs.content_health(kt_store, as_of="2030-01-01T00:00:00", duplicates=pairs)
    assert report["duplicates"][0]["titles"][0] in {english[0].title, chinese[0].title}
    assert report["stale"] and report["never_reused"]


def test_content_health_finds_an_issue_the_graph_cannot_link(kt_store: FalkorDBStore) -> None:
    """An article whose Issue names no known symptom or code resolves nothing: nobody is led to it."""
    unknown = kcs.create_article(
        kt_store,
        by="emp-003",
        title="Gizmo wobbles",
        body="## Issue\nThe gizmo wobbles.",
        audience="customer",
        language="en",
    )
    known = kcs.create_article(
        kt_store,
        by="emp-003",
        title="Unit runs hot",
        body="## Issue\nOverheating.",
        audience="customer",
        language="en",
    )
    unlinked = {a["id"] for a in kcs.content_health(kt_store, as_of="2030-01-01T00:00:00")["unlinked_issue"]}
    assert unknown["id"] in unlinked and known["id"] not in unlinked
    # schedules say what to check, not what problem they solve: they have no Issue section and are not listed
    assert not {a for a in unlinked if a.startswith("kb-maint-")}
    # the catalogue learns the customers' word and the article is edited: it resolves the symptom and leaves
    kt_store.execute("MATCH (s:Symptom {id: 'sym-vibration'}) SET s.aliases = s.aliases + ['wobbles']")
    kcs.edit_article(kt_store, unknown["id"], by="emp-003", body="## Issue\nThe gizmo wobbles badly.")
    unlinked = {a["id"] for a in kcs.content_health(kt_store, as_of="2030-01-01T00:00:00")["unlinked_issue"]}
    assert unknown["id"] not in unlinked
    # (the shared demo graph as the other tests expect it)
    kt_store.execute("MATCH (s:Symptom {id: 'sym-vibration'}) SET s.aliases = [x IN s.aliases WHERE x <> 'wobbles']")
    ids = [unknown["id"], known["id"]]
    kt_store.delete_nodes("ArticleVersion", [f"{i}@v{v}" for i in ids for v in (1, 2)])
    kt_store.delete_nodes("KnowledgeArticle", ids)


def test_near_duplicates_block_by_block_equals_all_pairs() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    vectors[[7, 31, 44]] = vectors[3] + rng.normal(scale=0.01, size=(3, 16))  # a cluster of four
    vectors[20] = vectors[49]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"a{i}" for i in range(50)]
    similarity = vectors @ vectors.T
    expected = {(ids[i], ids[j]) for i in range(50) for j in range(i + 1, 50) if similarity[i, j] >= 0.95}
    assert len(expected) == 7  # six pairs in the cluster, one pair of equals
    for block in (1, 3, 7, 1024):
        found = kcs.near_duplicates(vectors, ids, threshold=0.95, block=block)
        assert {tuple(p["ids"]) for p in found} == expected
        assert [p["cosine"] for p in found] == sorted((p["cosine"] for p in found), reverse=True)


def test_who_knows_ranks_authors_with_evidence(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    row = kt_store.read(
        "MATCH (e:Employee)-[:AUTHORED]->(a:KnowledgeArticle {audience: 'customer', language: 'en'})-[:RESOLVES]->"
        "(c:ErrorCode) RETURN e.id AS who, c.code AS code ORDER BY code LIMIT 1"
    )[0]
    experts = who_knows(kb, f"error {row['code']}")
    assert row["who"] in [e.id for e in experts[:3]]
    for expert in experts:
        for path in expert.evidence.paths:
            _assert_path_resolves(kt_store, path)
        # The summary says in words what each vote is: the part, the document and how well it matched;
        # no bare vote weights.
        vote = r"(?:authored|validated|resolved case) \S+ “[^”]+” \(match rank \d+\)"
        assert re.fullmatch(rf"{vote}(?:; {vote})*", expert.summary), expert.summary


def test_recommendations_carry_reasons_and_resolving_paths(kt_store: FalkorDBStore) -> None:
    produced = 0
    for customer in _customers(kt_store)[:15]:
        items = [
            *next_best_articles(kt_store, customer),
            *cross_sell(kt_store, customer),
            *next_best_actions(kt_store, customer, as_of="2026-11-01T00:00:00"),
        ]
        for item in items:
            assert item.reason and item.paths
            assert item.paths[0].nodes[0].id == customer
            for path in item.paths:
                _assert_path_resolves(kt_store, path)
            produced += 1
        for item in next_best_articles(kt_store, customer):
            assert item.audience == "customer"
            assert all(n.id == customer for p in item.paths for n in p.nodes if n.label == "Customer")
    assert produced > 15


def test_article_recommendations_one_per_article_in_the_readers_language(kt_store: FalkorDBStore) -> None:
    """An article and its translation are one recommendation: the reader's language where that version is
    there, the original otherwise; each `why` carries the facts its reason states."""
    original = {
        r["t"]: r["o"]
        for r in kt_store.read(
            "MATCH (t:KnowledgeArticle)-[:TRANSLATION_OF]->(o:KnowledgeArticle) RETURN t.id AS t, o.id AS o"
        )
    }
    visible = {
        r["id"]
        for r in kt_store.read(
            "MATCH (a:KnowledgeArticle) WHERE a.audience IN ['customer', 'public'] AND a.confidence = 'validated' "
            "RETURN a.id AS id"
        )
    }
    languages = {"en": 0, "zh": 0}
    for customer in _customers(kt_store)[:40]:
        english = next_best_articles(kt_store, customer, limit=50)
        chinese = next_best_articles(kt_store, customer, language="zh", limit=50)
        for items in (english, chinese):
            works = [original.get(i.id, i.id) for i in items]
            assert len(works) == len(set(works)), works
            assert all(i.id in visible for i in items)
            for i in items:
                assert i.why["key"] in ("known_issue", "own_issue")
                assert f"{i.why['cases']} service case" in i.reason and f"“{i.why['issue_name']}”" in i.reason
                assert i.why["product_name"] in i.reason
        assert {original.get(i.id, i.id) for i in english} == {original.get(i.id, i.id) for i in chinese}
        # English readers get a Chinese version only where the original is not published to customers.
        assert all(original[i.id] not in visible for i in english if i.language == "zh")
        languages["zh"] += sum(i.language == "zh" for i in chinese)
        languages["en"] += sum(i.language == "en" for i in english)
    assert languages["zh"] > 0 and languages["en"] > 0


def test_issues_the_customer_reported_come_first_with_their_case_on_the_path(kt_store: FalkorDBStore) -> None:
    reported = covered = 0
    for customer in _customers(kt_store)[:40]:
        items = next_best_articles(kt_store, customer, limit=50)
        products = {i.why["product"] for i in items}
        # Each product's best article first (a short list covers every product), then the rest; each part
        # ranked by the customer's own cases, then all cases.
        lead, rest = items[: len(products)], items[len(products) :]
        assert {i.why["product"] for i in lead} == products
        for part in (lead, rest):
            ranks = [(i.why["own_cases"], i.why["cases"]) for i in part]
            assert ranks == sorted(ranks, reverse=True)
        short = next_best_articles(kt_store, customer, limit=len(products))
        assert [i.id for i in short] == [i.id for i in lead]
        covered += len(products) > 1 and len(items) > len(products)
        for item in items:
            if not item.why["own_cases"]:
                assert item.why["key"] == "known_issue" and item.reason.startswith("You own the ")
                continue
            case = item.why["latest_case"]
            path = item.paths[0]
            assert [n.label for n in path.nodes[:2]] == ["Customer", "ServiceCase"] and path.nodes[1].id == case
            _assert_path_resolves(kt_store, path)
            newest = kt_store.read(
                "MATCH (:Customer {id: $c})-[:RAISED]->(k:ServiceCase)-[:ABOUT_PRODUCT]->(:Product {id: $p}) "
                "MATCH (k)-[:HAS_SYMPTOM|REPORTED_ERROR]->({id: $s}) RETURN k.id AS id, k.opened_at AS at "
                "ORDER BY at DESC, id DESC",
                c=customer,
                p=item.why["product"],
                s=item.why["issue"],
            )
            assert len(newest) == item.why["own_cases"] and newest[0]["id"] == case
            assert f"(latest {case})" in item.reason
            reported += 1
    assert reported > 5 and covered > 5


def test_no_call_is_suggested_about_a_resolved_case(kt_store: FalkorDBStore) -> None:
    """An urgent case prompts a call while it is active, not once it is resolved or closed."""
    customer = _customers(kt_store)[0]
    engineer = Principal("user:eng", "eng", Role.engineer)
    opened = [
        open_case(kt_store, principal=engineer, customer_id=customer, subject=f"rec test {n}", priority="P1")["id"]
        for n in range(3)
    ]
    try:
        set_status(kt_store, principal=engineer, case_id=opened[1], status="resolved")
        set_status(kt_store, principal=engineer, case_id=opened[2], status="closed")
        ids = {a.id for a in next_best_actions(kt_store, customer, as_of="2035-01-01T00:00:00")}
        assert [f"call:{case}" in ids for case in opened] == [True, False, False]
    finally:
        kt_store.run("MATCH (k:ServiceCase) WHERE k.id IN $ids DETACH DELETE k", ids=opened)


def test_recommendations_for_a_reader(kt_store: FalkorDBStore) -> None:
    """A customer gets only the articles for their own record; staff also get cross-sell and actions."""
    customer, other = _customers(kt_store)[:2]
    me = Principal("user:rec", "rec", Role.customer, customer_id=customer)
    mine = for_customer(kt_store, principal=me, customer_id=customer, as_of="2026-11-01T00:00:00")
    assert mine is not None and set(mine) == {"customer_id", "articles"} and mine["articles"]
    assert all(a["audience"] == "customer" and a["paths"] and a["why"] for a in mine["articles"])
    with pytest.raises(RecordAccessDenied):
        for_customer(kt_store, principal=me, customer_id=other, as_of="2026-11-01T00:00:00")
    staff = Principal("user:eng", "eng", Role.engineer)
    full = for_customer(kt_store, principal=staff, customer_id=customer, as_of="2026-11-01T00:00:00")
    assert full is not None and set(full) == {"customer_id", "articles", "products", "actions"}
    assert full["articles"] == mine["articles"] and full["products"]
    assert for_customer(kt_store, principal=staff, customer_id="cust:none", as_of="2026-11-01T00:00:00") is None


def test_an_article_and_its_translation_take_one_place_in_a_list(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    """The version in the question's language is listed (also where the other ranks higher: E-4030's Chinese
    article does for 'error E-4030'); the other is named with it when the reader may open it."""
    pairs = kt_store.read(
        "MATCH (t:KnowledgeArticle)-[:TRANSLATION_OF]->(o:KnowledgeArticle)-[:RESOLVES]->(e:ErrorCode) "
        "RETURN t.id AS translation, t.title AS title, o.id AS original, o.title AS original_title, "
        "o.confidence AS confidence, e.code AS code ORDER BY code"
    )
    assert pairs and {p["confidence"] for p in pairs} >= {"validated", "not-validated"}
    zh = {"id": "", "title": "", "language": "zh"}
    for p in pairs:
        english = {**zh, "id": p["original"], "title": p["original_title"], "language": "en"}
        chinese = {**zh, "id": p["translation"], "title": p["title"]}
        listed = {}
        for question in (f"error {p['code']}", f"设备显示{p['code']}，怎么处理？"):
            articles = [s for s in answer(kb, kt_store, question, audience="staff", limit=8).suggestions]
            articles = [s for s in articles if s.kind == "article"]
            ids = [s.id for s in articles]
            assert not {p["original"], p["translation"]} <= set(ids), (question, ids)  # one place for the two
            listed[question] = next(s for s in articles if s.id in (p["original"], p["translation"]))
        # Staff may open both: the question's language decides which is listed, and it names the other.
        english_question, chinese_question = listed.values()
        assert (english_question.id, english_question.translations) == (p["original"], [chinese])
        assert (chinese_question.id, chinese_question.translations) == (p["translation"], [english])
        # A customer may not open a not-validated original: the translation is listed, and nothing is offered.
        customer = answer(kb, kt_store, f"error {p['code']}", audience="customer", limit=8).suggestions
        mine = next(s for s in customer if s.id in (p["original"], p["translation"]))
        if p["confidence"] == "validated":
            assert (mine.id, mine.translations) == (p["original"], [chinese])
        else:
            assert (mine.id, mine.translations) == (p["translation"], [])
        assert not {p["original"], p["translation"]} <= {s.id for s in customer}


def test_a_maintenance_schedule_resolves_no_symptom(kt_store: FalkorDBStore) -> None:
    """An article resolves the symptoms its title and issue sections name; a schedule's checklist ("check for
    leaks and unusual noise") names a symptom it does not resolve."""
    schedules = kt_store.read(
        "MATCH (a:KnowledgeArticle) WHERE a.id STARTS WITH 'kb-maint-' "
        "OPTIONAL MATCH (a)-[:RESOLVES]->(s) RETURN a.id AS id, a.body AS body, collect(s.id) AS resolved"
    )
    checklists = [r for r in schedules if "unusual noise" in r["body"]]  # (another test edits one schedule)
    assert len(checklists) > 5
    assert [r for r in checklists if r["resolved"]] == []
    # "noise" is the symptom's alias: the checklist names it, outside the title and any issue section
    noise = kt_store.read(
        "MATCH (a:KnowledgeArticle)-[:MENTIONS]->(:Symptom {id: 'sym-noise'}) WHERE a.id IN $ids RETURN a.id AS id",
        ids=[r["id"] for r in checklists],
    )
    assert len(noise) == len(checklists)


def test_chinese_questions_in_everyday_words_link_the_symptom(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    """A customer writes 噪音 (noise), not the catalogue's 异常噪音: the symptom's Chinese aliases link it."""
    said = {"水泵噪音很大怎么办": "sym-noise", "一开机就跳闸": "sym-trip", "屏幕黑屏了": "sym-display"}
    said |= {"设备漏水了": "sym-leak", "设备发烫": "sym-overheat", "设备振动": "sym-vibration"}
    # The bare everyday words in English too (the catalogue says "grinding noise", "excessive vibration").
    said |= {"the pump is very noisy": "sym-noise", "a noisy conveyor": "sym-noise"}
    said |= {"vibration at start-up": "sym-vibration"}
    for question, symptom in said.items():
        assert set(kb.mentions(question)) == {symptom}, question
    for question in ("设备漏水了", "设备发烫"):  # a customer-visible Chinese article resolves these: it comes first
        top = answer(kb, kt_store, question, audience="customer").suggestions[0]
        assert [p.nodes[-1].id for p in top.evidence.paths] == [said[question]], (question, top.id)
        assert top.evidence.boosts["linked_symptom"] == kb.settings.boost_linked_symptom


def test_a_named_symptom_outweighs_the_named_product(kt_store: FalkorDBStore, kb: KnowledgeBase) -> None:
    """'AX-200: pressure drop' where no article is about both: the article resolving the problem comes first,
    not the product's articles about other problems (a seeded case of the demo showed four of those)."""
    rows = kt_store.read(
        "MATCH (s:Symptom)<-[:RESOLVES]-(a:KnowledgeArticle {language: 'en'}), (p:Product) "
        "WHERE p.sku IS NOT NULL AND NOT (p)<-[:APPLIES_TO]-(:KnowledgeArticle)-[:RESOLVES]->(s) "
        "AND (p)<-[:APPLIES_TO]-(:KnowledgeArticle {language: 'en'}) "
        "RETURN DISTINCT p.sku AS sku, s.id AS symptom, s.name AS name ORDER BY sku, symptom"
    )
    assert len(rows) >= 50
    missed = []
    for row in rows:
        question = f"{row['sku']}: {row['name']}"
        top = next(s for s in answer(kb, kt_store, question, audience="staff").suggestions if s.kind == "article")
        if row["symptom"] in {p.nodes[-1].id for p in top.evidence.paths}:
            assert top.evidence.boosts["linked_symptom"] == kb.settings.boost_linked_symptom
        else:
            missed.append((question, top.id))
    # With the symptom weighing as much as the product (1.0 each) 28 of 115 missed; at 2.0, 2 (a spare-part kit's).
    assert len(missed) <= 0.05 * len(rows), missed


OFF_TOPIC = [
    "what is the capital of France",
    "how do I bake sourdough bread",
    "who won the football match",
    "今天天气怎么样",
]
ON_TOPIC = [
    "excessive vibration",
    "pump makes noise after restart",
    "how do I replace the filter",
    "firmware update failed",
    "the machine makes a weird sound",
    "E-1012",
    "显示屏不亮",
    "水泵噪音很大怎么办",
]


def test_a_question_nothing_is_about_is_a_weak_match(kb: KnowledgeBase, kt_store: FalkorDBStore) -> None:
    """Off-topic questions say so (with the numbers), still listing the closest; the catalogue's questions do not."""
    threshold = kb.settings.weak_match_similarity
    for question in OFF_TOPIC:
        for audience in ("customer", "staff"):
            result = answer(kb, kt_store, question, audience=audience)
            assert result.weak_match is not None, (question, audience)
            assert result.weak_match["best_similarity"] < threshold == result.weak_match["threshold"]
            assert result.suggestions and all(s.kind != "expert" for s in result.suggestions)
            assert result.to_dict()["weak_match"] == result.weak_match
        assert who_knows(kb, question) == []
    for question in ON_TOPIC:
        result = answer(kb, kt_store, question, audience="customer")
        assert result.weak_match is None, (question, result.suggestions[0].evidence.semantic_similarity)
    # Naming a product is reason enough, however odd the rest: the answer has a graph path to show.
    named = answer(kb, kt_store, "AX-120 football", audience="customer")
    assert named.linked and named.weak_match is None
    assert who_knows(kb, "excessive vibration")
