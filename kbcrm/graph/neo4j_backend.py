"""Neo4j backend: the official `neo4j` driver, managed transactions, parameterised queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import neo4j
from neo4j import GraphDatabase, ManagedTransaction, unit_of_work
from neo4j import exceptions as neo4j_errors
from neo4j.graph import Node, Path, Relationship

from kbcrm.graph.errors import (
    ConstraintViolation,
    QueryError,
    QueryTimeout,
    ReadOnlyViolation,
    StoreUnavailable,
)
from kbcrm.graph.store import GraphStore, QueryResult, Row, SearchHit, WriteCounts


def plain(value: Any) -> Any:
    """Driver values to plain Python: nodes and relationships become their property maps."""
    if isinstance(value, Node | Relationship):
        return dict(value.items())
    if isinstance(value, Path):
        return {"nodes": [plain(n) for n in value.nodes], "relationships": [plain(r) for r in value.relationships]}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _translate(exc: Exception, text: str) -> Exception:
    if isinstance(exc, neo4j_errors.ServiceUnavailable | neo4j_errors.SessionExpired):
        return StoreUnavailable(f"Neo4j is unreachable: {exc}")
    code = getattr(exc, "code", "") or ""
    message = getattr(exc, "message", None) or str(exc) or code or type(exc).__name__
    if "TransactionTimedOut" in code or "timed out" in message.lower():
        return QueryTimeout(f"query ran past its time limit: {message}")
    if isinstance(exc, neo4j_errors.ConstraintError) or "ConstraintValidationFailed" in code:
        return ConstraintViolation(message)
    if "AccessMode" in code or ("write" in message.lower() and "read" in message.lower()):
        return ReadOnlyViolation(message)
    return QueryError(f"{message} (query: {text[:200]})")


class Neo4jStore(GraphStore):
    """Graph store over Neo4j (or any server speaking Bolt)."""

    backend_name = "neo4j"

    def __init__(
        self,
        uri: str,
        *,
        user: str,
        password: str,
        database: str,
        pool_size: int = 16,
        query_timeout_ms: int = 30_000,
    ) -> None:
        super().__init__()
        self.database = database
        self.query_timeout_ms = query_timeout_ms
        self._driver = GraphDatabase.driver(
            uri,
            auth=(user, password),
            max_connection_pool_size=pool_size,
            max_transaction_retry_time=5.0,
        )

    def _execute(self, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None) -> QueryResult:
        timeout = (timeout_ms or self.query_timeout_ms) / 1000 if read_only or timeout_ms else None

        @unit_of_work(timeout=timeout)
        def work(tx: ManagedTransaction) -> QueryResult:
            result = tx.run(text, dict(params))  # type: ignore[arg-type]
            rows = [{k: plain(v) for k, v in record.items()} for record in result]
            counters = result.consume().counters
            return QueryResult(
                rows,
                WriteCounts(
                    nodes_created=counters.nodes_created,
                    nodes_deleted=counters.nodes_deleted,
                    relationships_created=counters.relationships_created,
                    relationships_deleted=counters.relationships_deleted,
                    properties_set=counters.properties_set,
                ),
            )

        try:
            with self._driver.session(database=self.database) as session:
                if read_only:
                    return session.execute_read(work)
                return session.execute_write(work)
        except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as exc:
            raise _translate(exc, text) from exc

    def ensure_schema(self, *, vector_dimension: int = 384) -> None:
        """Unique ids per label, range, full-text and vector indexes (IF NOT EXISTS)."""
        vocabulary = self.vocabulary
        statements = [
            f"CREATE CONSTRAINT kb_{label}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE"
            for label in sorted(vocabulary.labels)
        ]
        statements += [
            f"CREATE INDEX kb_{label}_{prop} IF NOT EXISTS FOR (n:{label}) ON (n.{prop})"
            for label, prop in vocabulary.labels_with("indexed")
        ]
        fulltext: dict[str, list[str]] = {}
        for label, prop in vocabulary.labels_with("fulltext"):
            fulltext.setdefault(label, []).append(prop)
        statements += [
            f"CREATE FULLTEXT INDEX kb_ft_{label} IF NOT EXISTS FOR (n:{label}) ON EACH "
            f"[{', '.join(f'n.{p}' for p in props)}]"
            for label, props in sorted(fulltext.items())
        ]
        statements += [
            f"CREATE VECTOR INDEX kb_vec_{label} IF NOT EXISTS FOR (n:{label}) ON n.{prop} "
            f"OPTIONS {{indexConfig: {{`vector.dimensions`: {int(vector_dimension)}, "
            "`vector.similarity_function`: 'cosine'}}"
            for label, prop in vocabulary.labels_with("vector")
        ]
        for statement in statements:
            try:
                self._driver.execute_query(statement, database_=self.database)  # type: ignore[call-overload]
            except neo4j_errors.Neo4jError as exc:
                raise _translate(exc, statement) from exc

    def fulltext_search(self, label: str, text: str, *, limit: int = 10) -> list[SearchHit]:
        """Lucene full-text query over the label's index."""
        self.check_label(label)
        rows = self.read(
            "CALL db.index.fulltext.queryNodes($index, $text) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score DESC, id LIMIT $limit",
            index=f"kb_ft_{label}",
            text=text,
            limit=int(limit),
        )
        return [SearchHit(str(r["id"]), float(r["score"])) for r in rows]

    def vector_search(self, label: str, vector: Sequence[float], *, k: int = 10) -> list[SearchHit]:
        """Neo4j reports cosine as (1 + cos) / 2; converted back to cosine here."""
        self.check_label(label)
        rows = self.read(
            "CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score DESC, id",
            index=f"kb_vec_{label}",
            k=int(k),
            vector=[float(x) for x in vector],
        )
        return [SearchHit(str(r["id"]), 2.0 * float(r["score"]) - 1.0) for r in rows]

    def write_vectors(self, label: str, rows: Sequence[Row], *, model_id: str) -> int:
        """Vectors are plain float lists on Neo4j."""
        self.check_node_properties([label], {"embedding", "embedding_model", "embedding_dim"})
        batch = [{"id": r["id"], "vector": [float(x) for x in r["vector"]]} for r in rows]
        dims = {len(r["vector"]) for r in batch}
        if len(dims) > 1:
            raise QueryError(f"vectors of different sizes {sorted(dims)} in one write")
        result = self.execute(
            f"UNWIND $rows AS row MATCH (n:{label} {{id: row.id}}) "
            "SET n.embedding = row.vector, n.embedding_model = $model, n.embedding_dim = $dim "
            "RETURN count(n) AS c",
            {"rows": batch, "model": model_id, "dim": dims.pop() if dims else 0},
        )
        return int(result.rows[0]["c"]) if result.rows else 0

    def close(self) -> None:
        """Close the driver and its pool."""
        self._driver.close()


__all__ = ["Neo4jStore", "neo4j"]
