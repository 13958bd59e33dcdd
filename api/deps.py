"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from kbcrm.graph import GraphStore


def get_store(request: Request) -> GraphStore:
    """The application's graph store (opened at start-up)."""
    store: GraphStore = request.app.state.store
    return store


Store = Annotated[GraphStore, Depends(get_store)]
