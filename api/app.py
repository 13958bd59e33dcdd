"""The KBCRM web application.

REST API under /api/v1 (OpenAPI at /docs), the customer portal, the staff console and the analyst page.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from threadpoolctl import threadpool_limits

from api import errors
from api.access_log import redact_access_log
from api.deps import SignedInUsers, build_at_start, password_checks, watch_knowledge
from api.headers import SecurityHeaders
from api.pages import operations as operations_pages
from api.pages import views
from api.routers import (
    accounts,
    admin,
    analyst,
    auth,
    campaigns,
    cases,
    customers,
    health,
    invitations,
    knowledge,
    opportunities,
)
from kbcrm.access import users
from kbcrm.analyst.service import RdfSnapshot
from kbcrm.graph import GraphStore, open_store
from kbcrm.settings import Settings, get_settings
from knowledge_transfer.answers.service import KnowledgeBase
from knowledge_transfer.portal import ArticlePages

STATIC = Path(__file__).resolve().parent / "static"


def served_app() -> FastAPI:
    """The app `kbcrm serve` runs in each uvicorn worker process: it builds its knowledge base before serving.

    uvicorn's workers share one listening socket, and a worker takes connections only once its
    start-up is done: so no request waits for a knowledge base to be built, and a worker that
    no question has reached yet is as ready as the others (bench/portal_load.py's warm-up
    questions had all gone to one worker at times, and the other built its knowledge base,
    seconds of CPU, in the middle of the measured run).
    """
    return create_app(build_knowledge=True)


def create_app(
    settings: Settings | None = None,
    store: GraphStore | None = None,
    knowledge_base: KnowledgeBase | None = None,
    *,
    build_knowledge: bool = False,
) -> FastAPI:
    """Build the app; opens the configured store at start-up unless one is given.

    With `build_knowledge`, start-up also builds the knowledge base (see served_app); otherwise
    the first request that needs it does.
    """
    settings = settings or get_settings()
    redact_access_log()
    users.HASHING.limit(password_checks(settings), nice=settings.password_check_nice)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = store is None
        app.state.store = store or open_store(settings)
        # Requests run on many threads at once: one BLAS thread each, or numpy's thread pool
        # oversubscribes the cores (measured by bench/portal_load.py).
        threadpool_limits(limits=1)
        if build_knowledge:  # a given knowledge base is kept (_build_knowledge_base builds only when none)
            await build_at_start(app)
        stop = threading.Event()
        watch_knowledge(app, stop)
        try:
            yield
        finally:
            stop.set()
            await app.state.store.close_async()  # this loop's asynchronous client (article reads)
            if owned:
                app.state.store.close()

    app = FastAPI(
        title="KBCRM",
        version="0.1.0",
        description=(
            "Knowledge-based CRM on a customer knowledge graph. Authenticate with the session cookie "
            "(POST /api/v1/auth/login; unsafe requests then need the X-CSRF-Token header) or an API token "
            "(`Authorization: Bearer kbt_…`, made with POST /api/v1/auth/tokens). Errors are "
            '`{"error": {"code", "message", "field"}}`.'
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    if store is not None:  # a given store serves at once (tests, embedding KBCRM in another app)
        app.state.store = store
    app.state.kb = knowledge_base
    app.state.article_pages = ArticlePages(max_age_s=settings.knowledge_poll_seconds)
    app.state.signed_in = SignedInUsers(max_age_s=settings.session_cache_seconds)
    app.state.rdf = RdfSnapshot()
    errors.install(app)

    @app.exception_handler(views.LoginRequired)
    async def login_required(_request: Request, exc: views.LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_path)}", status_code=303)

    for router in (health.router, auth.router, knowledge.router, cases.router, customers.router):
        app.include_router(router)
    for router in (
        accounts.router,
        invitations.router,
        opportunities.router,
        campaigns.router,
        analyst.router,
        admin.router,
    ):
        app.include_router(router)
    for router in (operations_pages.router, views.router):  # /staff/customers/new before /{customer_id}
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders, https=settings.cookie_secure)
    return app
