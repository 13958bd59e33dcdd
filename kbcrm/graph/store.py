"""The one graph store interface every KBCRM package uses.

A backend implements `_execute` (one statement, one atomic unit of work), the schema DDL
and the two search procedures; everything else (vocabulary checks, batch upserts,
result shaping) is shared here so both backends behave the same.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio

from kbcrm.graph.cypher import Cypher, is_write
from kbcrm.graph.errors import ReadOnlyViolation, VocabularyError
from ontology import Vocabulary, load_vocabulary

Row = dict[str, Any]


@dataclass
class WriteCounts:
    """What one or more write statements changed."""

    nodes_created: int = 0
    nodes_deleted: int = 0
    relationships_created: int = 0
    relationships_deleted: int = 0
    properties_set: int = 0

    def add(self, other: WriteCounts) -> None:
        """Accumulate another statement's counts."""
        self.nodes_created += other.nodes_created
        self.nodes_deleted += other.nodes_deleted
        self.relationships_created += other.relationships_created
        self.relationships_deleted += other.relationships_deleted
        self.properties_set += other.properties_set


@dataclass
class QueryResult:
    """Rows as plain dicts (scalars, lists, maps) plus the write counters."""

    rows: list[Row] = field(default_factory=list)
    counts: WriteCounts = field(default_factory=WriteCounts)


@dataclass(frozen=True)
class SearchHit:
    """A search result: the node's id and a similarity (higher is better)."""

    id: str
    score: float


