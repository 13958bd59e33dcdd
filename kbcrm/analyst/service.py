"""Read-only analyst queries.

Cypher is checked twice: an allow-list parse here (no write clause, no LOAD CSV, no
procedure but the read-only ones below, one statement) and then the backend's read-only
transaction (FalkorDB GRAPH.RO_QUERY, Neo4j READ access mode) with a time limit. SPARQL
runs over the RDF export of the graph (rebuilt when older than `rdf_max_age_s`), parsed
with rdflib's query parser, which has no grammar for SPARQL Update.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from rdflib import Graph

from kbcrm.access.models import Principal
from kbcrm.graph import GraphStore, QueryTimeout, ReadOnlyViolation, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

READ_PROCEDURES = frozenset(
    {"db.labels", "db.relationshiptypes", "db.propertykeys", "db.idx.fulltext.querynodes", "db.indexes"}
)
_STRINGS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_WRITE = re.compile(r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|FOREACH|LOAD\s+CSV)\b", re.I)
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CALL = re.compile(r"\bCALL\s+([A-Za-z_][\w.]*)", re.I)
_SPARQL_UPDATE = re.compile(
    r"\b(INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD)\s+(DATA|WHERE|GRAPH|SILENT|DEFAULT|NAMED|ALL|<|\{)",
    re.I,
)

# What the analyst page shows before anything is typed.
EXAMPLE_QUERY = "MATCH (c:Customer) RETURN c.loyalty_tier AS tier, count(*) AS customers ORDER BY customers DESC"

SAVED = cypher(
    "analyst.saved",
    "MATCH (u:User {id: $user})-[:SAVED]->(q:SavedQuery) "
    "RETURN q.id AS id, q.name AS name, q.query_language AS language, q.query_text AS query, "
    "q.created_at AS created_at ORDER BY q.name, q.id",
    example={"user": "user:analyst"},
    ordered=True,
)
SAVED_ONE = cypher(
    "analyst.saved_one",
    "MATCH (u:User {id: $user})-[:SAVED]->(q:SavedQuery {id: $id}) "
    "RETURN q.id AS id, q.name AS name, q.query_language AS language, q.query_text AS query",
    example={"user": "user:analyst", "id": "q1"},
)


class QueryRefused(ValueError):
    """A query that is not allowed (writes, forbidden procedure, several statements, SPARQL Update)."""


@dataclass
class QueryResult:
    """Rows of an analyst query, cut at the row limit."""

    columns: list[str]
    rows: list[dict[str, Any]]
    truncated: bool
    elapsed_ms: float
    language: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "language": self.language,
            "columns": self.columns,
            "rows": self.rows,
            "row_count": len(self.rows),
            "truncated": self.truncated,
            "elapsed_ms": round(self.elapsed_ms, 2),
            **self.extra,
        }

    def to_csv(self) -> str:
        """CSV text (lists and maps as JSON)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(
                [json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for v in row.values()]
            )
        return out.getvalue()


def check_cypher(text: str) -> None:
    """Raise QueryRefused unless the query is one read-only statement."""
    bare = _COMMENTS.sub(" ", _STRINGS.sub("''", text)).strip().rstrip(";")
    if not bare:
        raise QueryRefused("query: empty")
    if ";" in bare:
        raise QueryRefused("query: one statement only (found ';')")
    found = _WRITE.search(bare)
    if found:
        clause = " ".join(found.group(1).upper().split())
        raise QueryRefused(f"query: {clause} is a write clause; analyst queries are read-only")
    for name in _CALL.findall(bare):
        if name.lower() not in READ_PROCEDURES:
            raise QueryRefused(
                f"query: procedure {name} is not allowed (read-only procedures: {', '.join(sorted(READ_PROCEDURES))})"
            )


def _plain(value: Any) -> Any:
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def run_cypher(
    store: GraphStore,
    text: str,
    *,
    params: dict[str, Any] | None = None,
    timeout_ms: int,
    row_limit: int,
) -> QueryResult:
    """Run an analyst's Cypher read-only with a time limit; rows past `row_limit` are cut (and flagged)."""
    check_cypher(text)
    for name in params or {}:
        if not _PARAM_NAME.fullmatch(name):
            raise QueryRefused(f"params: {name!r} is not a parameter name (letters, digits and _, not first a digit)")
    started = time.perf_counter()
    try:
        rows = store.read(text, timeout_ms=timeout_ms, **(params or {}))
    except ReadOnlyViolation as exc:
        raise QueryRefused(f"query: {exc}") from exc
    elapsed = (time.perf_counter() - started) * 1000
    columns = list(rows[0]) if rows else []
    return QueryResult(
        columns=columns,
        rows=[{k: _plain(v) for k, v in row.items()} for row in rows[:row_limit]],
        truncated=len(rows) > row_limit,
        elapsed_ms=elapsed,
        language="cypher",
    )


