"""FastAPI dependencies shared by the routers: the store, the knowledge base, settings.

They are `async def` because they only look things up: FastAPI runs a plain `def` dependency
on its thread pool, a thread hand-over per dependency per request (measured in
bench/portal_load.py). The one that may block, building the knowledge base on first use,
does that on the thread pool.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from functools import partial
from typing import Annotated, Any

from anyio import CapacityLimiter
from anyio.lowlevel import RunVar
from fastapi import Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from ingest.identity.graph import possible_duplicates
from ingest.notes import NoteLinker
from kbcrm.access.models import Principal
from kbcrm.graph import GraphStore
from kbcrm.operations.accounts.service import DuplicateFinder
from kbcrm.operations.cases.sla import BusinessCalendar
from kbcrm.settings import Settings
from knowledge_transfer.answers.corpus import knowledge_fingerprint
from knowledge_transfer.answers.service import KnowledgeBase
from knowledge_transfer.portal import ArticlePages
from knowledge_transfer.recent import Recent

_KB_LOCK = threading.Lock()
_LOGINS: RunVar[CapacityLimiter] = RunVar("kbcrm_logins")
# Logins in progress per password check allowed at once: the rest of a login (throttle, user,
# audit: four graph statements) overlaps with the checks.
LOGINS_PER_CHECK = 4
log = logging.getLogger("kbcrm.api")


def password_checks(settings: Settings) -> int:
    """Password checks a server process runs at once: KBCRM_PASSWORD_CHECKS, or the cores per worker.

    argon2 costs about 10 ms of a core and releases the GIL, so fifty logins at once ran as
    fifty threads sharing two cores: each took about fifty times longer, and the event loop
    and every other request got a fiftieth of the CPU (portal load benchmark: reads and
    searches due during a burst of logins answered after 2–6 s). create_app limits
    users.HASHING to this.
    """
    return settings.password_checks or max(1, (os.cpu_count() or 1) // settings.workers)


def login_limiter(settings: Settings) -> CapacityLimiter:
    """Logins in progress at once in this process (LOGINS_PER_CHECK per password check).

    Logins beyond it wait on the event loop, holding no thread, so a flood of logins cannot
    take every worker thread from the other requests. One limiter per event loop, as anyio
    keeps its own default thread limiter.
    """
    try:
        return _LOGINS.get()
    except LookupError:
        limiter = CapacityLimiter(LOGINS_PER_CHECK * password_checks(settings))
        _LOGINS.set(limiter)
        return limiter


async def get_store(request: Request) -> GraphStore:
    """The application's graph store (opened at start-up)."""
    store: GraphStore = request.app.state.store
    return store


async def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def settle_heap() -> None:
    """Keep what is alive now (models, vocabularies, the knowledge base) out of later garbage collections.

    A server process holds about 230,000 long-lived container objects the collector tracks (the
    models' tokenizers and vocabularies, spaCy and jieba, the knowledge base's documents), and
    every full collection walked them all: 70-165 ms each with the GIL held, that is with the
    whole worker stalled, several times in a load run (bench/portal_load.py). Frozen, they are
    skipped (they are still freed when no longer referenced). Each call first unfreezes and
    collects, so the cycles of a knowledge base that a rebuild replaced are freed at the next
    rebuild at the latest.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _build_knowledge_base(state: Any) -> KnowledgeBase:
    with _KB_LOCK:
        if getattr(state, "kb", None) is None:
            state.kb = KnowledgeBase.from_graph(state.store, state.settings)
            settle_heap()
    kb: KnowledgeBase = state.kb
    return kb


async def get_knowledge_base(request: Request) -> KnowledgeBase:
    """The searchable knowledge, built on first use (embeds only what the vector cache lacks)."""
    state = request.app.state
    kb: KnowledgeBase | None = getattr(state, "kb", None)
    if kb is None:
        kb = await run_in_threadpool(_build_knowledge_base, state)
    return kb


def current_linker(app: FastAPI) -> NoteLinker | None:
    """The built knowledge base's span linker (an edit or a KCS draft links its text with it), else None."""
    kb: KnowledgeBase | None = getattr(app.state, "kb", None)
    return kb.linker if kb is not None else None


async def build_at_start(app: FastAPI) -> None:
    """Build the knowledge base during start-up (on a worker thread); a failure is logged, not raised.

    A failed build (a model missing, the graph unreachable) leaves the app serving everything
    else; the first request that needs the knowledge base tries again and reports the error.
    """
    try:
        await run_in_threadpool(_build_knowledge_base, app.state)
    except Exception:
        log.exception("building the knowledge base at start-up failed; the first question will try again")


