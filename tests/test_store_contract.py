"""The graph store contract: every backend must pass this suite.

Runs against embedded FalkorDB (always), the Neo4j backend through the official driver
against FalkorDB 4.18's Bolt listener (always, via `make test`), and a real Neo4j when
NEO4J_URI is set. Where FalkorDB-over-Bolt is measured not to behave like Neo4j
(rollback, error messages, Neo4j's index procedures) the test says so and runs on the
other backends only.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from kbcrm.graph import (
    ConstraintViolation,
    GraphStore,
    QueryError,
    ReadOnlyViolation,
    StoreError,
    VocabularyError,
)
from kbcrm.graph.embedded import EmbeddedServer
from kbcrm.graph.falkordb_backend import FalkorDBStore
from ontology.terms import Label, Rel


def _not_on_bolt(store: GraphStore, why: str) -> None:
    """Skip where FalkorDB 4.18's Bolt listener is measured not to behave like Neo4j."""
    if getattr(store, "falkordb_bolt", False):
        pytest.skip(f"FalkorDB's Bolt listener: {why}; runs on embedded FalkorDB and real Neo4j")


def test_create_read_update_delete(any_store: GraphStore) -> None:
    counts = any_store.upsert_nodes(Label.Product, [{"id": "p1", "name": "AX-120 pump", "list_price": 4200.0}])
    assert counts.nodes_created == 1
    assert any_store.get_node(Label.Product, "p1") == {
        "id": "p1",
        "name": "AX-120 pump",
        "list_price": 4200.0,
        "created_at": any_store.get_node(Label.Product, "p1")["created_at"],  # type: ignore[index]
        "updated_at": any_store.get_node(Label.Product, "p1")["updated_at"],  # type: ignore[index]
    }
    any_store.upsert_nodes(Label.Product, [{"id": "p1", "name": "AX-120 centrifugal pump", "list_price": None}])
    node = any_store.get_node(Label.Product, "p1")
    assert node is not None and node["name"] == "AX-120 centrifugal pump" and "list_price" not in node
    assert any_store.delete_nodes(Label.Product, ["p1"]).nodes_deleted == 1
    assert any_store.get_node(Label.Product, "p1") is None


def test_batch_upsert_and_idempotent_merge(any_store: GraphStore) -> None:
    rows = [{"id": f"c{i:04d}", "name": f"Customer {i}", "source_ids": [f"C{i}", "x"]} for i in range(1200)]
    first = any_store.upsert_nodes(Label.Customer, rows, extra_labels=[Label.Organization], batch_size=500)
    assert first.nodes_created == 1200
    second = any_store.upsert_nodes(Label.Customer, rows, extra_labels=[Label.Organization], batch_size=500)
    assert second.nodes_created == 0
    assert any_store.count_nodes(Label.Customer) == 1200
    assert any_store.count_nodes(Label.Organization) == 1200
    node = any_store.get_node(Label.Customer, "c0007")
    assert node is not None and node["source_ids"] == ["C7", "x"]  # list properties survive the round trip


def test_relationships_merge_and_traverse(any_store: GraphStore) -> None:
    any_store.upsert_nodes(Label.Customer, [{"id": "c1", "name": "Acme"}, {"id": "c2", "name": "Beta"}])
    any_store.upsert_nodes(Label.Product, [{"id": "p1", "name": "pump"}, {"id": "p2", "name": "compressor"}])
    any_store.upsert_nodes(Label.Symptom, [{"id": "s1", "name": "leak"}])
    any_store.upsert_nodes(Label.Component, [{"id": "k1", "name": "seal"}])
    owns = [
        {"start": "c1", "end": "p1", "serial_number": "SN1"},
        {"start": "c2", "end": "p1"},
        {"start": "c2", "end": "p2"},
    ]
    assert (
        any_store.upsert_relationships(
            Rel.OWNS, owns, start_label=Label.Customer, end_label=Label.Product
        ).relationships_created
        == 3
    )
    assert (
        any_store.upsert_relationships(
            Rel.OWNS, owns, start_label=Label.Customer, end_label=Label.Product
        ).relationships_created
        == 0
    )
    any_store.upsert_relationships(
        Rel.HAS_COMPONENT, [{"start": "p1", "end": "k1"}], start_label=Label.Product, end_label=Label.Component
    )
    any_store.upsert_relationships(
        Rel.HAS_SYMPTOM, [{"start": "k1", "end": "s1"}], start_label=Label.Component, end_label=Label.Symptom
    )
    rows = any_store.read(
        "MATCH (c:Customer)-[:OWNS]->(:Product)-[:HAS_COMPONENT]->(:Component)-[:HAS_SYMPTOM]->(s:Symptom) "
        "RETURN c.id AS customer, s.name AS symptom ORDER BY customer"
    )
    assert rows == [{"customer": "c1", "symptom": "leak"}, {"customer": "c2", "symptom": "leak"}]
    rows = any_store.read("MATCH (c:Customer {id: $id})-[*1..3]->(n) RETURN DISTINCT n.id AS id ORDER BY id", id="c1")
    assert [r["id"] for r in rows] == ["k1", "p1", "s1"]
    rows = any_store.read("MATCH (c:Customer) RETURN c.id AS id, size([(c)-[:OWNS]->() | 1]) AS owned ORDER BY id")
    assert rows == [{"id": "c1", "owned": 1}, {"id": "c2", "owned": 2}]
    rows = any_store.read(
        "MATCH (a:Customer {id: 'c1'})-[r:OWNS]->(p) RETURN r.serial_number AS sn, p {.id, .name} AS p"
    )
    assert rows == [{"sn": "SN1", "p": {"id": "p1", "name": "pump"}}]


