"""schemathesis against the OpenAPI schema (bounded examples per operation): no request gives a 5xx,
and every error has the standard body."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from api.app import create_app
from kbcrm.access import users
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings


@pytest.fixture(scope="module")
def fuzz_app(portal_store: FalkorDBStore, portal_kb: Any, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("fuzz")), store=portal_store, knowledge_base=portal_kb)


@pytest.fixture(scope="module")
def admin_token(portal_store: FalkorDBStore) -> str:
    return users.create_token(portal_store, users.user_id("admin"), name="schemathesis").secret


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors(case: Any, admin_token: str) -> None:
    if case.method == "DELETE" and case.path.endswith("/personal-data"):
        pytest.skip("erasure is destructive; test_portal_api covers it")
    if case.path == "/api/v1/auth/logout":
        pytest.skip("would end the sessions other tests in this session use")
    response = case.call(headers={"Authorization": f"Bearer {admin_token}"})
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    )
    if response.status_code >= 400 and case.path.startswith("/api/"):
        body = response.json()
        assert set(body.get("error", {})) == {"code", "message", "field"}, body
