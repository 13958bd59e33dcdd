"""Service functions describing the graph as a whole (health, sizes, vocabulary)."""

from __future__ import annotations

from typing import Any

from kbcrm.graph import GraphStore, cypher

NODES_PER_LABEL = cypher(
    "summary.nodes_per_label",
    "MATCH (n) UNWIND labels(n) AS label RETURN label, count(*) AS nodes ORDER BY label",
    ordered=True,
)
RELATIONSHIPS_PER_TYPE = cypher(
    "summary.relationships_per_type",
    "MATCH ()-[r]->() RETURN type(r) AS type, count(r) AS relationships ORDER BY type",
    ordered=True,
)
PING = cypher("summary.ping", "RETURN 1 AS ok")


def ping(*, store: GraphStore) -> bool:
    """True when the store answers a trivial query."""
    return bool(store.read(PING)[0]["ok"] == 1)


def summary(*, store: GraphStore) -> dict[str, Any]:
    """Nodes per label and relationships per type."""
    return {
        "backend": store.backend_name,
        "nodes": {r["label"]: int(r["nodes"]) for r in store.read(NODES_PER_LABEL)},
        "relationships": {r["type"]: int(r["relationships"]) for r in store.read(RELATIONSHIPS_PER_TYPE)},
    }


def vocabulary(*, store: GraphStore) -> dict[str, Any]:
    """The ontology's labels, relationship types (with domain and range) and properties."""
    v = store.vocabulary
    return {
        "labels": {label: sorted(v.properties_of(label)) for label in sorted(v.labels)},
        "relationships": {
            t: {"from": sorted(r.domain), "to": sorted(r.range), "properties": sorted(v.properties_of_relationship(t))}
            for t, r in sorted(v.relationships.items())
        },
    }