def knowledge_changed(app: FastAPI) -> threading.Thread | None:
    """An article changed (edited, state moved, drafted): rebuild the knowledge base in the background.

    Requests keep answering from the current knowledge base until the new one is ready, then
    it is swapped in; only new or changed texts are embedded (the vector cache). Changes that
    arrive during a rebuild are picked up by one more rebuild. Returns the rebuilding thread
    (None when nothing was built yet: the first request builds it from the graph anyway).
    """
    state = app.state
    state.article_pages.clear()
    with _KB_LOCK:
        if getattr(state, "kb", None) is None:
            return None
        state.kb_dirty = True
        thread: threading.Thread | None = getattr(state, "kb_refresh", None)
        if thread is None:
            thread = threading.Thread(target=_rebuild, args=(state,), name="kbcrm-kb-refresh", daemon=True)
            state.kb_refresh = thread
            thread.start()
        return thread


def watch_knowledge(app: FastAPI, stop: threading.Event) -> threading.Thread | None:
    """Poll the graph's knowledge state every KBCRM_KNOWLEDGE_POLL_SECONDS; rebuild when another process changed it.

    An `kbcrm ingest articles` (or cases, notes) run next to the server thus reaches the
    portal without a restart. Changes made through this app rebuild at once (knowledge_changed).
    """
    interval = app.state.settings.knowledge_poll_seconds
    if not interval:
        return None

    def watch() -> None:
        while not stop.wait(interval):
            kb: KnowledgeBase | None = getattr(app.state, "kb", None)
            if kb is None or kb.fingerprint is None or getattr(app.state, "kb_refresh", None) is not None:
                continue
            try:
                changed = knowledge_fingerprint(app.state.store) != kb.fingerprint
            except Exception:  # the store may be restarting; look again next time
                log.warning("reading the knowledge state failed", exc_info=True)
                continue
            if changed:
                log.info("knowledge changed in the graph; rebuilding the knowledge base")
                knowledge_changed(app)

    thread = threading.Thread(target=watch, name="kbcrm-kb-watch", daemon=True)
    thread.start()
    return thread


def usage_changed(app: FastAPI, article_id: str) -> None:
    """An article was rated or linked to a case: its feedback and reuse boosts change at once (no rebuild)."""
    kb: KnowledgeBase | None = getattr(app.state, "kb", None)
    if kb is not None:
        kb.refresh_usage(app.state.store, article_id)


def _rebuild(state: Any) -> None:
    while True:
        with _KB_LOCK:
            if not state.kb_dirty:
                state.kb_refresh = None
                return
            state.kb_dirty = False
        try:
            fresh = KnowledgeBase.from_graph(state.store, state.settings)
        except Exception:  # keep answering from the current knowledge base
            log.exception("rebuilding the knowledge base failed; the previous one stays in use")
            continue
        state.kb = fresh
        settle_heap()


def wait_for_knowledge(app: FastAPI, timeout: float = 60.0) -> None:
    """Block until a background rebuild (if any) has finished (tests, and a graceful shutdown)."""
    thread = getattr(app.state, "kb_refresh", None)
    if thread is not None:
        thread.join(timeout)


async def get_duplicate_finder(request: Request) -> DuplicateFinder:
    """The duplicate check for new customers: the identity resolver's scoring at KBCRM_IDENTITY_THRESHOLD."""
    threshold = request.app.state.settings.identity_threshold
    return partial(possible_duplicates, request.app.state.store, threshold=threshold)


async def get_calendar(request: Request) -> BusinessCalendar:
    """The service desk's business-hours calendar (KBCRM_SLA_* settings)."""
    return BusinessCalendar.from_settings(request.app.state.settings)


async def get_article_pages(request: Request) -> ArticlePages:
    """Article pages kept between reads (see knowledge_transfer.portal.ArticlePages)."""
    pages: ArticlePages = request.app.state.article_pages
    return pages


class SignedInUsers(Recent[str, Principal]):
    """Users behind session cookies, kept KBCRM_SESSION_CACHE_SECONDS after their graph read (per process).

    Every page and API call with a session cookie needs the user's role, customer and session
    version; reading them from the graph blocked the event loop for a graph round trip on
    every request (portal load benchmark). Where this process changes a login (logout, an
    admin saving it, an erasure) it drops the kept user; changes made by other processes
    reach it when the kept entry ages out. API tokens are checked against the graph on every
    request.
    """


async def get_signed_in_users(request: Request) -> SignedInUsers:
    """The process's kept signed-in users (see SignedInUsers)."""
    kept: SignedInUsers = request.app.state.signed_in
    return kept


DuplicateCheck = Annotated[DuplicateFinder, Depends(get_duplicate_finder)]
Calendar = Annotated[BusinessCalendar, Depends(get_calendar)]
Store = Annotated[GraphStore, Depends(get_store)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Knowledge = Annotated[KnowledgeBase, Depends(get_knowledge_base)]
KeptPages = Annotated[ArticlePages, Depends(get_article_pages)]
SignedIn = Annotated[SignedInUsers, Depends(get_signed_in_users)]