def test_one_statement_is_atomic(any_store: GraphStore) -> None:
    _not_on_bolt(any_store, "rollback of a failed statement is not honoured (measured on 4.18)")
    any_store.upsert_nodes(Label.Topic, [{"id": "t-existing", "name": "kept"}])
    with pytest.raises(StoreError):
        any_store.execute(
            "UNWIND $rows AS row CREATE (t:Topic {id: row.id, name: row.name})",
            {
                "rows": [
                    {"id": "t-new-1", "name": "a"},
                    {"id": "t-existing", "name": "dup"},
                    {"id": "t-new-2", "name": "b"},
                ]
            },
        )
    assert sorted(r["id"] for r in any_store.read("MATCH (t:Topic) RETURN t.id AS id")) == ["t-existing"]


def test_errors_surface_as_store_exceptions(any_store: GraphStore) -> None:
    with pytest.raises(QueryError):
        any_store.execute("MATCH (n RETURN n")
    with pytest.raises(ReadOnlyViolation):
        any_store.read("CREATE (:Topic {id: 'x'})")
    with pytest.raises(VocabularyError):
        any_store.upsert_nodes("Spaceship", [{"id": "s"}])
    with pytest.raises(VocabularyError):
        any_store.upsert_nodes(Label.Customer, [{"id": "c", "favourite_colour": "red"}])
    with pytest.raises(VocabularyError):
        any_store.upsert_relationships(
            "LIKES", [{"start": "a", "end": "b"}], start_label=Label.Customer, end_label=Label.Customer
        )


def test_statements_from_an_event_loop_behave_as_blocking_ones(any_store: GraphStore) -> None:
    """run_async: FalkorDB's asyncio client (one per event loop), other backends on a worker thread."""
    any_store.upsert_nodes(Label.KnowledgeArticle, [{"id": "ka-async", "title": "t", "view_count": 1}])
    bump = "MATCH (a:KnowledgeArticle {id: $id}) SET a.view_count = a.view_count + 1 RETURN a.view_count AS views"

    async def twice() -> list[list[dict[str, object]]]:
        first = await any_store.run_async(bump, id="ka-async")
        both = await asyncio.gather(*(any_store.run_async(bump, id="ka-async") for _ in range(2)))
        with pytest.raises(QueryError):
            await any_store.run_async("MATCH (n RETURN n")
        await any_store.close_async()
        return [first, *both]

    # Two event loops one after the other (as two servers, or two tests, in one process).
    counted = asyncio.run(twice()) + asyncio.run(twice())
    assert counted[0] == [{"views": 2}]
    assert sorted(rows[0]["views"] for rows in counted) == [2, 3, 4, 5, 6, 7]  # no update lost
    assert any_store.run(bump, id="ka-async") == [{"views": 8}]
    # The default path every backend inherits (a worker thread), taken by backends without an asynchronous client.
    inherited = GraphStore._execute_async(
        any_store,
        "MATCH (a:KnowledgeArticle {id: $id}) RETURN a.view_count AS views",
        {"id": "ka-async"},
        read_only=True,
        timeout_ms=None,
    )
    assert asyncio.run(inherited).rows == [{"views": 8}]


