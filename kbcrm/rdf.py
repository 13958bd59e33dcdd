"""The graph as RDF, using the ontology's IRIs: export (Turtle / JSON-LD) and SPARQL over it.

Nodes become `https://kbcrm.org/id/<id>` resources typed with their kb: classes;
properties become kb: datatype properties typed by the ontology's ranges; relationships
become kb: object properties. Relationship properties are not exported (RDF 1.1 has no
edge properties; see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rdflib import RDF, XSD, Graph, Literal, URIRef
from rdflib.query import Result

from kbcrm.graph import GraphStore
from ontology import KB, SCHEMA, load_vocabulary

ID_BASE = "https://kbcrm.org/id/"
PAGE = 5000


def _page_query(label: str) -> str:
    """One page of a label's nodes (keyset paging on the indexed id) with their outgoing edges."""
    return (
        f"MATCH (n:{label}) WHERE n.id > $after WITH n ORDER BY n.id LIMIT $limit "
        "OPTIONAL MATCH (n)-[r]->(m) "
        "WITH n, collect({type: type(r), end: m.id}) AS out "
        "RETURN n.id AS id, labels(n) AS labels, n {.*} AS props, out ORDER BY id"
    )


_XSD = {
    "string": XSD.string,
    "integer": XSD.integer,
    "decimal": XSD.decimal,
    "boolean": XSD.boolean,
    "date": XSD.date,
    "dateTime": XSD.dateTime,
}


def node_iri(node_id: str) -> URIRef:
    """The RDF resource of a graph node."""
    return URIRef(ID_BASE + quote(node_id, safe=""))


def _literal(value: Any, datatype: str) -> Literal:
    if datatype == "decimal":
        return Literal(Decimal(str(value)), datatype=XSD.decimal)
    if datatype == "integer":
        return Literal(int(value), datatype=XSD.integer)
    if datatype == "boolean":
        return Literal(bool(value), datatype=XSD.boolean)
    if datatype in ("date", "dateTime"):
        text = str(value)
        if datatype == "dateTime" and "T" not in text:
            return Literal(text, datatype=XSD.date)
        return Literal(text, datatype=_XSD[datatype])
    return Literal(str(value))


def _pages(store: GraphStore, label: str) -> Iterator[list[dict[str, Any]]]:
    store.check_label(label)
    query, after = _page_query(label), ""
    while rows := store.read(query, after=after, limit=PAGE):
        yield rows
        after = rows[-1]["id"]


def add_node(graph: Graph, node_id: str, labels: list[str], props: dict[str, Any]) -> URIRef:
    """Add one node's types and datatype properties to `graph` (as the export writes them); returns its IRI."""
    vocabulary = load_vocabulary()
    subject = node_iri(node_id)
    for node_label in labels:
        graph.add((subject, RDF.type, KB[node_label]))
    for name, value in props.items():
        info = vocabulary.properties.get(name)
        if info is None or info.vector or value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            graph.add((subject, KB[name], _literal(item, info.datatype)))
    return subject


def to_rdf(store: GraphStore) -> Graph:
    """The whole graph as an rdflib Graph (streams the store label by label, in pages)."""
    vocabulary = load_vocabulary()
    graph = Graph()
    graph.bind("kb", KB)
    graph.bind("schema", SCHEMA)
    for label in sorted(vocabulary.labels):
        for rows in _pages(store, label):
            for row in rows:
                subject = add_node(graph, row["id"], row["labels"], row["props"])
                for edge in row["out"]:
                    if edge.get("type") and edge.get("end") is not None:
                        graph.add((subject, KB[edge["type"]], node_iri(edge["end"])))
    return graph


def export(store: GraphStore, path: Path, *, fmt: str = "turtle") -> int:
    """Write the graph to `path` as Turtle or JSON-LD; returns the number of triples."""
    if fmt not in ("turtle", "json-ld"):
        raise ValueError(f"unknown RDF format {fmt!r}: use turtle or json-ld")
    graph = to_rdf(store)
    graph.serialize(destination=str(path), format=fmt, encoding="utf-8")
    return len(graph)


def sparql(graph: Graph, query: str) -> Result:
    """Run a read-only SPARQL query; SPARQL Update is refused."""
    from rdflib.plugins.sparql import prepareQuery

    prepared = prepareQuery(query, initNs={"kb": KB, "schema": SCHEMA, "rdf": RDF, "xsd": XSD})
    return graph.query(prepared)
