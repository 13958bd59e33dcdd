"""FalkorDB backend (embedded by default), spoken to with the `falkordb` client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import redis
from falkordb import FalkorDB
from falkordb.asyncio import FalkorDB as AsyncFalkorDB
from falkordb.asyncio.graph import AsyncGraph
from falkordb.edge import Edge
from falkordb.node import Node
from falkordb.path import Path as FalkorPath

from kbcrm.graph.cypher import Cypher
from kbcrm.graph.errors import (
    ConstraintViolation,
    QueryError,
    QueryTimeout,
    ReadOnlyViolation,
    StoreUnavailable,
)
from kbcrm.graph.store import GraphStore, QueryResult, Row, SearchHit, WriteCounts, _text


def plain(value: Any) -> Any:
    """Driver values to plain Python: nodes and edges become their property maps."""
    if isinstance(value, Node | Edge):
        return dict(value.properties)
    if isinstance(value, FalkorPath):
        return {"nodes": [plain(n) for n in value.nodes()], "relationships": [plain(e) for e in value.edges()]}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _translate(exc: Exception, text: str) -> Exception:
    message = str(exc)
    lowered = message.lower()
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError) and "timed out" not in lowered:
        return StoreUnavailable(f"FalkorDB is unreachable: {message}")
    if "timed out" in lowered or "timeout" in lowered:
        return QueryTimeout(f"query ran past its time limit: {message}")
    if "unique constraint" in lowered or "constraint violation" in lowered:
        return ConstraintViolation(message)
    if "read-only" in lowered or "ro_query" in lowered:
        return ReadOnlyViolation(message)
    return QueryError(f"{message} (query: {text[:200]})")


# FalkorDB has no key for a graph until its first write, and refuses every read-only statement there
# ("empty key"), before even parsing it. A write-mode statement that stores nothing creates the empty
# graph, so the read can then run and answer as on any empty graph: `RETURN 1` one row, counts zero,
# a malformed statement its syntax error.
_CREATE_GRAPH = "RETURN 0"


def _graph_missing(exc: Exception, *, read_only: bool) -> bool:
    return read_only and isinstance(exc, redis.ResponseError) and "empty key" in str(exc)


def _result(result: Any) -> QueryResult:
    """A falkordb result (blocking or asyncio client) as plain rows and write counts."""
    names = [column[1] for column in (result.header or [])]
    rows = [dict(zip(names, (plain(v) for v in row), strict=True)) for row in result.result_set or []]
    counts = WriteCounts(
        nodes_created=int(result.nodes_created or 0),
        nodes_deleted=int(result.nodes_deleted or 0),
        relationships_created=int(result.relationships_created or 0),
        relationships_deleted=int(result.relationships_deleted or 0),
        properties_set=int(result.properties_set or 0),
    )
    return QueryResult(rows, counts)


class FalkorDBStore(GraphStore):
    """Graph store over a FalkorDB server (a unix socket for the embedded one)."""

    backend_name = "falkordb"

    def __init__(
        self,
        *,
        graph_name: str,
        socket_path: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 6379,
        password: str | None = None,
        query_timeout_ms: int = 30_000,
    ) -> None:
        super().__init__()
        self.graph_name = graph_name
        self.query_timeout_ms = query_timeout_ms
        where: dict[str, Any] = (
            {"unix_socket_path": str(socket_path)}
            if socket_path is not None
            else {"host": host, "port": port, "password": password}
        )
        # One asynchronous client per event loop (a redis.asyncio connection belongs to the loop it was opened on):
        # a server has one loop; a test client opens one per request, so clients of closed loops are let go.
        self._async_where = where
        self._async_graphs: dict[asyncio.AbstractEventLoop, AsyncGraph] = {}
        try:
            self._db = FalkorDB(**where)
        except (redis.ConnectionError, OSError) as exc:
            raise StoreUnavailable(f"cannot connect to FalkorDB: {exc}") from exc
        self._graph = self._db.select_graph(graph_name)

    @property
    def connection(self) -> redis.Redis:
        """The underlying redis connection (for server commands such as INFO)."""
        return self._db.connection  # type: ignore[no-any-return]

    def _execute(self, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None) -> QueryResult:
        call = partial(self._call, self._graph, text, params, read_only=read_only, timeout_ms=timeout_ms)
        try:
            try:
                return _result(call())
            except redis.ResponseError as exc:
                if not _graph_missing(exc, read_only=read_only):
                    raise
                self._graph.query(_CREATE_GRAPH)
                return _result(call())
        except (redis.RedisError, OSError) as exc:
            raise _translate(exc, text) from exc

    def _call(
        self, graph: Any, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None
    ) -> Any:
        """One statement through `graph`: the blocking client gives its result, the asyncio one an awaitable."""
        if read_only:
            return graph.ro_query(text, dict(params), timeout=timeout_ms or self.query_timeout_ms)
        return graph.query(text, dict(params), timeout=timeout_ms)

    async def _execute_async(
        self, text: str, params: Mapping[str, Any], *, read_only: bool, timeout_ms: int | None
    ) -> QueryResult:
        """The statement through falkordb's asyncio client: no worker thread, the event loop waits on the socket.

        Measured on uvloop with an article read's statement, one at a time (three rounds of 2,000): about
        82-98 µs of CPU each against 184-247 µs on a worker thread with the blocking client, the hand-off
        included; in the server, with twenty readers at once, more (README, Web application).
        """
        graph = self._async_graph()
        call = partial(self._call, graph, text, params, read_only=read_only, timeout_ms=timeout_ms)
        try:
            try:
                return _result(await call())
            except redis.ResponseError as exc:
                if not _graph_missing(exc, read_only=read_only):
                    raise
                await graph.query(_CREATE_GRAPH)
                return _result(await call())
        except (redis.RedisError, OSError) as exc:
            raise _translate(exc, text) from exc

    def _async_graph(self) -> AsyncGraph:
        loop = asyncio.get_running_loop()
        graph = self._async_graphs.get(loop)
        if graph is None:
            for closed in [other for other in list(self._async_graphs) if other.is_closed()]:
                self._async_graphs.pop(closed, None)
            graph = self._async_graphs[loop] = AsyncFalkorDB(**self._async_where).select_graph(self.graph_name)
        return graph

    async def close_async(self) -> None:
        """Close the running loop's asynchronous client, if this store opened one."""
        graph = self._async_graphs.pop(asyncio.get_running_loop(), None)
        if graph is not None:
            with contextlib.suppress(redis.RedisError):
                await graph.client.aclose()

    def _ddl(self, text: str) -> None:
        try:
            self._graph.query(text)
        except redis.ResponseError as exc:
            if "already indexed" not in str(exc) and "already exists" not in str(exc):
                raise _translate(exc, text) from exc

    def ensure_schema(self, *, vector_dimension: int = 384) -> None:
        """Range indexes (id of every label + kb:indexed), unique ids, full-text and vector indexes."""
        vocabulary = self.vocabulary
        for label in sorted(vocabulary.labels):
            self._ddl(f"CREATE INDEX FOR (n:{label}) ON (n.id)")
        for label, prop in vocabulary.labels_with("indexed"):
            self._ddl(f"CREATE INDEX FOR (n:{label}) ON (n.{prop})")
        fulltext: dict[str, list[str]] = {}
        for label, prop in vocabulary.labels_with("fulltext"):
            fulltext.setdefault(label, []).append(prop)
        existing = self._fulltext_indexed()
        for label, props in sorted(fulltext.items()):
            missing = [p for p in props if p not in existing.get(label, set())]
            if missing:
                quoted = ", ".join(f"'{p}'" for p in missing)
                self._ddl(f"CALL db.idx.fulltext.createNodeIndex('{label}', {quoted})")
        for label, prop in vocabulary.labels_with("vector"):
            self._ddl(
                f"CREATE VECTOR INDEX FOR (n:{label}) ON (n.{prop}) "
                f"OPTIONS {{dimension: {int(vector_dimension)}, similarityFunction: 'cosine'}}"
            )
        for label in sorted(vocabulary.labels):
            try:
                self.connection.execute_command(
                    "GRAPH.CONSTRAINT", "CREATE", self.graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, "id"
                )
            except redis.ResponseError as exc:
                if "already exists" not in str(exc).lower():
                    raise _translate(exc, "GRAPH.CONSTRAINT CREATE") from exc
        self.wait_for_indexes()

    def wait_for_indexes(self, timeout_s: float = 120.0) -> None:
        """Block until every index is OPERATIONAL (FalkorDB rebuilds them after an AOF reload)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self._graph.query("CALL db.indexes() YIELD status RETURN status")
            pending = [row[0] for row in result.result_set if row[0] != "OPERATIONAL"]
            if not pending:
                return
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"{len(pending)} indexes still building after {timeout_s:.0f}s")
            time.sleep(0.05)

    def _fulltext_indexed(self) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        try:
            result = self._graph.query(
                "CALL db.indexes() YIELD label, properties, types RETURN label, properties, types"
            )
        except redis.ResponseError:
            return found
        for label, properties, types in result.result_set:
            for prop in properties:
                if "FULLTEXT" in (types.get(prop) or []):
                    found.setdefault(label, set()).add(prop)
        return found

    def fulltext_search(self, label: str, text: str, *, limit: int = 10) -> list[SearchHit]:
        """RediSearch-backed full-text query; score as FalkorDB reports it (higher is better)."""
        self.check_label(label)
        rows = self.read(
            f"CALL db.idx.fulltext.queryNodes('{label}', $text) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score DESC, id LIMIT $limit",
            text=text,
            limit=int(limit),
        )
        return [SearchHit(str(r["id"]), float(r["score"])) for r in rows]

    def vector_search(self, label: str, vector: Sequence[float], *, k: int = 10) -> list[SearchHit]:
        """HNSW search; FalkorDB reports cosine distance, converted here to similarity."""
        self.check_label(label)
        rows = self.read(
            f"CALL db.idx.vector.queryNodes('{label}', 'embedding', $k, vecf32($vector)) YIELD node, score "
            "RETURN node.id AS id, score ORDER BY score ASC, id",
            k=int(k),
            vector=[float(x) for x in vector],
        )
        return [SearchHit(str(r["id"]), 1.0 - float(r["score"])) for r in rows]

    def write_vectors(self, label: str, rows: Sequence[Row], *, model_id: str) -> int:
        """Vectors must go through vecf32() or FalkorDB silently leaves them unindexed."""
        self.check_node_properties([label], {"embedding", "embedding_model", "embedding_dim"})
        batch = [{"id": r["id"], "vector": [float(x) for x in r["vector"]]} for r in rows]
        dims = {len(r["vector"]) for r in batch}
        if len(dims) > 1:
            raise QueryError(f"vectors of different sizes {sorted(dims)} in one write")
        result = self.execute(
            f"UNWIND $rows AS row MATCH (n:{label} {{id: row.id}}) "
            "SET n.embedding = vecf32(row.vector), n.embedding_model = $model, n.embedding_dim = $dim "
            "RETURN count(n) AS c",
            {"rows": batch, "model": model_id, "dim": dims.pop() if dims else 0},
        )
        return int(result.rows[0]["c"]) if result.rows else 0

    def explain(self, query: Cypher | str, params: Mapping[str, Any] | None = None) -> list[str]:
        """FalkorDB's plan for a query (GRAPH.EXPLAIN, nothing run): one operation a line, indented by depth."""
        text = _text(query)
        try:
            plan = self._graph.explain(text, dict(params or {}))
        except redis.ResponseError as exc:
            raise _translate(exc, text) from exc
        return [str(line) for line in plan.plan]

    def drop_graph(self) -> None:
        """Delete the whole graph, schema included."""
        try:
            self._graph.delete()
        except redis.ResponseError as exc:
            if "empty key" not in str(exc).lower() and "invalid graph" not in str(exc).lower():
                raise _translate(exc, "GRAPH.DELETE") from exc

    def memory_bytes(self) -> int:
        """Memory used by the server (redis INFO used_memory)."""
        return int(self.connection.info("memory")["used_memory"])

    def close(self) -> None:
        """Close the client's connection pool."""
        with contextlib.suppress(redis.RedisError):
            self.connection.close()
