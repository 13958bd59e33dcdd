"""The ontology is the schema's single source of truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.rdf import node_iri, to_rdf
from ontology import KB, SCHEMA, load_graph, load_vocabulary, validate
from ontology.generate import TERMS_PATH, render_terms

from .conftest import SHARED_DATA, TEST_DATA

REQUIRED_CLASSES = {
    "Customer",
    "Person",
    "Organization",
    "Contact",
    "Account",
    "Product",
    "Component",
    "Order",
    "OrderLine",
    "Interaction",
    "ServiceCase",
    "ServiceNote",
    "KnowledgeArticle",
    "Expert",
    "Employee",
    "Topic",
    "Symptom",
    "ErrorCode",
    "Cause",
    "Resolution",
    "Campaign",
    "Opportunity",
    "Segment",
    "Consent",
    "Source",
}


def _schemaorg_terms() -> set[str]:
    shared = SHARED_DATA / "schemaorg" / "schemaorg-current-https.jsonld"
    if shared.exists():  # the full release, when ../shared is there
        return {x["@id"] for x in json.loads(shared.read_text())["@graph"]}
    return set((TEST_DATA / "schemaorg_terms.txt").read_text().split())


def test_every_schemaorg_term_referenced_exists() -> None:
    known = _schemaorg_terms()
    used = {
        f"schema:{str(t)[len(str(SCHEMA)) :]}"
        for triple in load_graph()
        for t in triple
        if isinstance(t, URIRef) and str(t).startswith(str(SCHEMA))
    }
    assert len(used) > 30
    assert sorted(used - known) == []


def test_required_classes_are_declared_and_aligned() -> None:
    vocabulary = load_vocabulary()
    assert vocabulary.labels >= REQUIRED_CLASSES
    graph = load_graph()
    for name, schema_class in [
        ("Person", "Person"),
        ("Organization", "Organization"),
        ("Order", "Order"),
        ("Product", "Product"),
        ("OrderLine", "OrderItem"),
    ]:
        assert (KB[name], URIRef("http://www.w3.org/2002/07/owl#equivalentClass"), SCHEMA[schema_class]) in graph
    assert all(info.key == "id" for info in vocabulary.classes.values())
    assert vocabulary.ancestors("Expert") >= {"Employee", "Entity"}


def test_relationships_have_domain_and_range() -> None:
    vocabulary = load_vocabulary()
    for rel in vocabulary.relationships.values():
        assert rel.range, rel.type
        assert rel.domain or rel.type in {"HANDLED_BY"}, rel.type
        assert rel.type == rel.type.upper()


def test_generated_terms_module_is_current() -> None:
    assert TERMS_PATH.read_text() == render_terms(), "run `python -m ontology.generate`"


def test_graph_written_by_the_code_uses_only_declared_vocabulary(demo_store: FalkorDBStore) -> None:
    vocabulary = load_vocabulary()
    labels = {r["label"] for r in demo_store.read("CALL db.labels()")}
    types = {r["relationshipType"] for r in demo_store.read("CALL db.relationshipTypes()")}
    keys = {r["propertyKey"] for r in demo_store.read("CALL db.propertyKeys()")}
    assert labels <= vocabulary.labels
    assert types <= set(vocabulary.relationships)
    assert keys <= set(vocabulary.properties)
    # and per node: no node carries a property that none of its labels declares
    rows = demo_store.read("MATCH (n) UNWIND keys(n) AS k RETURN DISTINCT labels(n) AS labels, k")
    assert rows
    for row in rows:
        allowed = set().union(*(vocabulary.properties_of(label) for label in row["labels"]))
        assert row["k"] in allowed, row


def test_demo_export_conforms_to_the_shapes(demo_store: FalkorDBStore) -> None:
    conforms, report = validate(to_rdf(demo_store))
    assert conforms, report[:2000]


def test_shapes_catch_a_bad_article(demo_store: FalkorDBStore) -> None:
    graph = to_rdf(demo_store)
    article = next(iter(graph.subjects(predicate=KB.audience)))
    graph.set((article, KB.audience, Literal("everyone")))
    graph.remove((node_iri("emp-001"), KB.name, None))
    conforms, report = validate(graph)
    assert not conforms
    assert "audience" in report and "emp-001" in report


@pytest.mark.parametrize("path", [Path("ontology/kbcrm.ttl"), Path("ontology/shapes.ttl")])
def test_ontology_files_ship_with_the_package(path: Path) -> None:
    import ontology

    assert (Path(ontology.__file__).parent / path.name).exists()
