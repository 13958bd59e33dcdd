"""FastAPI dependencies shared by the routers: the store, the knowledge base, settings."""

from __future__ import annotations

import threading
from functools import partial
from typing import Annotated

from fastapi import Depends, Request

from ingest.identity.graph import possible_duplicates
from ingest.identity.resolver import Weights
from kbcrm.graph import GraphStore
from kbcrm.operations.accounts.service import DuplicateFinder
from kbcrm.operations.cases.sla import BusinessCalendar
from kbcrm.settings import Settings
from knowledge_transfer.answers.service import KnowledgeBase

_KB_LOCK = threading.Lock()


def get_store(request: Request) -> GraphStore:
    """The application's graph store (opened at start-up)."""
    store: GraphStore = request.app.state.store
    return store


def get_settings(request: Request) -> Settings:
    """The application's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_knowledge_base(request: Request) -> KnowledgeBase:
    """The searchable knowledge, built on first use (embeds only what the vector cache lacks)."""
    state = request.app.state
    if getattr(state, "kb", None) is None:
        with _KB_LOCK:
            if getattr(state, "kb", None) is None:
                state.kb = KnowledgeBase.from_graph(state.store, state.settings)
    kb: KnowledgeBase = state.kb
    return kb


def get_duplicate_finder(request: Request) -> DuplicateFinder:
    """The duplicate check for new customers: the identity resolver's scoring at KBCRM_IDENTITY_THRESHOLD."""
    weights = Weights(threshold=request.app.state.settings.identity_threshold)
    return partial(possible_duplicates, request.app.state.store, weights=weights)


def get_calendar(request: Request) -> BusinessCalendar:
    """The service desk's business-hours calendar (KBCRM_SLA_* settings)."""
    return BusinessCalendar.from_settings(request.app.state.settings)


DuplicateCheck = Annotated[DuplicateFinder, Depends(get_duplicate_finder)]
Calendar = Annotated[BusinessCalendar, Depends(get_calendar)]
Store = Annotated[GraphStore, Depends(get_store)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Knowledge = Annotated[KnowledgeBase, Depends(get_knowledge_base)]