def test_unique_id_violation_is_a_constraint_error(any_store: GraphStore) -> None:
    _not_on_bolt(any_store, "error messages are lost and Neo4j constraint DDL does not exist")
    any_store.upsert_nodes(Label.Topic, [{"id": "t1", "name": "one"}])
    with pytest.raises(ConstraintViolation):
        any_store.execute("CREATE (:Topic {id: 't1'})")


def test_fulltext_search(any_store: GraphStore) -> None:
    _not_on_bolt(any_store, "Neo4j's full-text index DDL and procedures do not exist there")
    any_store.upsert_nodes(
        Label.KnowledgeArticle,
        [
            {"id": "a1", "title": "Seal leakage on AX-120 pumps", "body": "Replace the mechanical seal."},
            {"id": "a2", "title": "Compressor overheating", "body": "Replace the oil separator element."},
            {"id": "a3", "title": "Belt slipping", "body": "Tension the drive belt."},
        ],
    )
    hits = any_store.fulltext_search(Label.KnowledgeArticle, "separator", limit=5)
    assert [h.id for h in hits] == ["a2"]
    hits = any_store.fulltext_search(Label.KnowledgeArticle, "seal", limit=5)
    assert hits and hits[0].id == "a1" and hits[0].score > 0


def test_vector_search_scores_are_cosine_similarities(any_store: GraphStore) -> None:
    _not_on_bolt(any_store, "Neo4j's vector index DDL and procedures do not exist there")
    any_store.upsert_nodes(Label.KnowledgeArticle, [{"id": f"v{i}", "title": f"t{i}"} for i in range(3)])
    written = any_store.write_vectors(
        Label.KnowledgeArticle,
        [
            {"id": "v0", "vector": [1.0, 0.0, 0.0, 0.0]},
            {"id": "v1", "vector": [0.6, 0.8, 0.0, 0.0]},
            {"id": "v2", "vector": [0.0, 0.0, 1.0, 0.0]},
        ],
        model_id="test-model",
    )
    assert written == 3
    hits = any_store.vector_search(Label.KnowledgeArticle, [1.0, 0.0, 0.0, 0.0], k=3)
    assert [h.id for h in hits] == ["v0", "v1", "v2"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[1].score == pytest.approx(0.6, abs=1e-5)
    assert hits[2].score == pytest.approx(0.0, abs=1e-5)
    node = any_store.get_node(Label.KnowledgeArticle, "v1")
    assert node is not None and node["embedding_model"] == "test-model" and node["embedding_dim"] == 4


def test_read_queries_have_a_time_limit(any_store: GraphStore) -> None:
    _not_on_bolt(any_store, "query time limits are not passed through Bolt")
    with pytest.raises(QueryError):
        any_store.read("UNWIND range(1, 30000000) AS x WITH x WHERE x % 7 = 0 RETURN count(x) AS n", timeout_ms=50)


def test_reading_a_graph_never_written_answers_as_an_empty_graph(embedded: EmbeddedServer) -> None:
    """FalkorDB has no key for a graph until its first write and refuses reads there ("empty key").

    The store creates the empty graph and reads again, so a ping, a count or a malformed statement
    answer as they would on any empty graph (the blocking and the asyncio path), not with no rows.
    """
    store = FalkorDBStore(graph_name=f"never_{uuid.uuid4().hex[:8]}", socket_path=embedded.socket_path)
    late = FalkorDBStore(graph_name=f"never_{uuid.uuid4().hex[:8]}", socket_path=embedded.socket_path)
    try:
        assert store.read("RETURN 1 AS ok") == [{"ok": 1}]
        assert store.read("MATCH (c:Customer) RETURN count(c) AS n") == [{"n": 0}]
        assert store.read("MATCH (c:Customer) RETURN c.id AS id") == []
        store.upsert_nodes(Label.Customer, [{"id": "c1", "name": "First"}])
        assert store.read("MATCH (c:Customer) RETURN c.id AS id") == [{"id": "c1"}]
        with pytest.raises(QueryError):
            late.read("MATCH (c:Customer) RETURN c.id AS id ORDER BY")

        async def ping() -> list[dict[str, object]]:
            other = FalkorDBStore(graph_name=f"never_{uuid.uuid4().hex[:8]}", socket_path=embedded.socket_path)
            try:
                return (await other._execute_async("RETURN 1 AS ok", {}, read_only=True, timeout_ms=None)).rows
            finally:
                await other.close_async()
                other.drop_graph()
                other.close()

        assert asyncio.run(ping()) == [{"ok": 1}]
    finally:
        for opened in (store, late):
            opened.drop_graph()
            opened.close()
