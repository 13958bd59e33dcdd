"""Analyst queries: read-only Cypher and SPARQL with time and row limits, saved queries, CSV/JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from api.deps import AppSettings, Store
from api.errors import not_found
from api.security import Analyst
from kbcrm.access import audit
from kbcrm.analyst import service
from kbcrm.analyst.service import QueryResult

router = APIRouter(prefix="/api/v1/analyst", tags=["analyst"])


class CypherQuery(BaseModel):
    """A read-only Cypher query and its parameters."""

    query: str = Field(min_length=1, max_length=20_000)
    params: dict[str, Any] = Field(default_factory=dict)


class SparqlQuery(BaseModel):
    """A SPARQL SELECT/ASK/CONSTRUCT/DESCRIBE query (prefixes kb:, schema:, rdf:, xsd: are known)."""

    query: str = Field(min_length=1, max_length=20_000)


class SavedQueryIn(BaseModel):
    """A query to save under a name."""

    name: str = Field(min_length=1, max_length=200)
    language: str = Field(pattern="^(cypher|sparql)$")
    query: str = Field(min_length=1, max_length=20_000)


def respond(result: QueryResult, fmt: str) -> Response | dict[str, Any]:
    """JSON body, or CSV as a download."""
    if fmt == "csv":
        return PlainTextResponse(
            result.to_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{result.language}-result.csv"'},
        )
    return result.to_dict()


def run(
    request: Request, store: Any, settings: Any, principal: Any, *, language: str, query: str, params: dict[str, Any]
) -> QueryResult:
    """Run one analyst query and audit it."""
    limits = {"timeout_ms": settings.analyst_query_timeout_ms, "row_limit": settings.analyst_row_limit}
    if language == "cypher":
        result = service.run_cypher(store, query, params=params, **limits)
    else:
        result = request.app.state.rdf.query(store, query, **limits)
    audit.record(
        store,
        actor=principal.user_id,
        action=f"{language}_query",
        detail={"query": query[:2000], "rows": len(result.rows)},
    )
    return result


Format = Annotated[str, Query(pattern="^(json|csv)$", description="json (default) or csv")]


@router.post("/cypher", summary="Run a read-only Cypher query (writes refused; time- and row-limited)")
def cypher_query(
    request: Request,
    store: Store,
    settings: AppSettings,
    principal: Analyst,
    body: CypherQuery,
    format: Format = "json",
) -> Any:
    """CREATE, MERGE, SET, DELETE, REMOVE, DROP, LOAD CSV and writing procedures are refused with 400."""
    return respond(
        run(request, store, settings, principal, language="cypher", query=body.query, params=body.params), format
    )


@router.post("/sparql", summary="Run a SPARQL query over the RDF export of the graph (Update refused)")
def sparql_query(
    request: Request,
    store: Store,
    settings: AppSettings,
    principal: Analyst,
    body: SparqlQuery,
    format: Format = "json",
) -> Any:
    """The RDF export is rebuilt at most once a minute."""
    return respond(run(request, store, settings, principal, language="sparql", query=body.query, params={}), format)


@router.get("/saved", summary="My saved queries")
def saved(store: Store, principal: Analyst) -> list[dict[str, Any]]:
    """Name, language and text."""
    return service.saved_queries(store, principal=principal)


@router.post("/saved", status_code=201, summary="Save a query (checked read-only first)")
def save(store: Store, principal: Analyst, body: SavedQueryIn) -> dict[str, Any]:
    """Returns the saved query with its id."""
    return service.save_query(store, principal=principal, name=body.name, language=body.language, query=body.query)


@router.post("/saved/{query_id}/run", summary="Run a saved query")
def run_saved(
    query_id: str, request: Request, store: Store, settings: AppSettings, principal: Analyst, format: Format = "json"
) -> Any:
    """JSON or CSV."""
    saved_query = service.saved_query(store, principal=principal, query_id=query_id)
    if saved_query is None:
        raise not_found(f"saved query {query_id!r}")
    result = run(
        request, store, settings, principal, language=saved_query["language"], query=saved_query["query"], params={}
    )
    return respond(result, format)
