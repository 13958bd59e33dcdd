"""The KBCRM web application: REST API under /api/v1, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routers import health
from kbcrm.graph import GraphStore, QueryError, StoreError, StoreUnavailable, open_store
from kbcrm.settings import Settings, get_settings


def create_app(settings: Settings | None = None, store: GraphStore | None = None) -> FastAPI:
    """Build the app; opens the configured store at start-up unless one is given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store or open_store(settings)
        try:
            yield
        finally:
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="KBCRM",
        version="0.1.0",
        description="Knowledge-based CRM on a customer knowledge graph.",
        lifespan=lifespan,
    )
    app.state.settings = settings

    @app.exception_handler(StoreError)
    async def store_error(_request: Request, exc: StoreError) -> JSONResponse:
        status, code = (
            (503, "store_unavailable")
            if isinstance(exc, StoreUnavailable)
            else ((400, "query_error") if isinstance(exc, QueryError) else (500, "store_error"))
        )
        return JSONResponse({"error": {"code": code, "message": str(exc), "field": None}}, status_code=status)

    app.include_router(health.router)
    return app