def utc_now() -> str:
    """Current UTC time as ISO-8601 text, the graph's timestamp format."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _text(query: Cypher | str) -> str:
    return query.text if isinstance(query, Cypher) else query


class GraphStore(ABC):
    """Graph access for all of KBCRM. Open one with `kbcrm.graph.open_store()`."""

    backend_name: str = "abstract"

    def __init__(self) -> None:
        self.vocabulary: Vocabulary = load_vocabulary()

    # ------------------------------------------------------------ backend hooks
    @abstractmethod
    def _execute(self, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None) -> QueryResult:
        """Run one statement as one atomic unit of work."""

    async def _execute_async(
        self, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None
    ) -> QueryResult:
        """`_execute` for an event loop; by default on a worker thread, so the loop never waits on the graph.

        Backends with an asynchronous client override it (FalkorDB).
        """
        call = partial(self._execute, text, params, read_only=read_only, timeout_ms=timeout_ms)
        return await anyio.to_thread.run_sync(call)

    async def close_async(self) -> None:  # noqa: B027 - a hook: backends without an asynchronous client have none
        """Release the connections the asynchronous client opened for the running event loop (if any)."""

    @abstractmethod
    def ensure_schema(self, *, vector_dimension: int = 384) -> None:
        """Create the constraints and indexes the ontology asks for (idempotent)."""

    @abstractmethod
    def fulltext_search(self, label: str, text: str, *, limit: int = 10) -> list[SearchHit]:
        """Full-text search over the label's kb:fulltext properties."""

    @abstractmethod
    def vector_search(self, label: str, vector: Sequence[float], *, k: int = 10) -> list[SearchHit]:
        """Nearest nodes by cosine similarity (1 = same direction)."""

    @abstractmethod
    def write_vectors(self, label: str, rows: Sequence[Row], *, model_id: str) -> int:
        """Store vectors: rows of {"id", "vector"}; records model id and dimension beside them."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (the embedded server keeps running for other processes)."""

    # ------------------------------------------------------------ queries
    def run(self, query: Cypher | str, **params: Any) -> list[Row]:
        """Run a (possibly writing) statement; return its rows."""
        return self.execute(query, params).rows

    def execute(self, query: Cypher | str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a (possibly writing) statement; return rows and write counts."""
        return self._execute(_text(query), params or {}, read_only=False, timeout_ms=None)

    async def run_async(self, query: Cypher | str, **params: Any) -> list[Row]:
        """`run` from an event loop, without blocking it (see _execute_async)."""
        return (await self._execute_async(_text(query), params, read_only=False, timeout_ms=None)).rows

    def read(self, query: Cypher | str, *, timeout_ms: int | None = None, **params: Any) -> list[Row]:
        """Run a read-only statement with a time limit; writes are refused."""
        text = _text(query)
        if is_write(text):
            raise ReadOnlyViolation("a read-only query may not contain CREATE, MERGE, SET, DELETE, REMOVE or DROP")
        return self._execute(text, params, read_only=True, timeout_ms=timeout_ms).rows

    # ------------------------------------------------------------ vocabulary checks
    def check_label(self, label: str) -> None:
        """Raise VocabularyError unless the ontology declares this node label."""
        if label not in self.vocabulary.labels:
            raise VocabularyError(f"label {label!r} is not declared in the ontology")

    def check_node_properties(self, labels: Iterable[str], names: Iterable[str]) -> None:
        """Raise VocabularyError for a property none of the labels may carry."""
        allowed: set[str] = set()
        for label in labels:
            self.check_label(label)
            allowed |= self.vocabulary.properties_of(label)
        unknown = sorted(set(names) - allowed)
        if unknown:
            raise VocabularyError(f"properties {unknown} are not declared for {sorted(labels)} in the ontology")

    def check_relationship(self, rel_type: str, names: Iterable[str] = ()) -> None:
        """Raise VocabularyError for an undeclared relationship type or property."""
        if rel_type not in self.vocabulary.relationships:
            raise VocabularyError(f"relationship type {rel_type!r} is not declared in the ontology")
        unknown = sorted(set(names) - self.vocabulary.properties_of_relationship(rel_type))
        if unknown:
            raise VocabularyError(f"properties {unknown} are not declared for relationship {rel_type} in the ontology")

    # ------------------------------------------------------------ batch writes
    def execute_batches(
        self, query: Cypher | str, rows: Sequence[Mapping[str, Any]], *, batch_size: int = 5000, **params: Any
    ) -> WriteCounts:
        """Run an `UNWIND $rows …` statement over `rows`, `batch_size` rows a statement; the summed write counts."""
        total = WriteCounts()
        for start in range(0, len(rows), batch_size):
            total.add(self.execute(query, {**params, "rows": rows[start : start + batch_size]}).counts)
        return total

    def upsert_nodes(
        self, label: str, rows: Sequence[Mapping[str, Any]], *, extra_labels: Sequence[str] = (), batch_size: int = 5000
    ) -> WriteCounts:
        """MERGE nodes by id and set their properties; one statement per batch.

        Each row is a flat mapping holding `id` and the properties to set; a None value
        removes the property.
        """
        labels = [label, *extra_labels]
        names = {k for row in rows for k in row}
        self.check_node_properties(labels, names | {"created_at", "updated_at"})
        if "id" not in names and rows:
            raise VocabularyError(f"rows for {label} need an 'id'")
        text = (
            f"UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) "
            f"ON CREATE SET n.created_at = $now "
            f"SET n += row.props, n.updated_at = $now" + (f", n:{':'.join(extra_labels)}" if extra_labels else "")
        )
        batch = [{"id": row["id"], "props": {k: v for k, v in row.items() if k != "id"}} for row in rows]
        return self.execute_batches(text, batch, batch_size=batch_size, now=utc_now())

    def upsert_relationships(
        self,
        rel_type: str,
        rows: Sequence[Mapping[str, Any]],
        *,
        start_label: str,
        end_label: str,
        batch_size: int = 5000,
    ) -> WriteCounts:
        """MERGE relationships between existing nodes; rows hold `start`, `end` and properties."""
        self.check_label(start_label)
        self.check_label(end_label)
        names = {k for row in rows for k in row} - {"start", "end"}
        self.check_relationship(rel_type, names)
        text = (
            f"UNWIND $rows AS row MATCH (a:{start_label} {{id: row.start}}) "
            f"MATCH (b:{end_label} {{id: row.end}}) "
            f"MERGE (a)-[r:{rel_type}]->(b) SET r += row.props"
        )
        batch = [
            {
                "start": row["start"],
                "end": row["end"],
                "props": {k: v for k, v in row.items() if k not in ("start", "end")},
            }
            for row in rows
        ]
        return self.execute_batches(text, batch, batch_size=batch_size)

    def get_node(self, label: str, node_id: str) -> Row | None:
        """A node's properties by id, or None."""
        self.check_label(label)
        rows = self.read(f"MATCH (n:{label} {{id: $id}}) RETURN n {{.*}} AS node", id=node_id)
        return rows[0]["node"] if rows else None

    def delete_nodes(self, label: str, ids: Sequence[str]) -> WriteCounts:
        """Delete nodes (and their relationships) by id."""
        self.check_label(label)
        return self.execute(
            f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) DETACH DELETE n", {"ids": list(ids)}
        ).counts

    def count_nodes(self, label: str | None = None) -> int:
        """Number of nodes, optionally of one label."""
        if label is not None:
            self.check_label(label)
        pattern = f"(n:{label})" if label else "(n)"
        return int(self.read(f"MATCH {pattern} RETURN count(n) AS c")[0]["c"])

    def count_relationships(self, rel_type: str | None = None) -> int:
        """Number of relationships, optionally of one type."""
        if rel_type is not None:
            self.check_relationship(rel_type)
        pattern = f"[r:{rel_type}]" if rel_type else "[r]"
        return int(self.read(f"MATCH ()-{pattern}->() RETURN count(r) AS c")[0]["c"])

    def clear(self) -> None:
        """Delete every node and relationship (schema stays)."""
        self.execute("MATCH (n) DETACH DELETE n")

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
