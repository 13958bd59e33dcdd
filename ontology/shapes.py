"""The SHACL shapes (shapes.ttl) compiled into per-class property rules, to check one record at a time.

pyshacl validates a whole RDF graph: right for the export, far too slow to run once per
ingested row. The property constraints of the shapes — sh:minCount, sh:datatype, sh:in,
sh:pattern, sh:minLength, sh:minInclusive / sh:maxInclusive on datatype properties — are
read from the same file here, so ingest checks each row against exactly what the export's
SHACL validation checks (a test compares the two on sample records). Constraints on
relationships (sh:class, inverse paths) need the rest of the graph and stay with pyshacl
and the mapping's required links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any

from rdflib import RDF, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import SH

from ontology import KB, SHAPES_PATH, load_vocabulary


@dataclass(frozen=True)
class PropertyRule:
    """One sh:property constraint on a datatype property of a target class."""

    shape: str
    property: str
    min_count: int = 0
    datatype: str | None = None
    allowed: tuple[str, ...] = ()
    pattern: str | None = None
    min_length: int | None = None
    min_inclusive: float | None = None
    max_inclusive: float | None = None

    def violation(self, value: Any) -> str | None:
        """Why a present value breaks this rule, or None."""
        if self.datatype is not None and not _has_datatype(value, self.datatype):
            return f"must be an xsd:{self.datatype}"
        if self.allowed and str(value) not in self.allowed:
            return f"must be one of {', '.join(self.allowed)}"
        if self.pattern is not None and not re.search(self.pattern, str(value)):
            return f"must match the pattern {self.pattern}"
        if self.min_length is not None and len(str(value)) < self.min_length:
            return f"must have at least {self.min_length} character{'s' if self.min_length > 1 else ''}"
        if self.min_inclusive is not None and isinstance(value, int | float) and value < self.min_inclusive:
            return f"must be at least {self.min_inclusive:g}"
        if self.max_inclusive is not None and isinstance(value, int | float) and value > self.max_inclusive:
            return f"must be at most {self.max_inclusive:g}"
        return None


def _has_datatype(value: Any, datatype: str) -> bool:
    if datatype == "string":
        return isinstance(value, str)
    if datatype == "boolean":
        return isinstance(value, bool)
    if datatype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if datatype == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    parse = {"date": date.fromisoformat, "dateTime": datetime.fromisoformat}.get(datatype)
    if parse is None:
        return True
    try:
        parse(str(value))
    except ValueError:
        return False
    return datatype != "date" or "T" not in str(value)


def _local(node: Any) -> str:
    return str(node).rsplit("#", 1)[-1]


def _number(graph: Graph, node: Any, predicate: URIRef) -> float | None:
    value = graph.value(node, predicate)
    return float(value.toPython()) if isinstance(value, Literal) else None


@cache
def row_rules() -> dict[str, tuple[PropertyRule, ...]]:
    """Target class label → the datatype-property rules of every shape targeting it."""
    graph = Graph().parse(SHAPES_PATH, format="turtle")
    properties = load_vocabulary().properties
    rules: dict[str, list[PropertyRule]] = {}
    for shape in sorted(graph.subjects(RDF.type, SH.NodeShape), key=str):
        targets = sorted(_local(t) for t in graph.objects(shape, SH.targetClass))
        for constraint in graph.objects(shape, SH.property):
            path = graph.value(constraint, SH.path)
            if not isinstance(path, URIRef) or not str(path).startswith(str(KB)) or _local(path) not in properties:
                continue  # a relationship or an inverse path: needs the graph, not one row
            allowed = graph.value(constraint, SH["in"])
            datatype = graph.value(constraint, SH.datatype)
            min_length = _number(graph, constraint, SH.minLength)
            rule = PropertyRule(
                shape=_local(shape),
                property=_local(path),
                min_count=int(_number(graph, constraint, SH.minCount) or 0),
                datatype=_local(datatype) if datatype is not None else None,
                allowed=tuple(str(v) for v in Collection(graph, allowed)) if allowed is not None else (),
                pattern=str(graph.value(constraint, SH.pattern)) if graph.value(constraint, SH.pattern) else None,
                min_length=int(min_length) if min_length is not None else None,
                min_inclusive=_number(graph, constraint, SH.minInclusive),
                max_inclusive=_number(graph, constraint, SH.maxInclusive),
            )
            for target in targets:
                rules.setdefault(target, []).append(rule)
    return {label: tuple(found) for label, found in rules.items()}


@cache  # asked once per ingested row: the answer per label never changes while the process runs
def rules_for(label: str) -> tuple[PropertyRule, ...]:
    """The rules a node of `label` must meet (shapes targeting it or one of its ancestors)."""
    vocabulary = load_vocabulary()
    found = row_rules()
    classes = {label, *vocabulary.ancestors(label)} if label in vocabulary.classes else {label}
    return tuple(rule for cls in sorted(classes) for rule in found.get(cls, ()))
