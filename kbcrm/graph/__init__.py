"""The graph store: one interface (`GraphStore`) over embedded FalkorDB and Neo4j.

`open_store()` picks the backend from `KBCRM_GRAPH_URI`:

* empty, or `falkordb+embedded:///PATH`: embedded FalkorDB, server started (or
  reattached) for the data directory;
* `falkordb://HOST:PORT`: a FalkorDB server run elsewhere;
* `bolt://`, `neo4j://`, `neo4j+s://` (and `+ssc` variants): Neo4j via the official driver.
"""

from __future__ import annotations

from urllib.parse import urlparse

from kbcrm.graph.cypher import REGISTRY, Cypher, cypher
from kbcrm.graph.embedded import EmbeddedServer
from kbcrm.graph.errors import (
    ConstraintViolation,
    NonPortableCypher,
    QueryError,
    QueryTimeout,
    ReadOnlyViolation,
    StoreError,
    StoreUnavailable,
    VocabularyError,
)
from kbcrm.graph.store import GraphStore, QueryResult, Row, SearchHit, WriteCounts
from kbcrm.settings import Settings, get_settings

NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def embedded_server(settings: Settings | None = None) -> EmbeddedServer:
    """The embedded server object for the configured data directory."""
    settings = settings or get_settings()
    return EmbeddedServer(
        settings.graph_dir, appendfsync=settings.appendfsync, start_timeout_s=settings.server_start_timeout_s
    )


def open_store(settings: Settings | None = None) -> GraphStore:
    """Open the configured graph store (starting the embedded server if needed)."""
    settings = settings or get_settings()
    if settings.is_embedded:
        from kbcrm.graph.falkordb_backend import FalkorDBStore

        socket_path = embedded_server(settings).ensure_running()
        return FalkorDBStore(
            graph_name=settings.graph_name, socket_path=socket_path, query_timeout_ms=settings.graph_query_timeout_ms
        )
    parsed = urlparse(settings.graph_uri)
    if parsed.scheme == "falkordb":
        from kbcrm.graph.falkordb_backend import FalkorDBStore

        return FalkorDBStore(
            graph_name=settings.graph_name,
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            password=settings.graph_password.get_secret_value() or None,
            query_timeout_ms=settings.graph_query_timeout_ms,
        )
    if parsed.scheme in NEO4J_SCHEMES:
        from kbcrm.graph.neo4j_backend import Neo4jStore

        return Neo4jStore(
            settings.graph_uri,
            user=settings.graph_user,
            password=settings.graph_password.get_secret_value(),
            database=settings.graph_name,
            pool_size=settings.graph_pool_size,
            query_timeout_ms=settings.graph_query_timeout_ms,
        )
    raise StoreUnavailable(
        f"KBCRM_GRAPH_URI={settings.graph_uri!r}: unknown scheme; use falkordb+embedded:///PATH, "
        "falkordb://HOST:PORT, bolt:// or neo4j://"
    )


__all__ = [
    "REGISTRY",
    "ConstraintViolation",
    "Cypher",
    "EmbeddedServer",
    "GraphStore",
    "NonPortableCypher",
    "QueryError",
    "QueryResult",
    "QueryTimeout",
    "ReadOnlyViolation",
    "Row",
    "SearchHit",
    "StoreError",
    "StoreUnavailable",
    "VocabularyError",
    "WriteCounts",
    "cypher",
    "embedded_server",
    "open_store",
]
