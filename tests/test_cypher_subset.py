"""Every shared query stays in the Cypher subset both backends run, and runs on both."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from kbcrm.graph import REGISTRY, GraphStore, NonPortableCypher, cypher
from kbcrm.graph.cypher import portability_problems

PACKAGES = ["kbcrm", "ingest", "knowledge_transfer", "api"]


def _import_everything() -> None:
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{name}."):
            if module.name != "kbcrm.cli":
                importlib.import_module(module.name)


_import_everything()
SHARED = sorted(REGISTRY)


@pytest.mark.parametrize(
    "text",
    [
        "MATCH (c:Customer) WHERE EXISTS { (c)-[:OWNS]->() } RETURN c",
        "MATCH (c:Customer) RETURN COUNT { (c)-[:OWNS]->() } AS n",
        "MATCH p = shortestPath((a)-[*]-(b)) RETURN p",
        "MATCH (n) RETURN elementId(n)",
        "MATCH (n) WHERE n.name =~ 'A.*' RETURN n",
        "RETURN datetime() AS now",
        "MATCH (n) WHERE exists(n.email) RETURN n",
        "CALL db.labels()",
        "CREATE (n:Customer {address: {city: 'Berlin'}})",
    ],
)
def test_non_portable_constructs_are_refused(text: str) -> None:
    assert portability_problems(text)
    with pytest.raises(NonPortableCypher):
        cypher(f"test.refused.{abs(hash(text))}", text)


def test_the_codebase_declares_shared_queries() -> None:
    assert len(SHARED) >= 4
    for name in SHARED:
        assert not portability_problems(REGISTRY[name].text), name


@pytest.mark.parametrize("name", SHARED)
def test_shared_query_runs_unchanged_on_both_backends(
    name: str, falkordb_store: GraphStore, bolt_store: GraphStore
) -> None:
    query = REGISTRY[name]
    results = []
    for store in (falkordb_store, bolt_store):
        store.upsert_nodes(
            "Customer", [{"id": "c1", "name": "Acme"}, {"id": "c2", "name": "Beta"}], extra_labels=["Organization"]
        )
        store.upsert_nodes("Product", [{"id": "p1", "name": "AX-120"}])
        store.upsert_relationships("OWNS", [{"start": "c1", "end": "p1"}], start_label="Customer", end_label="Product")
        rows = store.execute(query, query.example).rows
        results.append(rows if query.ordered else sorted(rows, key=repr))
    assert results[0] == results[1]