class RdfSnapshot:
    """The RDF export of the graph, rebuilt at most every `max_age_s` seconds, shared by SPARQL queries."""

    def __init__(self, *, max_age_s: float = 60.0) -> None:
        self.max_age_s = max_age_s
        self._graph: Graph | None = None
        self._built = 0.0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sparql")

    def graph(self, store: GraphStore) -> Graph:
        """The current snapshot (built on first use)."""
        from kbcrm.rdf import to_rdf

        with self._lock:
            if self._graph is None or time.monotonic() - self._built > self.max_age_s:
                self._graph, self._built = to_rdf(store), time.monotonic()
            return self._graph

    def query(self, store: GraphStore, text: str, *, timeout_ms: int, row_limit: int) -> QueryResult:
        """Run a SPARQL SELECT/ASK/CONSTRUCT/DESCRIBE; Update is refused; over-time queries fail with QueryTimeout.

        rdflib cannot be interrupted: a query past its limit is answered with a timeout and
        left to finish on one of two worker threads (so at most two run at once).
        """
        from kbcrm.rdf import sparql

        if _SPARQL_UPDATE.search(_STRINGS.sub("''", text)):
            raise QueryRefused("query: SPARQL Update is not allowed; only SELECT, ASK, CONSTRUCT and DESCRIBE run")
        graph = self.graph(store)
        started = time.perf_counter()

        def run() -> tuple[list[str], list[dict[str, Any]], bool, Any]:
            result = sparql(graph, text)
            if result.type == "ASK":
                return ["ask"], [{"ask": bool(result.askAnswer)}], False, None
            if result.type in ("CONSTRUCT", "DESCRIBE"):
                triples = list(result.graph or [])  # type: ignore[union-attr]
                rows = [{"subject": str(s), "predicate": str(p), "object": str(o)} for s, p, o in triples[:row_limit]]
                return ["subject", "predicate", "object"], rows, len(triples) > row_limit, None
            columns = [str(v) for v in (result.vars or [])]
            rows = []
            truncated = False
            for i, row in enumerate(result):
                if i >= row_limit:
                    truncated = True
                    break
                rows.append({c: (str(v) if v is not None else None) for c, v in zip(columns, row, strict=False)})  # type: ignore[arg-type]
            return columns, rows, truncated, None

        try:
            future = self._pool.submit(run)
        except RuntimeError as exc:  # pool shut down
            raise QueryRefused(str(exc)) from exc
        try:
            columns, rows, truncated, _ = future.result(timeout=timeout_ms / 1000)
        except FutureTimeout as exc:
            raise QueryTimeout(f"SPARQL query ran longer than {timeout_ms} ms") from exc
        except Exception as exc:  # rdflib raises pyparsing errors for bad queries
            raise QueryRefused(f"query: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        return QueryResult(
            columns=columns,
            rows=rows,
            truncated=truncated,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            language="sparql",
        )


def save_query(
    store: GraphStore, *, principal: Principal, name: str, language: str, query: str, query_id: str | None = None
) -> dict[str, Any]:
    """Save a query under a name for this analyst (checked before it is saved).

    A given `query_id` makes saving idempotent (the demo's examples): saved again, it keeps its first
    `created_at`.
    """
    name = " ".join(name.split())
    if not name:
        raise QueryRefused("name: required")
    if language == "cypher":
        check_cypher(query)
    elif language == "sparql":
        if _SPARQL_UPDATE.search(_STRINGS.sub("''", query)):
            raise QueryRefused("query: SPARQL Update is not allowed")
    else:
        raise QueryRefused("language must be cypher or sparql")
    query_id = query_id or "query:" + secrets.token_hex(6)
    saved = {"id": query_id, "name": name, "query_language": language, "query_text": query}
    if store.get_node(Label.SavedQuery, query_id) is None:
        saved["created_at"] = utc_now()
    store.upsert_nodes(Label.SavedQuery, [saved])
    store.upsert_relationships(
        Rel.SAVED, [{"start": principal.user_id, "end": query_id}], start_label=Label.User, end_label=Label.SavedQuery
    )
    return {"id": query_id, "name": name, "language": language, "query": query}


def saved_queries(store: GraphStore, *, principal: Principal) -> list[dict[str, Any]]:
    """The analyst's saved queries."""
    return store.read(SAVED, user=principal.user_id)


def saved_query(store: GraphStore, *, principal: Principal, query_id: str) -> dict[str, Any] | None:
    """One of the analyst's saved queries, or None."""
    rows = store.read(SAVED_ONE, user=principal.user_id, id=query_id)
    return rows[0] if rows else None
