"""The web app over real HTTP (in-process ASGI client) against the real embedded graph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings


@pytest.fixture
def app(demo_store: FalkorDBStore) -> Iterator[FastAPI]:
    yield create_app(Settings(), store=demo_store)


async def _get(app: FastAPI, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kbcrm.test") as client:
            return await client.get(path)


@pytest.mark.anyio
async def test_health_reports_the_backend(app: FastAPI) -> None:
    response = await _get(app, "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "backend": "falkordb"}


@pytest.mark.anyio
async def test_openapi_docs_are_served(app: FastAPI) -> None:
    docs = await _get(app, "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = (await _get(app, "/openapi.json")).json()
    assert {"/health", "/api/v1/graph/summary", "/api/v1/ontology"} <= set(schema["paths"])


@pytest.mark.anyio
async def test_graph_summary_is_for_staff(app: FastAPI) -> None:
    response = await _get(app, "/api/v1/graph/summary")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_graph_summary_matches_the_store(portal_store: FalkorDBStore, tmp_path: Path) -> None:
    from tests.portal_client import Client

    client = Client(create_app(Settings(data_dir=tmp_path), store=portal_store), "analyst")
    body = client.get("/api/v1/graph/summary").json()
    # 40 in the fixture; tests that run earlier in the session may have added some.
    assert body["nodes"]["Customer"] == portal_store.count_nodes("Customer") >= 40
    assert body["relationships"]["PLACED"] == portal_store.count_relationships("PLACED")


@pytest.mark.anyio
async def test_ontology_endpoint_lists_the_vocabulary(app: FastAPI) -> None:
    body = (await _get(app, "/api/v1/ontology")).json()
    assert "email" in body["labels"]["Customer"]
    assert body["relationships"]["OWNS"]["from"] == ["Customer"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
