"""Liveness and graph summary."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import Store
from api.security import Staff
from kbcrm.domain import graph_summary
from kbcrm.graph import StoreError

router = APIRouter(tags=["health"])


@router.get("/health", summary="Is the service and its graph store up?")
def health(store: Store) -> JSONResponse:
    """200 with the backend name when the graph answers, 503 otherwise."""
    try:
        ok = graph_summary.ping(store=store)
    except StoreError as exc:
        return JSONResponse({"status": "unavailable", "backend": store.backend_name, "detail": str(exc)}, 503)
    return JSONResponse({"status": "ok" if ok else "unavailable", "backend": store.backend_name}, 200 if ok else 503)


@router.get("/api/v1/graph/summary", summary="Nodes per label and relationships per type (staff)")
def summary(store: Store, principal: Staff) -> dict[str, Any]:
    """Sizes of the graph."""
    return graph_summary.summary(store=store)


@router.get("/api/v1/ontology", summary="Labels, relationship types and properties the graph may hold")
def ontology(store: Store) -> dict[str, Any]:
    """The vocabulary generated from the ontology."""
    return graph_summary.vocabulary(store=store)
