"""The REST API and pages end to end: real embedded graph, real ASGI HTTP, demo logins."""

from __future__ import annotations

import asyncio
import gc
import html
import json
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest
from argon2.exceptions import VerificationError
from fastapi import FastAPI

from api.app import create_app
from api.deps import LOGINS_PER_CHECK, login_limiter, password_checks, wait_for_knowledge
from api.headers import CONTENT_SECURITY_POLICY
from kbcrm.access import sessions, throttle, users
from kbcrm.graph import GraphStore
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings
from knowledge_transfer import portal
from knowledge_transfer.answers.service import KnowledgeBase, answer
from knowledge_transfer.recent import Recent
from ontology.terms import Label
from tests.portal_client import PASSWORDS, Client


@pytest.fixture(scope="module")
def app(portal_store: FalkorDBStore, portal_kb: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    application = create_app(
        Settings(data_dir=tmp_path_factory.mktemp("api")), store=portal_store, knowledge_base=portal_kb
    )
    yield application


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}, body
    error: dict[str, Any] = body["error"]
    return error


def test_login_me_logout_ends_the_session(app: FastAPI) -> None:
    client = Client(app, "engineer")
    assert client.get("/api/v1/auth/me").json()["role"] == "engineer"
    cookie = client.http.cookies.get(sessions.SESSION_COOKIE)
    assert client.send("POST", "/api/v1/auth/logout").status_code == 200
    assert client.get("/api/v1/auth/me").status_code == 401
    # The old cookie, replayed, no longer works: logout bumped the session version.
    replay = Client(app)
    replay.http.cookies.set(sessions.SESSION_COOKIE, cookie)
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_session_cookie_is_httponly_and_samesite(app: FastAPI) -> None:
    client = Client(app)
    response = client.http.post("/api/v1/auth/login", json={"username": "analyst", "password": "analyst-demo-1"})
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header


def test_wrong_password_and_throttling(app: FastAPI) -> None:
    client = Client(app)
    for _ in range(5):
        response = client.http.post("/api/v1/auth/login", json={"username": "marketer", "password": "nope-nope"})
        assert response.status_code == 401 and _error(response)["code"] == "unauthenticated"
    blocked = client.http.post("/api/v1/auth/login", json={"username": "marketer", "password": "marketer-demo-1"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # Counted in the graph, so another server process (here: a second app on the same graph) refuses too.
    other_process = Client(create_app(app.state.settings, store=app.state.store, knowledge_base=app.state.kb))
    refused = other_process.http.post(
        "/api/v1/auth/login", json={"username": "marketer", "password": "marketer-demo-1"}
    )
    assert refused.status_code == 429
    throttle.succeeded(app.state.store, "marketer", "testclient")  # let later tests log in
    assert (
        other_process.http.post(
            "/api/v1/auth/login", json={"username": "marketer", "password": "marketer-demo-1"}
        ).status_code
        == 200
    )


def test_a_password_check_waits_for_a_free_slot(portal_store: FalkorDBStore) -> None:
    users.HASHING.limit(1)
    outcome: list[Any] = []
    checking = threading.Thread(
        target=lambda: outcome.append(
            users.authenticate(portal_store, username="engineer", password=PASSWORDS["engineer"])
        )
    )
    other_check = threading.Event()
    assert users.HASHING.pool is not None
    users.HASHING.pool.submit(other_check.wait, 30)  # another check is running
    checking.start()
    checking.join(0.5)
    assert checking.is_alive() and outcome == []
    other_check.set()
    checking.join(30)
    assert not checking.is_alive() and outcome[0].username == "engineer"


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_password_checks_run_at_a_lower_cpu_priority_than_requests(tmp_path: Path) -> None:
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = niceness()
    create_app(Settings(data_dir=tmp_path, password_checks=2))  # KBCRM_PASSWORD_CHECK_NICE: 10 by default
    assert users.HASHING.pool is not None
    assert users.HASHING.pool.submit(niceness).result() == min(19, mine + 10)
    assert niceness() == mine  # the caller's thread (a request's) keeps its priority
    stored = users.HASHING.hash("a password")  # the checks themselves run on those threads
    users.HASHING.verify(stored, "a password")
    with pytest.raises(VerificationError):
        users.HASHING.verify(stored, "another")
    create_app(Settings(data_dir=tmp_path, password_check_nice=0))
    assert users.HASHING.pool.submit(niceness).result() == mine
    users.HASHING.limit(os.cpu_count() or 1)


@pytest.mark.anyio
async def test_concurrent_logins_all_get_in_under_the_limits(
    portal_store: FalkorDBStore, portal_kb: Any, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, password_checks=1)
    application = create_app(settings, store=portal_store, knowledge_base=portal_kb)
    assert users.HASHING.checks == 1  # create_app applied KBCRM_PASSWORD_CHECKS
    names = ["engineer", "analyst", "customer1", "customer2", "customer3", "admin"] * 2
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://kbcrm.test") as client:
            responses = await asyncio.gather(
                *(client.post("/api/v1/auth/login", json={"username": n, "password": PASSWORDS[n]}) for n in names)
            )
            wrong = await client.post("/api/v1/auth/login", json={"username": "admin", "password": "not-it"})
        assert login_limiter(settings).total_tokens == LOGINS_PER_CHECK
    assert [r.status_code for r in responses] == [200] * len(names)
    assert [r.json()["username"] for r in responses] == names
    assert wrong.status_code == 401
    throttle.succeeded(portal_store, "admin", "127.0.0.1")


def test_password_checks_default_to_the_cores_per_worker(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    assert password_checks(Settings(data_dir=tmp_path, workers=1)) == cores
    assert password_checks(Settings(data_dir=tmp_path, workers=64)) == max(1, cores // 64) == 1
    assert password_checks(Settings(data_dir=tmp_path, workers=64, password_checks=3)) == 3


def test_login_throttle_window_and_reset(any_store: GraphStore) -> None:
    for second in range(4):
        throttle.failed(any_store, "Somebody", "10.0.0.1", now=1000.0 + second)
    assert throttle.retry_after(any_store, "somebody", "10.0.0.1", now=1004.0) == 0  # four: may still try
    throttle.failed(any_store, "somebody", "10.0.0.1", now=1004.0)
    assert throttle.retry_after(any_store, "SOMEBODY", "10.0.0.1", now=1005.0) == 896  # until 1000 + 900
    assert throttle.retry_after(any_store, "somebody", "10.0.0.2", now=1005.0) == 0  # another client
    assert throttle.retry_after(any_store, "somebody", "10.0.0.1", now=1901.0) == 0  # the first left the window
    throttle.failed(any_store, "somebody", "10.0.0.1", now=1901.0)  # old failures are dropped as new ones come
    stored = any_store.read("MATCH (t:LoginThrottle) RETURN t.id AS id, t.failures AS failures")
    assert len(stored) == 1 and sorted(stored[0]["failures"]) == [1002.0, 1003.0, 1004.0, 1901.0]
    assert "somebody" not in stored[0]["id"] and "10.0.0.1" not in stored[0]["id"]
    throttle.succeeded(any_store, "somebody", "10.0.0.1")
    assert any_store.read("MATCH (t:LoginThrottle) RETURN count(t) AS n")[0]["n"] == 0


def test_forged_cookie_and_unknown_token_are_refused(app: FastAPI) -> None:
    client = Client(app)
    client.http.cookies.set(sessions.SESSION_COOKIE, sessions.issue("another-secret", user_id="user:admin", version=0))
    assert client.get("/api/v1/auth/me").status_code == 401
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer kbt_not-a-token"})
    assert response.status_code == 401 and "token" in _error(response)["message"]


def test_api_tokens_are_hashed_at_rest_and_revocable(app: FastAPI, portal_store: FalkorDBStore) -> None:
    client = Client(app, "analyst")
    made = client.send("POST", "/api/v1/auth/tokens", json={"name": "notebook"})
    assert made.status_code == 201
    secret = made.json()["secret"]
    stored = portal_store.read("MATCH (t:ApiToken {id: $id}) RETURN properties(t) AS p", id=made.json()["id"])[0]["p"]
    assert secret not in str(stored) and len(stored["token_hash"]) == 64
    program = Client(app)
    bearer = {"Authorization": f"Bearer {secret}"}
    assert program.get("/api/v1/auth/me", headers=bearer).json()["username"] == "analyst"
    # Bearer requests need no CSRF token (a browser never sends that header by itself).
    query = {"query": "MATCH (c:Customer) RETURN count(c) AS n"}
    assert program.http.post("/api/v1/analyst/cypher", json=query, headers=bearer).status_code == 200
    assert client.send("DELETE", f"/api/v1/auth/tokens/{made.json()['id']}").status_code == 200
    assert program.get("/api/v1/auth/me", headers=bearer).status_code == 401
    listed = client.get("/api/v1/auth/tokens").json()
    assert listed[-1]["revoked_at"] and "secret" not in listed[-1]


def test_cookie_requests_that_write_need_the_csrf_token(app: FastAPI) -> None:
    client = Client(app, "customer1")
    body = {"subject": "pump makes noise"}
    response = client.http.post("/api/v1/cases", json=body)
    assert response.status_code == 403 and _error(response)["code"] == "csrf"
    response = client.http.post("/api/v1/cases", json=body, headers={"X-CSRF-Token": "0" * 64})
    assert response.status_code == 403
    assert client.send("POST", "/api/v1/cases", json=body).status_code == 201


def test_errors_have_one_shape(app: FastAPI) -> None:
    client = Client(app, "engineer")
    assert _error(client.get("/api/v1/cases/NOPE"))["code"] == "not_found"
    invalid = client.send("POST", "/api/v1/cases", json={"subject": ""})
    assert invalid.status_code == 422 and _error(invalid)["field"] == "subject"
    bad = client.get("/api/v1/cases", params={"status": "sleeping"})
    assert bad.status_code == 422 and _error(bad)["field"] == "status"
    assert _error(Client(app).get("/api/v1/cases"))["code"] == "unauthenticated"


def test_customer_opens_a_case_adds_a_note_and_staff_answer_it(app: FastAPI, portal_store: FalkorDBStore) -> None:
    customer = Client(app, "customer1")
    products = customer.get(f"/api/v1/customers/{customer.me['customer_id']}/products").json()
    opened = customer.send(
        "POST",
        "/api/v1/cases",
        json={"subject": "Display shows an error code", "product_id": products[0]["id"], "priority": "P2"},
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    assert opened.json()["customer_id"] == customer.me["customer_id"] and opened.json()["status"] == "open"
    assert customer.send("POST", f"/api/v1/cases/{case_id}/notes", json={"text": "It blinks twice."}).status_code == 201
    # A customer cannot make an internal note, even by asking.
    sneaky = customer.send("POST", f"/api/v1/cases/{case_id}/notes", json={"text": "x", "visibility": "internal"})
    assert sneaky.json()["visibility"] == "customer"

    engineer = Client(app, "engineer")
    internal = "Checked the firmware log; suspect watchdog."
    engineer.send("POST", f"/api/v1/cases/{case_id}/notes", json={"text": internal, "visibility": "internal"})
    assert engineer.get(f"/api/v1/cases/{case_id}").json().get("first_response_at") is None
    engineer.send(
        "POST", f"/api/v1/cases/{case_id}/notes", json={"text": "Please update the firmware.", "visibility": "customer"}
    )
    seen_by_staff = engineer.get(f"/api/v1/cases/{case_id}").json()
    assert seen_by_staff["first_response_at"] and internal in [n["text"] for n in seen_by_staff["notes"]]
    seen_by_customer = customer.get(f"/api/v1/cases/{case_id}").json()
    assert internal not in str(seen_by_customer)
    assert "Please update the firmware." in [n["text"] for n in seen_by_customer["notes"]]

    suggestions = engineer.get(f"/api/v1/cases/{case_id}/suggestions").json()["suggestions"]
    article = next(s for s in suggestions if s["kind"] == "article")
    assert article["evidence"]["paths"] or article["evidence"]["matched_terms"]
    linked = engineer.send("POST", f"/api/v1/cases/{case_id}/articles", json={"article_id": article["id"]})
    assert linked.status_code == 201
    resolved = engineer.send("PATCH", f"/api/v1/cases/{case_id}", json={"status": "resolved"}).json()
    assert resolved["status"] == "resolved" and resolved["closed_at"]
    unresolved = engineer.send("POST", f"/api/v1/cases/{case_id}/draft-article")
    assert unresolved.status_code == 400 and "resolution" in _error(unresolved)["message"]
    solved = portal_store.read(
        "MATCH (k:ServiceCase)-[:RESOLVED_BY]->(:Resolution) MATCH (k)-[:HAS_NOTE]->(n:ServiceNote) "
        "WHERE n.visibility = 'internal' RETURN k.id AS id, n.text AS text ORDER BY id LIMIT 1"
    )[0]
    drafted = engineer.send("POST", f"/api/v1/cases/{solved['id']}/draft-article")
    assert drafted.status_code == 201 and solved["text"] not in drafted.json()["body"]
    draft_id = drafted.json()["article_id"]
    edited = engineer.send("PATCH", f"/api/v1/knowledge/articles/{draft_id}", json={"title": "Watchdog resets: fix"})
    assert edited.status_code == 200 and edited.json()["title"] == "Watchdog resets: fix"
    history = engineer.get(f"/api/v1/knowledge/articles/{draft_id}/history").json()
    assert [v["title"] for v in history] == [drafted.json()["title"], "Watchdog resets: fix"]  # v1, then now
    # A draft is internal work in progress: the portal does not show it.
    assert customer.get(f"/api/v1/knowledge/articles/{draft_id}").status_code == 404
    assert customer.send("PATCH", f"/api/v1/cases/{case_id}", json={"status": "open"}).status_code == 403
    actions = {
        e["action"]
        for e in Client(app, "admin").get("/api/v1/admin/audit", params={"target": case_id, "limit": 50}).json()
    }
    assert {"case_opened", "note_added", "article_linked", "case_status"} <= actions


def test_kcs_in_the_console_draft_revise_validate_publish(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """From a resolved case to an article customers can read without leaving the console: draft, edit (its
    graph links follow the text), validate. Every step is a version and audited; the customer sees it once
    validated, and only then."""
    case = portal_store.read(
        "MATCH (k:ServiceCase)-[:RESOLVED_BY]->(:Resolution) MATCH (k)-[:REPORTED_ERROR]->(e:ErrorCode) "
        "MATCH (k)-[:ABOUT_PRODUCT]->(p:Product) "
        "RETURN k.id AS id, collect(DISTINCT e.id) AS codes, p.id AS product ORDER BY id DESC LIMIT 1"
    )[0]
    engineer = Client(app, "engineer")
    form = {"csrf_token": engineer.csrf}
    drafted = engineer.http.post(f"/staff/cases/{case['id']}/draft", data=form)
    draft = f"kb-draft-{case['id'].lower()}"
    assert drafted.status_code == 303 and drafted.headers["location"] == f"/staff/articles/{draft}"

    def workbench() -> dict[str, Any]:
        response = engineer.get(f"/api/v1/knowledge/articles/{draft}/workbench")
        assert response.status_code == 200, response.text
        return dict(response.json())

    bench = workbench()
    assert bench["article"]["confidence"] == "work-in-progress"
    assert bench["next_states"] == ["not-validated", "validated", "archived"]
    resolved = {link["id"]: link["from_text"] for link in bench["links"] if link["rel"] == "RESOLVES"}
    assert set(case["codes"]) <= set(resolved) and all(resolved.values())  # the draft's issue names the codes
    assert {"rel": "APPLIES_TO", "id": case["product"], "from_text": False} in [
        {k: link[k] for k in ("rel", "id", "from_text")} for link in bench["links"]
    ]
    assert [(c["case"], c["kind"]) for c in bench["cases"]] == [(case["id"], "created")]
    page = engineer.get(f"/staff/articles/{draft}")
    assert page.status_code == 200 and 'id="edit-form"' in page.text and 'value="validated"' in page.text
    assert "linked to 1 case ·" in page.text or "linked to 1 case</p>" in page.text  # usage, in words

    # The engineer rewrites it for customers: its links follow the new text (a browser sends CR LF).
    body = "## Issue\nThe unit runs hot (overheating) after an hour.\n\n## Resolution\nClean the air filter."
    edit = {**form, "title": "Unit runs hot: clean the air filter", "audience": "customer"}
    saved = engineer.http.post(f"/staff/articles/{draft}/edit", data={**edit, "body": body.replace("\n", "\r\n")})
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=edit")
    bench = workbench()
    assert {link["id"] for link in bench["links"] if link["rel"] == "RESOLVES"} == {"sym-overheat"}
    assert ("APPLIES_TO", "comp-filter") in {(link["rel"], link["id"]) for link in bench["links"]}
    assert bench["article"]["body"] == body and bench["article"]["audience"] == "customer"
    reading = engineer.get(f"/staff/articles/{draft}").text  # the text as the graph reads it
    assert '<mark class="resolves" data-id="sym-overheat"' in reading
    assert '<mark class="mention" data-id="comp-filter"' in reading
    assert [v["version"] for v in bench["history"]] == [1, 2]
    editor = bench["people"][bench["history"][-1]["edited_by"]]  # the engineer's employee record, by name
    assert editor == engineer.me["name"] and editor in engineer.get(f"/staff/articles/{draft}").text
    blank = engineer.http.post(f"/staff/articles/{draft}/edit", data={**edit, "body": " \r\n "})
    assert blank.status_code == 400 and "body: must not be empty" in html.unescape(blank.text)
    again = engineer.http.post(f"/staff/articles/{draft}/edit", data={**edit, "body": body})
    assert again.headers["location"].endswith("?saved=unchanged") and len(workbench()["history"]) == 2
    assert "no new version" in engineer.get(again.headers["location"]).text

    # Improved while solving another case (KCS "improve"): the save links it to that case as modified.
    solving = portal_store.read("MATCH (k:ServiceCase {status: 'open'}) RETURN k.id AS id ORDER BY id LIMIT 1")[0]["id"]
    assert 'id="for-case"' in engineer.get(f"/staff/articles/{draft}", params={"case": solving}).text
    assert engineer.get(f"/staff/articles/{draft}", params={"case": "CS-none"}).status_code == 404
    improved = {**edit, "body": body + " Check the fan.", "case": solving}
    assert engineer.http.post(f"/staff/articles/{draft}/edit", data={**improved, "case": "CS-none"}).status_code == 404
    assert len(workbench()["history"]) == 2  # an unknown case: nothing saved
    assert (
        engineer.http.post(f"/staff/articles/{draft}/edit", data=improved)
        .headers["location"]
        .endswith(f"?saved=edit&case={solving}")
    )
    assert (solving, "modified") in {(c["case"], c["kind"]) for c in workbench()["cases"]}
    assert f'href="/staff/articles/{draft}?case={solving}"' in engineer.get(f"/staff/cases/{solving}").text

    customer = Client(app, "customer1")
    assert customer.get(f"/articles/{draft}").status_code == 404  # not validated yet
    moved = engineer.http.post(f"/staff/articles/{draft}/state", data={**form, "state": "validated"})
    assert moved.status_code == 303 and workbench()["article"]["confidence"] == "validated"
    engineer.http.post(f"/staff/articles/{draft}/state", data={**form, "state": "validated"})  # already: no change
    published = customer.get(f"/articles/{draft}")
    assert published.status_code == 200 and "Clean the air filter." in published.text
    assert "/staff/articles/" not in published.text  # the way to the console is for case workers only
    assert f'href="/staff/articles/{draft}"' in engineer.get(f"/articles/{draft}").text
    refused = engineer.http.post(f"/staff/articles/{draft}/state", data={**form, "state": "work-in-progress"})
    assert refused.status_code == 400 and "allowed: archived, not-validated" in html.unescape(refused.text)

    # Who may: case workers only, and never without the form's CSRF token.
    assert Client(app, "analyst").get(f"/staff/articles/{draft}").status_code == 403
    assert (
        customer.http.post(
            f"/staff/articles/{draft}/edit", data={**edit, "csrf_token": customer.csrf, "body": "x"}
        ).status_code
        == 403
    )
    assert engineer.http.post(f"/staff/articles/{draft}/state", data={"state": "archived"}).status_code == 403
    assert engineer.get("/staff/articles/kb-does-not-exist").status_code == 404
    actions = [e["action"] for e in Client(app, "admin").get("/api/v1/admin/audit", params={"target": draft}).json()]
    # the unchanged save and the repeated move are no change
    assert sorted(actions) == ["article_drafted", "article_edited", "article_edited", "article_state"]
    chinese = engineer.get(f"/staff/articles/{draft}", params={"lang": "zh"}).text
    assert "来自正文" in chinese and "已声明" in chinese and "版本" in chinese and "由工单创建" in chinese
    # Archived, it leaves the portal again (and the shared demo graph as other tests expect it).
    engineer.http.post(f"/staff/articles/{draft}/state", data={**form, "state": "archived"})
    assert customer.get(f"/articles/{draft}").status_code == 404


def test_a_new_article_written_in_the_console(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """An engineer writes an article from scratch: work in progress, authored, linked like any other article."""
    engineer = Client(app, "engineer")
    form_page = engineer.get("/staff/articles/new")
    assert form_page.status_code == 200 and 'value="prod-ax120"' in form_page.text and "## Issue" in form_page.text
    assert 'id="new-article"' in engineer.get("/staff/knowledge-health").text
    fields = {
        "csrf_token": engineer.csrf,
        "title": "AX-120 stops after an hour",
        "body": "## Issue\r\nThe pump is overheating.\r\n\r\n## Resolution\r\nClean the air filter; check for noise.",
        "audience": "customer",
        "language": "en",
        "products": ["prod-ax120"],
    }
    created = engineer.http.post("/staff/articles/new", data=fields)
    assert created.status_code == 303 and created.headers["location"].endswith("?saved=created"), created.text
    article_id = created.headers["location"].split("/")[-1].split("?")[0]
    bench = engineer.get(f"/api/v1/knowledge/articles/{article_id}/workbench").json()
    assert bench["article"]["confidence"] == "work-in-progress" and bench["article"]["audience"] == "customer"
    assert "\r" not in bench["article"]["body"]
    links = {(link["rel"], link["id"]): link["from_text"] for link in bench["links"]}
    # the title names the product; the product is also declared: one link, declared
    assert links[("APPLIES_TO", "prod-ax120")] is False and links[("RESOLVES", "sym-overheat")] is True
    assert ("RESOLVES", "sym-noise") not in links  # named after the fix, not in the issue
    assert bench["people"][bench["history"][0]["edited_by"]] == engineer.me["name"]
    author = portal_store.read(
        "MATCH (e:Employee)-[:AUTHORED]->(:KnowledgeArticle {id: $id}) RETURN e.name AS name", id=article_id
    )
    assert author == [{"name": engineer.me["name"]}]
    assert "Created as work in progress" in engineer.get(created.headers["location"]).text
    assert Client(app, "customer1").get(f"/articles/{article_id}").status_code == 404  # until validated

    # Bad input names its field; nothing is written.
    before = portal_store.read("MATCH (a:KnowledgeArticle) RETURN count(a) AS n")[0]["n"]
    unknown = engineer.http.post("/staff/articles/new", data={**fields, "products": ["prod-none"]})
    assert unknown.status_code == 400 and "no product prod-none in the graph" in html.unescape(unknown.text)
    api = engineer.send("POST", "/api/v1/knowledge/articles", json={"title": "x", "body": "y", "products": ["p-0"]})
    assert api.status_code == 400 and _error(api)["field"] == "products"
    french = engineer.send("POST", "/api/v1/knowledge/articles", json={"title": "x", "body": "y", "language": "fr"})
    assert french.status_code == 422
    assert portal_store.read("MATCH (a:KnowledgeArticle) RETURN count(a) AS n")[0]["n"] == before
    made = engineer.send("POST", "/api/v1/knowledge/articles", json={"title": "E-1012 again", "body": "Seal leakage."})
    assert made.status_code == 201 and made.json()["audience"] == "internal" and made.json()["language"] == "en"
    audit = Client(app, "admin").get("/api/v1/admin/audit", params={"target": article_id}).json()
    assert [e["action"] for e in audit] == ["article_created"]
    assert Client(app, "analyst").get("/staff/articles/new").status_code == 403


def test_public_search_read_rate_and_why(app: FastAPI, portal_store: FalkorDBStore) -> None:
    visitor = Client(app)
    answer = visitor.get("/api/v1/knowledge/search", params={"q": "display error"}).json()
    assert answer["audience"] == "customer" and answer["suggestions"]
    first = answer["suggestions"][0]
    assert (
        first["kind"] == "article"
        and first["audience"] in ("customer", "public")
        and first["confidence"] == "validated"
    )
    article = visitor.get(f"/api/v1/knowledge/articles/{first['id']}").json()
    assert article["title"] == first["title"] and all(r["shared"] for r in article["related"])
    before = article["helpful"] or 0
    totals = visitor.http.post(f"/api/v1/knowledge/articles/{first['id']}/rating", json={"helpful": True}).json()
    assert totals["helpful"] == before + 1
    # The vote reaches the running app's ranking at once: the next answer's evidence counts it.
    again = visitor.get("/api/v1/knowledge/search", params={"q": "display error"}).json()
    usage = next(s for s in again["suggestions"] if s["id"] == first["id"])["evidence"]["usage"]
    assert usage["helpful"] == before + 1
    assert usage["customer_helpful"] == first["evidence"]["usage"]["customer_helpful"] + 1
    page = visitor.get(f"/articles/{first['id']}", params={"q": "display error"})
    assert page.status_code == 200 and "Why this answer" in page.text and first["title"] in page.text
    # The explanation reads as words: the question's words as typed (not the index's stems), usage in a
    # sentence (not field names), the article's graph links by what they mean.
    assert "display" in first["evidence"]["matched_words"] and "display" in first["evidence"]["matched_terms"]
    assert "<mark>display</mark>" in page.text
    assert "found it helpful" in page.text and "of these from customers" in page.text
    assert not re.search(r"\b(not_helpful|customer_helpful)\b", page.text)
    assert article["links"] and "<dt>Applies to</dt>" in page.text and 'class="tag" data-rel="APPLIES_TO"' in page.text
    search_page = visitor.get("/", params={"q": "noise after restart"})
    assert "<mark>noise</mark>" in search_page.text and "<mark>nois</mark>" not in search_page.text
    internal = portal_store.read("MATCH (a:KnowledgeArticle {audience: 'internal'}) RETURN a.id AS id LIMIT 1")[0]["id"]
    assert visitor.get(f"/api/v1/knowledge/articles/{internal}").status_code == 404
    assert Client(app, "engineer").get(f"/api/v1/knowledge/articles/{internal}").status_code == 200


def test_content_health_for_knowledge_managers(app: FastAPI, portal_store: FalkorDBStore) -> None:
    engineer = Client(app, "engineer")
    report = engineer.get("/api/v1/knowledge/health", params={"stale_days": 30, "as_of": "2031-01-01"}).json()
    assert set(report) == {"never_reused", "stale", "low_rated", "unlinked_issue", "duplicates"}
    live = {
        r["id"]: r["views"]
        for r in portal_store.read(
            "MATCH (a:KnowledgeArticle) WHERE a.confidence <> 'archived' RETURN a.id AS id, a.view_count AS views"
        )
    }
    assert report["stale"] and {a["id"] for a in report["stale"]} <= set(live)
    assert all(a["days_since_update"] > 30 for a in report["stale"])
    assert report["never_reused"] and all(not live[a["id"]] for a in report["never_reused"])
    page = engineer.get("/staff/knowledge-health")
    assert page.status_code == 200 and f"Never reused or viewed ({len(report['never_reused'])})" in page.text
    assert f"Issue names nothing the graph knows ({len(report['unlinked_issue'])})" in page.text
    assert Client(app, "customer1").get("/api/v1/knowledge/health").status_code == 403


def test_every_page_answers_as_json_too(app: FastAPI) -> None:
    customer = Client(app, "customer2")
    data = customer.get("/my", params={"format": "json"}).json()
    assert {"customer", "products", "orders", "cases"} <= set(data)
    assert all(case["customer_id"] == customer.me["customer_id"] for case in data["cases"])
    html = customer.get("/my", headers={"Accept": "text/html"})
    assert html.status_code == 200 and data["customer"]["name"] in html.text
    assert Client(app).get("/", params={"q": "error", "format": "json"}).json()["answer"]["suggestions"]


def test_security_headers_on_pages_api_and_docs(app: FastAPI, tmp_path: Path) -> None:
    client = Client(app)
    for path in ("/login", "/", "/api/v1/knowledge/search?q=noise", "/static/deflect.js", "/no-such-page"):
        headers = client.get(path).headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert (
            "frame-ancestors 'none'" in headers["content-security-policy"]
            and "'unsafe-inline'" not in headers["content-security-policy"]
        )
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path  # an /invite/ token never leaves in a Referer
        assert "strict-transport-security" not in headers  # plain HTTP here
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers  # Swagger UI runs inline script
    assert docs.headers["x-content-type-options"] == "nosniff"
    https = Client(create_app(Settings(data_dir=tmp_path, cookie_secure=True), store=app.state.store))
    assert https.get("/health").headers["strict-transport-security"] == "max-age=31536000"


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """What the Content-Security-Policy (script-src/style-src 'self') would refuse in a browser."""
    templates = sorted((Path(__file__).parent.parent / "api" / "templates").glob("*.html"))
    assert len(templates) > 20
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{template.name}: inline <script>"
        assert not re.search(r"<style\b|\sstyle=", text), f"{template.name}: inline style"
        assert not re.search(r"\son[a-z]+=", text), f"{template.name}: inline event handler"
        assert "javascript:" not in text, template.name


def test_pages_redirect_to_login_and_chinese_ui(app: FastAPI) -> None:
    visitor = Client(app)
    response = visitor.get("/my")
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/my"
    assert "登录" in visitor.get("/login", params={"lang": "zh"}).text
    assert "登录" in visitor.get("/login").text  # remembered in a cookie
    assert "Log in" in visitor.get("/login", params={"lang": "en"}).text


def test_chinese_ui_translates_roles_channels_statuses_and_result_kinds(app: FastAPI) -> None:
    customer = Client(app, "customer1")
    page = customer.get("/my/data", params={"lang": "zh"}).text
    assert "(客户)" in page and "电子邮件 —" in page and "邮寄 —" in page
    results = customer.get("/", params={"q": "display error"}).text  # the language is remembered
    assert '<span class="kind">文章</span>' in results and '<span class="kind">article</span>' not in results
    english = Client(app, "engineer").get("/", params={"q": "display error", "lang": "en"}).text
    assert "(engineer)" in english and '<span class="kind">resolved case</span>' in english
    queue = Client(app, "engineer").get("/staff", params={"status": "closed", "lang": "zh"}).text
    assert 'class="current">已关闭</a>' in queue and "<td>已关闭</td>" in queue and "<td>closed</td>" not in queue


def test_results_in_another_language_than_the_page_say_so(app: FastAPI, portal_store: FalkorDBStore) -> None:
    row = portal_store.read(
        "MATCH (a:KnowledgeArticle {language: 'zh', confidence: 'validated'})-[:RESOLVES]->(e:ErrorCode) "
        "WHERE a.audience IN ['customer', 'public'] RETURN a.id AS id, e.code AS code ORDER BY id LIMIT 1"
    )[0]
    visitor = Client(app)
    answer = visitor.get("/api/v1/knowledge/search", params={"q": row["code"], "limit": 8}).json()
    languages = {s["id"]: s["language"] for s in answer["suggestions"]}
    assert languages[row["id"]] == "zh" and "en" in languages.values()
    page = visitor.get("/", params={"q": row["code"], "lang": "en"}).text
    item = page[page.index(f'data-id="{row["id"]}"') :].split("</li>")[0]
    assert '<span class="tag lang" lang="zh">中文</span>' in item
    english = next(i for i, lang in languages.items() if lang == "en")
    assert 'class="tag lang"' not in page[page.index(f'data-id="{english}"') :].split("</li>")[0]
    article = visitor.get(f"/articles/{row['id']}", params={"lang": "en"}).text
    assert '<span class="tag lang" lang="zh">中文</span>' in article


def test_an_article_names_its_other_languages_the_reader_may_open(app: FastAPI, portal_store: FalkorDBStore) -> None:
    pairs = portal_store.read(
        "MATCH (t:KnowledgeArticle)-[:TRANSLATION_OF]->(o:KnowledgeArticle)-[:RESOLVES]->(e:ErrorCode) "
        "RETURN t.id AS zh, t.title AS zh_title, o.id AS en, o.title AS en_title, o.confidence AS state, "
        "e.code AS code ORDER BY en"
    )
    assert {p["state"] for p in pairs} >= {"validated", "not-validated"}
    visitor, engineer = Client(app), Client(app, "engineer")
    for p in pairs:
        english = {"id": p["en"], "title": p["en_title"], "language": "en"}
        chinese = {"id": p["zh"], "title": p["zh_title"], "language": "zh"}
        read = visitor.get(f"/api/v1/knowledge/articles/{p['zh']}").json()
        # A visitor is offered the English original only when it is validated (what a visitor may read).
        assert read["translations"] == ([english] if p["state"] == "validated" else [])
        assert p["en"] not in {r["id"] for r in read["related"]}  # a translation is not a "related article"
        staff = engineer.get(f"/api/v1/knowledge/articles/{p['en']}").json()
        assert staff["translations"] == [chinese] and p["zh"] not in {r["id"] for r in staff["related"]}
    both = next(p for p in pairs if p["state"] == "validated")
    question = f"error {both['code']}"
    page = visitor.get("/", params={"q": question, "lang": "en"}).text
    assert f'data-id="{both["zh"]}"' not in page  # one place in the list for the two versions
    item = page[page.index(f'data-id="{both["en"]}"') :].split("</li>")[0]
    assert "Also in:" in item and f'href="/articles/{both["zh"]}?q=error%20{both["code"]}" hreflang="zh"' in item
    article = visitor.get(f"/articles/{both['zh']}", params={"lang": "zh"}).text
    assert "其他语言版本:" in article and f'href="/articles/{both["en"]}" hreflang="en"' in article


def test_chinese_pages_name_the_catalogue_in_chinese(app: FastAPI, portal_store: FalkorDBStore) -> None:
    row = portal_store.read(
        "MATCH (a:KnowledgeArticle {language: 'zh', confidence: 'validated'})-[:APPLIES_TO]->(p:Product), "
        "(a)-[:RESOLVES]->(e:ErrorCode) WHERE a.audience IN ['customer', 'public'] "
        "RETURN a.id AS id, p.id AS product, p.name AS name, p.name_zh AS name_zh, e.code AS code "
        "ORDER BY id, name LIMIT 1"
    )[0]
    assert row["name_zh"] and row["name_zh"] != row["name"]
    visitor = Client(app)

    def links(page: str) -> str:
        return page[page.index('<dl class="links">') :].split("</dl>")[0]

    chinese, english = (visitor.get(f"/articles/{row['id']}", params={"lang": lang}).text for lang in ("zh", "en"))
    assert f">{row['name_zh']} <small>产品</small>" in links(chinese) and row["name"] not in links(chinese)
    assert f">{row['name']} <small>product</small>" in links(english) and row["name_zh"] not in links(english)
    # The evidence's graph paths and what the question was linked to, on a Chinese search page.
    page = visitor.get("/", params={"q": f"{row['name']} {row['code']}", "lang": "zh"}).text
    # The tag of what the question names, linked to its shelf.
    assert f'产品: <a href="/browse?product={row["product"]}">{row["name_zh"]}</a></span>' in page
    item = page[page.index(f'data-id="{row["id"]}"') :].split("</details>")[0]
    assert f'<span class="node">{row["name_zh"]} <small>产品</small></span>' in item
    data = visitor.get("/", params={"q": f"{row['name']} {row['code']}", "lang": "zh", "format": "json"}).json()
    assert {n["name"] for n in data["answer"]["linked"]} >= {row["name"]}  # the JSON keeps the stored names


def test_my_account_reads_in_the_pages_language(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """Statuses in words of the page's language, amounts as people write them, products by their Chinese name."""
    customer = Client(app, "customer1")
    data = customer.get("/my", params={"format": "json"}).json()
    assert data["orders"] and data["cases"] and data["products"]
    chinese, english = (customer.get("/my", params={"lang": lang}).text for lang in ("zh", "en"))
    words = {"delivered": "已送达", "shipped": "已发货", "open": "待处理", "closed": "已关闭", "resolved": "已解决"}
    for order in data["orders"]:
        amount = f"{float(order['total']):,.2f} {order['currency'] or ''}".strip()
        row = f"<td>{words[order['status']]}</td><td>{amount}"
        assert row in chinese and f"<td>{order['status']}</td><td>{amount}" in english, row
    for case in data["cases"]:
        assert f"<td>{words.get(case['status'], case['status'])}</td>" in chinese
    for product in data["products"]:
        name_zh = portal_store.get_node("Product", product["id"])["name_zh"]
        assert f"<td>{name_zh}</td>" in chinese and f"<td>{product['name']}</td>" in english
    # A case's page names its product in the page's language too, the customer's and the engineer's.
    case = next(c for c in data["cases"] if c.get("product_id"))
    name_zh = portal_store.get_node("Product", case["product_id"])["name_zh"]
    mine = customer.get(f"/my/cases/{case['id']}", params={"lang": "zh"}).text
    staff = Client(app, "engineer").get(f"/staff/cases/{case['id']}", params={"lang": "zh"}).text
    assert f" · {name_zh}</p>" in mine and f" · {name_zh}</p>" in staff


def test_form_login_needs_its_csrf_cookie(app: FastAPI) -> None:
    visitor = Client(app)
    form = {"username": "customer3", "password": "customer-demo-1", "csrf_token": "guess"}
    assert visitor.http.post("/login", data=form).status_code == 403
    page = visitor.get("/login")
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    response = visitor.http.post("/login", data={**form, "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/my"


@pytest.mark.parametrize("username", sorted(PASSWORDS))
def test_form_login_lands_on_a_page_the_role_may_open(app: FastAPI, username: str) -> None:
    """Each role's login goes to its own start page, which answers 200 (a marketer or analyst once landed on a 403)."""
    visitor = Client(app)
    token = visitor.get("/login").text.split('name="csrf_token" value="')[1].split('"')[0]
    form = {"username": username, "password": PASSWORDS[username], "csrf_token": token}
    response = visitor.http.post("/login", data=form)
    assert response.status_code == 303
    landing = visitor.get(response.headers["location"])
    assert landing.status_code == 200, (username, response.headers["location"], landing.status_code)


def test_the_demo_analyst_finds_example_queries_that_run(app: FastAPI, portal_store: FalkorDBStore) -> None:
    from kbcrm.access.demo import DEMO_QUERIES, ensure_demo_users

    analyst = Client(app, "analyst")
    demo = [q for q in analyst.get("/api/v1/analyst/saved").json() if q["id"].startswith("query:demo-")]
    assert sorted(q["name"] for q in demo) == sorted(name for name, _, _ in DEMO_QUERIES)
    answered = []
    for query in demo:
        run = analyst.send("POST", f"/api/v1/analyst/saved/{query['id']}/run")
        assert run.status_code == 200, (query["name"], run.text)
        answered += [query["name"]] if run.json()["rows"] else []
    # This graph has no loyalty scores (the loyalty job has not run on it): only the churn example is empty.
    assert len(answered) >= len(DEMO_QUERIES) - 1, answered
    ensure_demo_users(portal_store, enabled=True)  # every `make run` start: the same examples, not copies
    again = [q for q in analyst.get("/api/v1/analyst/saved").json() if q["id"].startswith("query:demo-")]
    assert [(q["id"], q["created_at"]) for q in again] == [(q["id"], q["created_at"]) for q in demo]
    assert 'action="/analyst"' in analyst.get("/analyst").text and DEMO_QUERIES[0][0] in analyst.get("/analyst").text


def test_analyst_queries_are_read_only_limited_and_downloadable(app: FastAPI) -> None:
    analyst = Client(app, "analyst")
    ok = analyst.send(
        "POST",
        "/api/v1/analyst/cypher",
        json={"query": "MATCH (c:Customer) WHERE c.id = $id RETURN c.name AS name", "params": {"id": "cust-0000002"}},
    )
    assert ok.status_code == 200 and ok.json()["rows"][0]["name"]
    for query in (
        "MATCH (c:Customer) SET c.name = 'x'",
        "CREATE (n:Customer {id: 'x'})",
        "MATCH (c) DETACH DELETE c",
        "MERGE (n:Topic {id: 't'})",
        "MATCH (c:Customer) REMOVE c.name",
        "DROP INDEX ON :Customer(id)",
        "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
        "CALL db.idx.fulltext.drop('Customer')",
        "MATCH (c) RETURN c; MATCH (d) DELETE d",
        "match (c:Customer) set c.name = 'lowercase'",
    ):
        refused = analyst.send("POST", "/api/v1/analyst/cypher", json={"query": query})
        assert refused.status_code == 400, query
    # A keyword inside a string literal is data, not a clause.
    quoted = analyst.send("POST", "/api/v1/analyst/cypher", json={"query": "RETURN 'SET DELETE' AS text"})
    assert quoted.json()["rows"] == [{"text": "SET DELETE"}]
    app.state.settings.analyst_row_limit = 5
    try:
        cut = analyst.send("POST", "/api/v1/analyst/cypher", json={"query": "MATCH (o:Order) RETURN o.id AS id"}).json()
    finally:
        app.state.settings.analyst_row_limit = 1000
    assert cut["row_count"] == 5 and cut["truncated"] is True
    csv = analyst.send(
        "POST",
        "/api/v1/analyst/cypher?format=csv",
        json={"query": "MATCH (p:Product) RETURN p.id AS id, p.name AS name ORDER BY id"},
    )
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.splitlines()[0] == "id,name"
    sparql = analyst.send(
        "POST", "/api/v1/analyst/sparql", json={"query": "SELECT (COUNT(?c) AS ?n) WHERE { ?c a kb:Customer }"}
    )
    customers = analyst.send(
        "POST", "/api/v1/analyst/cypher", json={"query": "MATCH (c:Customer) RETURN count(c) AS n"}
    )
    # 40 demo customers, plus any an earlier test created through the API (the fuzzer does)
    assert int(sparql.json()["rows"][0]["n"]) == customers.json()["rows"][0]["n"] >= 40
    for update in ("INSERT DATA { kb:a kb:b kb:c }", "DELETE WHERE { ?s ?p ?o }", "CLEAR ALL", "DROP GRAPH <http://x>"):
        assert analyst.send("POST", "/api/v1/analyst/sparql", json={"query": update}).status_code == 400, update
    saved = analyst.send(
        "POST",
        "/api/v1/analyst/saved",
        json={"name": "tiers", "language": "cypher", "query": "MATCH (c:Customer) RETURN count(c) AS n"},
    )
    assert saved.status_code == 201
    assert (
        analyst.send(
            "POST", "/api/v1/analyst/saved", json={"name": "bad", "language": "cypher", "query": "CREATE (n)"}
        ).status_code
        == 400
    )
    rerun = analyst.send("POST", f"/api/v1/analyst/saved/{saved.json()['id']}/run")
    assert rerun.json()["rows"] == customers.json()["rows"]
    assert Client(app, "marketer").send("POST", f"/api/v1/analyst/saved/{saved.json()['id']}/run").status_code == 403


def test_analyst_query_time_limit(app: FastAPI) -> None:
    analyst = Client(app, "analyst")
    app.state.settings.analyst_query_timeout_ms = 1
    try:
        slow = analyst.send(
            "POST",
            "/api/v1/analyst/cypher",
            json={"query": "UNWIND range(1, 3000000) AS i WITH i WHERE i % 7 = 3 RETURN count(i) AS n"},
        )
    finally:
        app.state.settings.analyst_query_timeout_ms = 10_000
    assert slow.status_code == 408 and _error(slow)["code"] == "query_timeout"


def test_consent_export_and_erasure(app: FastAPI, portal_store: FalkorDBStore) -> None:
    customer = Client(app, "customer3")
    own = customer.me["customer_id"]
    consent = customer.send("PUT", f"/api/v1/customers/{own}/consent/email", json={"granted": True}).json()
    assert consent["email"]["granted"] is True and consent["phone"]["granted"] is False
    assert customer.send("PUT", f"/api/v1/customers/{own}/consent/pigeon", json={"granted": True}).status_code == 400
    assert (
        Client(app, "marketer")
        .send("PUT", f"/api/v1/customers/{own}/consent/email", json={"granted": False})
        .status_code
        == 403
    )
    export = customer.get(f"/api/v1/customers/{own}/export")
    assert export.status_code == 200 and "attachment" in export.headers["content-disposition"]
    data = export.json()
    assert data["id"] == own and data["orders"] and all("lines" in o for o in data["orders"])
    held = portal_store.read("MATCH (c:Customer {id: $id})-[:PLACED]->(o:Order) RETURN count(o) AS orders", id=own)[0][
        "orders"
    ]
    assert len(data["orders"]) == held  # every order, not the 360 view's latest 20
    assert all(
        o["lines"]
        for o in data["orders"]
        if o["id"]
        in {
            r["id"]
            for r in portal_store.read(
                "MATCH (c:Customer {id: $id})-[:PLACED]->(o:Order)-[:CONTAINS]->() RETURN DISTINCT o.id AS id", id=own
            )
        }
    )
    assert all(n["text"] for n in data["notes"]) and data["consents"]["email"]["granted"] is True

    # Erase a customer who has orders but no portal login.
    victim = portal_store.read(
        "MATCH (c:Customer)-[:PLACED]->(o:Order) WHERE NOT c.id IN $logins "
        "RETURN c.id AS id, c.name AS name, c.email AS email, count(o) AS orders ORDER BY id LIMIT 1",
        logins=["cust-0000002", "cust-0000003", "cust-0000004"],
    )[0]
    admin = Client(app, "admin")
    assert Client(app, "engineer").send("DELETE", f"/api/v1/customers/{victim['id']}/personal-data").status_code == 403
    erased = admin.send("DELETE", f"/api/v1/customers/{victim['id']}/personal-data")
    assert erased.status_code == 200, erased.text
    after = admin.get(f"/api/v1/customers/{victim['id']}").json()
    assert after["profile"]["name"] == "(erased)" and after["profile"].get("email") is None
    assert victim["name"] not in str(after) and (not victim["email"] or victim["email"] not in str(after))
    assert len(admin.get(f"/api/v1/customers/{victim['id']}/orders", params={"limit": 500}).json()) == victim["orders"]
    tombstone = admin.get("/api/v1/admin/audit", params={"target": victim["id"], "action": "erase"}).json()
    assert tombstone and victim["name"] not in str(tombstone)


def test_kept_signed_in_users_never_outlive_a_change_made_through_the_same_process(
    falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    """KBCRM_SESSION_CACHE_SECONDS keeps the user behind a cookie; a logout, a saved login or an erasure drops it."""
    store = falkordb_store
    store.upsert_nodes(Label.Customer, [{"id": "cust-keep", "name": "Keep GmbH"}])
    users.create_user(store, username="boss", password="boss-pass-1", role="admin")
    users.create_user(store, username="keeper", password="keeper-pass-1", role="engineer")
    users.create_user(store, username="buyer", password="buyer-pass-1", role="customer", customer_id="cust-keep")
    app = create_app(Settings(data_dir=tmp_path, session_cache_seconds=60), store=store)
    kept = app.state.signed_in
    admin = Client(app, "boss", "boss-pass-1")
    engineer = Client(app, "keeper", "keeper-pass-1")
    customer = Client(app, "buyer", "buyer-pass-1")

    # A signed-in user's next request is answered from the kept user: no graph read.
    assert engineer.get("/api/v1/auth/me").json()["role"] == "engineer"
    hits = kept.hits
    assert engineer.get("/api/v1/auth/me").json()["role"] == "engineer"
    assert kept.hits == hits + 1

    # An admin saves the login with another role: its very next request has that role.
    saved = admin.send(
        "POST", "/api/v1/admin/users", json={"username": "keeper", "password": "keeper-pass-2", "role": "analyst"}
    )
    assert saved.status_code == 201, saved.text
    assert engineer.get("/api/v1/auth/me").json()["role"] == "analyst"

    # Erasing the customer ends its portal login's session at once.
    assert customer.get("/api/v1/auth/me").json()["customer_id"] == "cust-keep"
    assert admin.send("DELETE", "/api/v1/customers/cust-keep/personal-data").status_code == 200
    assert customer.get("/api/v1/auth/me").status_code == 401

    # Logging out ends the session at once, for the replayed cookie too.
    cookie = engineer.http.cookies.get(sessions.SESSION_COOKIE)
    assert engineer.send("POST", "/api/v1/auth/logout").status_code == 200
    replay = Client(app)
    replay.http.cookies.set(sessions.SESSION_COOKIE, cookie)
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_a_logout_through_another_process_reaches_a_kept_user_within_its_age(
    falkordb_store: FalkorDBStore, tmp_path: Path
) -> None:
    """Two server processes on one graph: a logout in one ends the session in the other within the kept age."""
    store = falkordb_store
    users.create_user(store, username="keeper", password="keeper-pass-1", role="engineer")
    age = 0.5
    here = create_app(Settings(data_dir=tmp_path, session_cache_seconds=age), store=store)
    there = create_app(Settings(data_dir=tmp_path, session_cache_seconds=age), store=store)
    uncached = create_app(Settings(data_dir=tmp_path, session_cache_seconds=0), store=store)
    engineer = Client(here, "keeper", "keeper-pass-1")
    old = engineer.http.cookies.get(sessions.SESSION_COOKIE)
    assert engineer.get("/api/v1/auth/me").status_code == 200  # kept here, with the old session version

    def me(app: FastAPI, cookie: str) -> int:
        client = Client(app)
        client.http.cookies.set(sessions.SESSION_COOKIE, cookie)
        status: int = client.get("/api/v1/auth/me").status_code
        return status

    # Logged out and in again over there: the new cookie works here at once (a newer session version is read).
    elsewhere = Client(there, "keeper", "keeper-pass-1")
    assert elsewhere.send("POST", "/api/v1/auth/logout").status_code == 200
    again = Client(there, "keeper", "keeper-pass-1")
    new = again.http.cookies.get(sessions.SESSION_COOKIE)
    assert me(here, new) == 200  # kept here from now on
    assert me(here, old) == 401

    # Logged out over there: a process that keeps nothing refuses the cookie at once, this one within the age.
    logged_out = time.monotonic()
    assert again.send("POST", "/api/v1/auth/logout").status_code == 200
    assert me(uncached, new) == 401
    assert uncached.state.signed_in.hits == 0
    time.sleep(max(0.0, logged_out + age + 0.05 - time.monotonic()))
    assert me(here, new) == 401


def test_demo_logins_can_be_turned_off(falkordb_store: FalkorDBStore) -> None:
    from kbcrm.access import users
    from kbcrm.access.demo import ensure_demo_users

    users.create_user(falkordb_store, username="admin", password="admin-demo-1", role="admin")
    assert users.authenticate(falkordb_store, username="admin", password="admin-demo-1") is not None
    assert ensure_demo_users(falkordb_store, enabled=False) == []
    assert users.authenticate(falkordb_store, username="admin", password="admin-demo-1") is None


def test_a_password_hashed_with_older_settings_still_logs_in_and_is_rehashed(falkordb_store: FalkorDBStore) -> None:
    from argon2 import PasswordHasher

    users.create_user(falkordb_store, username="old-hash", password="old-hash-pass-1", role="engineer")
    older = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash("old-hash-pass-1")  # until 2026-11-25
    uid = users.user_id("old-hash")
    falkordb_store.upsert_nodes(Label.User, [{"id": uid, "password_hash": older}])
    assert users.authenticate(falkordb_store, username="old-hash", password="wrong-pass-1") is None
    assert falkordb_store.read(users.USER, id=uid)[0]["password_hash"] == older  # a wrong password changes nothing
    assert users.authenticate(falkordb_store, username="old-hash", password="old-hash-pass-1") is not None
    rehashed = falkordb_store.read(users.USER, id=uid)[0]["password_hash"]
    assert rehashed.startswith("$argon2id$v=19$m=7168,t=5,p=1$")  # OWASP's 7 MiB, 5 passes setting
    assert users.authenticate(falkordb_store, username="old-hash", password="old-hash-pass-1") is not None


def test_passwords_are_checked_by_libsodium_with_hash_strings_argon2_cffi_reads(
    falkordb_store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from argon2 import PasswordHasher, Type

    users.create_user(falkordb_store, username="sodium", password="sodium-pass-1", role="engineer")
    uid = users.user_id("sodium")
    made = falkordb_store.read(users.USER, id=uid)[0]["password_hash"]
    assert made.startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    current = PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1)
    assert current.verify(made, "sodium-pass-1")  # a standard string: argon2-cffi reads libsodium's hash
    assert not current.check_needs_rehash(made)

    # An argon2id hash is checked by libsodium alone: with argon2-cffi's verify refusing, logins still work.
    class Refusing:
        def verify(self, *_: str) -> None:
            pytest.fail("an argon2id hash went to argon2-cffi")

        def check_needs_rehash(self, stored: str) -> bool:
            return current.check_needs_rehash(stored)

    with monkeypatch.context() as patched:
        patched.setattr(users, "_HASHER", Refusing())
        assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-1") is not None
        assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-2") is None
    # argon2-cffi's own argon2id hash, same parameters: logs in as it is (libsodium reads it, no re-hash).
    theirs = current.hash("sodium-pass-1")
    falkordb_store.upsert_nodes(Label.User, [{"id": uid, "password_hash": theirs}])
    assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-1") is not None
    assert falkordb_store.read(users.USER, id=uid)[0]["password_hash"] == theirs
    # argon2i (which libsodium's argon2id check does not read) goes to argon2-cffi and is re-hashed as argon2id.
    older = PasswordHasher(time_cost=3, memory_cost=8192, parallelism=1, type=Type.I).hash("sodium-pass-1")
    falkordb_store.upsert_nodes(Label.User, [{"id": uid, "password_hash": older}])
    assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-2") is None
    assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-1") is not None
    assert falkordb_store.read(users.USER, id=uid)[0]["password_hash"].startswith("$argon2id$v=19$m=7168,t=5,p=1$")
    # A damaged hash refuses every password, with neither library raising past authenticate.
    for damaged in ("$argon2id$v=19$m=7168,t=5,p=1$c2FsdA$bm90LWEtaGFzaA", "$argon2id$garbage", "plain-text"):
        falkordb_store.upsert_nodes(Label.User, [{"id": uid, "password_hash": damaged}])
        assert users.authenticate(falkordb_store, username="sodium", password="sodium-pass-1") is None


def test_every_ui_string_exists_in_english_and_chinese() -> None:
    from api.pages.i18n import STRINGS

    assert set(STRINGS["en"]) == set(STRINGS["zh"])
    templates = Path(__file__).resolve().parent.parent / "api" / "templates"
    used = {m for f in templates.glob("*.html") for m in re.findall(r"\bt\.(\w+)", f.read_text())}
    assert used <= set(STRINGS["en"]), f"UI strings used but not defined: {sorted(used - set(STRINGS['en']))}"


def test_pages_show_times_as_people_read_them(app: FastAPI) -> None:
    from api.pages.render import when

    assert when("2026-12-07T15:02:36+00:00") == "2026-12-07 15:02 UTC"
    assert when("2026-12-07T15:02:36+08:00") == "2026-12-07 15:02 UTC+08:00"
    assert when("2025-10-25T19:39:00") == "2025-10-25 19:39"
    assert when("2024-08-12") == "2024-08-12" and when(None) == "" and when("not a time") == "not a time"
    iso_time = re.compile(r">[^<]*\d{4}-\d\d-\d\dT\d\d:\d\d")  # an ISO timestamp in a page's text
    queue = Client(app, "engineer").get("/staff")
    assert queue.status_code == 200 and "<table" in queue.text and not iso_time.search(queue.text)
    account = Client(app, "customer1").get("/my")
    assert account.status_code == 200 and not iso_time.search(account.text)


def test_summaries_lose_their_markdown_markers() -> None:
    from api.pages.render import plain

    text = "## Issue The unit shows E-1020. ## Cause Bearing wear."
    assert plain(text) == "Issue: The unit shows E-1020. Cause: Bearing wear."


def test_export_holds_every_order_and_its_lines(falkordb_store: FalkorDBStore) -> None:
    from kbcrm.access.models import Principal, Role
    from kbcrm.customers.privacy import export_customer

    store = falkordb_store
    store.upsert_nodes("Customer", [{"id": "c1", "name": "Acme"}])
    store.upsert_nodes("Order", [{"id": f"o{i:02d}", "order_date": f"2026-01-{i + 1:02d}"} for i in range(25)])
    store.upsert_nodes("OrderLine", [{"id": f"o{i:02d}-1", "line_number": 1, "quantity": i} for i in range(25)])
    store.upsert_relationships(
        "PLACED", [{"start": "c1", "end": f"o{i:02d}"} for i in range(25)], start_label="Customer", end_label="Order"
    )
    store.upsert_relationships(
        "CONTAINS",
        [{"start": f"o{i:02d}", "end": f"o{i:02d}-1"} for i in range(25)],
        start_label="Order",
        end_label="OrderLine",
    )
    data = export_customer(store, principal=Principal("user:a", "A", Role.admin), customer_id="c1")
    assert data is not None and len(data["orders"]) == 25
    assert all(
        o["lines"]
        == [{"line": 1, "product": None, "product_name": None, "quantity": int(o["id"][1:]), "unit_price": None}]
        for o in data["orders"]
    )


def test_a_built_knowledge_base_is_left_out_of_garbage_collections_and_a_replaced_one_is_still_freed(
    portal_store: FalkorDBStore, portal_kb: Any
) -> None:
    from api.deps import knowledge_changed

    application = create_app(Settings(data_dir=portal_kb.settings.data_dir), store=portal_store)  # builds its own
    visitor = Client(application)
    gc.unfreeze()
    assert visitor.get("/api/v1/knowledge/search", params={"q": "pump leaking"}).status_code == 200
    built = weakref.ref(application.state.kb)
    # frozen: full collections no longer walk the knowledge base (a 150 ms stall of the worker each, before)
    assert gc.get_freeze_count() > 10_000 and not any(o is built() for o in gc.get_objects())
    knowledge_changed(application)
    wait_for_knowledge(application)
    assert application.state.kb is not built()
    assert built() is None  # the replaced one was unfrozen and collected (it holds reference cycles)
    assert visitor.get("/api/v1/knowledge/search", params={"q": "pump leaking"}).status_code == 200
    gc.unfreeze()  # the rest of the suite runs with an ordinary collector


def test_the_served_app_builds_its_knowledge_base_before_it_takes_a_request(
    portal_store: FalkorDBStore, portal_kb: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from fastapi.testclient import TestClient

    settings = Settings(data_dir=portal_kb.settings.data_dir)
    lazy = create_app(settings, store=portal_store)
    with TestClient(lazy):  # start-up done, no request yet: the first question will build it
        assert getattr(lazy.state, "kb", None) is None
    served = create_app(settings, store=portal_store, build_knowledge=True)  # what `kbcrm serve` runs
    gc.unfreeze()
    try:
        with TestClient(served) as http:
            # built, and the heap settled (frozen), during start-up: before any request reached the worker
            assert served.state.kb is not None and gc.get_freeze_count() > 10_000
            built = served.state.kb
            assert http.get("/api/v1/knowledge/search", params={"q": "pump leaking"}).json()["suggestions"]
            assert served.state.kb is built
    finally:
        gc.unfreeze()
    # A build that fails at start-up is logged; the app serves the rest, and the first question tries again.
    real = KnowledgeBase.from_graph

    def fail(*args: Any, **kwargs: Any) -> KnowledgeBase:
        raise RuntimeError("the graph went away")

    monkeypatch.setattr(KnowledgeBase, "from_graph", fail)
    failing = create_app(settings, store=portal_store, build_knowledge=True)
    with caplog.at_level("ERROR", logger="kbcrm.api"), TestClient(failing) as http:
        assert "building the knowledge base at start-up failed" in caplog.text
        assert getattr(failing.state, "kb", None) is None and http.get("/health").status_code == 200
        monkeypatch.setattr(KnowledgeBase, "from_graph", real)
        assert http.get("/api/v1/knowledge/search", params={"q": "pump leaking"}).json()["suggestions"]
        assert failing.state.kb is not None
    gc.unfreeze()


def test_an_edited_article_is_searchable_without_a_restart(portal_store: FalkorDBStore, portal_kb: Any) -> None:
    # Its own app on the portal graph, sharing the fixture's vector cache (only changed texts are embedded).
    application = create_app(
        Settings(data_dir=portal_kb.settings.data_dir), store=portal_store, knowledge_base=portal_kb
    )
    article = portal_store.read(
        "MATCH (a:KnowledgeArticle {confidence: 'validated'}) WHERE a.audience IN ['customer', 'public'] "
        "AND a.language = 'en' RETURN a.id AS id, a.body AS body ORDER BY a.id LIMIT 1"
    )[0]
    visitor, engineer = Client(application), Client(application, "engineer")

    def found() -> list[str]:
        answer = visitor.get("/api/v1/knowledge/search", params={"q": "zebraquartz"}).json()
        return [s["id"] for s in answer["suggestions"] if "zebraquartz" in s["evidence"]["matched_terms"]]

    assert found() == []
    edited = engineer.send(
        "PATCH", f"/api/v1/knowledge/articles/{article['id']}", json={"body": article["body"] + " See zebraquartz."}
    )
    assert edited.status_code == 200
    wait_for_knowledge(application)
    assert application.state.kb is not portal_kb  # rebuilt in the background and swapped in
    assert found() == [article["id"]]
    url = f"/api/v1/knowledge/articles/{article['id']}/confidence"
    assert engineer.send("PUT", url, json={"state": "archived"}).status_code == 200
    wait_for_knowledge(application)
    assert found() == []  # an archived article leaves the portal at once, without a restart
    for state in ("not-validated", "validated"):
        assert engineer.send("PUT", url, json={"state": state}).status_code == 200
    wait_for_knowledge(application)
    assert found() == [article["id"]]


def test_an_article_ingested_by_another_process_reaches_the_running_server(
    portal_store: FalkorDBStore, portal_kb: Any, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from ingest.articles import ingest_articles

    settings = Settings(data_dir=portal_kb.settings.data_dir, knowledge_poll_seconds=0.2)
    application = create_app(settings, store=portal_store)
    engineer = Client(application, "engineer")

    def found() -> list[str]:
        answer = engineer.get("/api/v1/knowledge/search", params={"q": "quokkafrost"}).json()
        return [s["id"] for s in answer["suggestions"] if "quokkafrost" in s["evidence"]["matched_terms"]]

    with TestClient(application):  # runs the lifespan: the knowledge watcher polls the graph
        assert found() == []  # builds the knowledge base
        built = application.state.kb
        (tmp_path / "kb-watch.md").write_text(
            "---\nid: kb-watch\ntitle: Quokkafrost sensor icing\nauthor: emp-001\naudience: internal\n"
            "language: en\nconfidence: validated\n---\nDe-ice the quokkafrost sensor before restart.\n"
        )
        try:
            # What `kbcrm ingest articles` does in another process: it writes to the graph only.
            ingest_articles(portal_store, tmp_path, data_dir=tmp_path / "ingest")
            deadline = time.monotonic() + 60
            while application.state.kb is built and time.monotonic() < deadline:
                time.sleep(0.1)
            wait_for_knowledge(application)
            assert found() == ["kb-watch"]
        finally:
            portal_store.execute("MATCH (a:KnowledgeArticle {id: 'kb-watch'}) DETACH DELETE a")
            portal_store.execute("MATCH (v:ArticleVersion) WHERE v.id STARTS WITH 'kb-watch@' DETACH DELETE v")


def test_an_article_page_is_reused_while_its_version_stands(
    app: FastAPI, portal_store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages, visitor, engineer = app.state.article_pages, Client(app), Client(app, "engineer")
    row = portal_store.read(
        "MATCH (a:KnowledgeArticle {audience: 'customer', confidence: 'validated'}) "
        "RETURN a.id AS id, a.title AS title, a.version AS version, a.updated_at AS updated ORDER BY a.id LIMIT 1"
    )[0]
    url = f"/api/v1/knowledge/articles/{row['id']}"
    counters = {"views", "helpful", "not_helpful"}

    def restore(title: str, version: int, updated: str, audience: str = "customer") -> None:
        portal_store.execute(
            "MATCH (a:KnowledgeArticle {id: $id}) SET a.title = $title, a.version = $version, "
            "a.updated_at = $updated, a.audience = $audience",
            {"id": row["id"], "title": title, "version": version, "updated": updated, "audience": audience},
        )

    try:
        first = visitor.get(url).json()
        assert pages.get((row["id"], False)) is not None and pages.get((row["id"], True)) is None
        second = visitor.get(url).json()
        assert second["views"] == first["views"] + 1  # every read counts, and shows the count including itself
        assert {k: v for k, v in second.items() if k not in counters} == {
            k: v for k, v in first.items() if k not in counters
        }

        # A kept page is read on the event loop: the view is counted through the store's asynchronous client,
        # with no worker thread (neither the route's nor the store's fallback).
        def no_thread(*_: object, **__: object) -> None:
            raise AssertionError("a kept article page was read on a worker thread")

        with monkeypatch.context() as patched:
            patched.setattr(anyio.to_thread, "run_sync", no_thread)
            third = visitor.get(url)
        assert third.status_code == 200 and third.json()["views"] == second["views"] + 1
        # The kept page answers: a write that leaves version and updated_at alone is not read again ...
        restore("Unversioned title", row["version"], row["updated"])
        assert visitor.get(url).json()["title"] == row["title"]
        # ... while a new version, written by any process (an edit, a re-ingest), shows at once.
        restore("Versioned title", row["version"] + 1, "2031-01-01T00:00:00Z")
        assert visitor.get(url).json()["title"] == "Versioned title"
        # Moved out of the customers' audience: a 404 at once, nothing counted, the page dropped; staff still read it.
        restore("Versioned title", row["version"] + 2, "2031-01-02T00:00:00Z", audience="internal")
        views = portal_store.read("MATCH (a:KnowledgeArticle {id: $id}) RETURN a.view_count AS v", id=row["id"])[0]
        assert visitor.get(url).status_code == 404 and pages.get((row["id"], False)) is None
        assert portal_store.read("MATCH (a:KnowledgeArticle {id: $id}) RETURN a.view_count AS v", id=row["id"]) == [
            views
        ]
        assert engineer.get(url).json()["audience"] == "internal"
        # A page is no older than max_age_s (the knowledge watcher's interval): after that it is read again.
        restore(row["title"], row["version"], row["updated"])
        pages.clear()
        assert visitor.get(url).json()["title"] == row["title"]
        restore("Unversioned title", row["version"], row["updated"])
        max_age, pages.max_age_s = pages.max_age_s, 0.0
        try:
            assert visitor.get(url).json()["title"] == "Unversioned title"
        finally:
            pages.max_age_s = max_age
    finally:
        restore(row["title"], row["version"], row["updated"])
        pages.clear()


def test_a_repeated_question_is_answered_from_kept_answers_never_another_readers(
    app: FastAPI, portal_store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_for_knowledge(app)  # a rebuild started by an earlier test would swap app.state.kb mid-test
    kb = app.state.kb
    first, second, visitor = Client(app, "customer1"), Client(app, "customer2"), Client(app)
    question = {"q": "pump makes noise after restart"}
    kb.answers.clear()
    hits = kb.answers.hits
    response = first.get("/api/v1/knowledge/search", params=question)
    asked = response.json()

    def refuse(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a kept answer went to the worker-thread path")

    # The repeat is the kept answer's JSON text itself, sent from the event loop (portal.answer_json is
    # what the route runs on a worker thread for a question it has no answer to).
    with monkeypatch.context() as patched:
        patched.setattr(portal, "answer_json", refuse)
        again = first.get("/api/v1/knowledge/search", params=question)
    assert again.content == response.content and again.headers["content-type"] == "application/json"
    assert asked["suggestions"] and json.loads(again.content) == asked
    assert kb.answers.hits == hits + 1
    # Another customer, and a visitor, asking the same get their own answers, computed for them.
    for client, customer in ((second, second.me["customer_id"]), (visitor, None)):
        got = client.get("/api/v1/knowledge/search", params=question).json()
        fresh = answer(kb, portal_store, question["q"], customer_id=customer, audience="customer").to_dict()
        assert got == json.loads(json.dumps(fresh))
    assert kb.answers.hits == hits + 1


def test_a_new_question_needing_no_graph_read_is_answered_on_the_event_loop(
    app: FastAPI, portal_store: FalkorDBStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    wait_for_knowledge(app)
    kb = app.state.kb
    assert kb.encodes_in_place  # the default int8 models encode on the asking thread
    customer, visitor = Client(app, "customer3"), Client(app)
    customer_id = customer.me["customer_id"]
    threads: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(call: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(getattr(call, "func", call).__name__)  # run_in_threadpool passes a functools.partial
        return await real(call, *args, **kwargs)

    kb.customers.drop(customer_id)
    with monkeypatch.context() as patched:
        patched.setattr(anyio.to_thread, "run_sync", counted)
        # Not kept yet: the customer's installed base is read from the graph, on a worker thread.
        first = customer.get("/api/v1/knowledge/search", params={"q": "leak on the pump since update 1"})
        assert first.status_code == 200 and threads == ["answer_json"]
        assert kb.customers.get(customer_id) is not None
        # Kept now: the next new question is computation only, answered without a worker thread.
        second = customer.get("/api/v1/knowledge/search", params={"q": "leak on the pump since update 2"})
        visitor_answer = visitor.get("/api/v1/knowledge/search", params={"q": "alarm on HP-50 since update 3"})
        assert threads == ["answer_json"]
    assert second.status_code == visitor_answer.status_code == 200
    for response, who in ((second, customer_id), (visitor_answer, None)):
        asked = response.json()
        fresh = answer(kb, portal_store, asked["question"], customer_id=who, audience="customer").to_dict()
        assert asked["suggestions"] and asked == json.loads(json.dumps(fresh))


def test_recent_keeps_values_for_a_bounded_time_and_number() -> None:
    recent: Recent[str, int] = Recent(max_age_s=60, max_items=2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1
    recent.put("c", 3)  # beyond max_items: the least recently kept ("a") goes
    assert (recent.get("a"), recent.get("b"), recent.get("c")) == (None, 2, 3)
    recent.max_age_s = 0.05
    time.sleep(0.1)
    assert recent.get("c") is None


def test_expert_finder_lists_topics_to_ask_about(app: FastAPI, portal_store: FalkorDBStore) -> None:
    engineer = Client(app, "engineer")
    topics = portal_store.read(
        "MATCH (t:Topic) OPTIONAL MATCH (a:KnowledgeArticle)-[:ON_TOPIC]->(t) "
        "RETURN t.id AS id, t.name AS name, t.name_zh AS zh, count(a) AS n ORDER BY name"
    )
    assert topics and any(t["n"] for t in topics)
    listed = engineer.get("/staff/experts", params={"format": "json"}).json()["topics"]
    assert [(t["id"], t["articles"]) for t in listed] == [(t["id"], t["n"]) for t in topics]
    page = engineer.get("/staff/experts").text
    first = topics[0]
    assert 'id="expert-topics"' in page and f'<a href="?q={quote(first["name"])}">{first["name"]}</a>' in page
    chinese = engineer.get("/staff/experts", params={"lang": "zh"}).text
    assert f">{first['zh']}</a>" in chinese  # the topic's Chinese name; the link asks in the stored name
    busiest = max(topics, key=lambda t: t["n"])
    found = engineer.get("/staff/experts", params={"q": busiest["name"], "format": "json"}).json()
    assert found["experts"] and found["topics"] == [] and all(e["evidence"]["paths"] for e in found["experts"])


def test_the_portal_says_when_nothing_matches_well(app: FastAPI) -> None:
    visitor = Client(app)
    data = visitor.get("/api/v1/knowledge/search", params={"q": "how do I bake sourdough bread"}).json()
    weak = data["weak_match"]
    assert weak and weak["best_similarity"] < weak["threshold"] and data["suggestions"]
    page = visitor.get("/", params={"q": "how do I bake sourdough bread"}).text
    assert 'class="weak-match"' in page and f"only {weak['best_similarity']:.2f} similar" in page
    assert 'class="weak-match"' not in visitor.get("/", params={"q": "excessive vibration"}).text
    customer = Client(app, "customer1")
    mine = customer.get("/", params={"q": "who won the football match", "lang": "zh"}).text
    assert "没有与您的问题高度匹配的内容" in mine and '<a href="/my/cases/new">' in mine[mine.index("weak-match") :]
    experts = Client(app, "engineer").get("/staff/experts", params={"q": "how do I bake sourdough bread"})
    assert "Nobody has written" in experts.text and 'id="expert-topics"' in experts.text


def test_error_pages_say_what_happened_in_the_pages_language(app: FastAPI) -> None:
    customer = Client(app, "customer1")
    html_page = {"Accept": "text/html"}
    missing = customer.http.get("/articles/kb-no-such-article", headers=html_page, params={"lang": "zh"})
    assert missing.status_code == 404 and "没有这个页面或记录，或您无权查看。" in missing.text
    assert "kb-no-such-article" in missing.text  # the message itself stays, under the explanation
    staff_only = customer.http.get("/staff", headers=html_page, params={"lang": "en"})
    assert staff_only.status_code == 403 and "Your role may not do this." in staff_only.text
    api = customer.http.get("/api/v1/knowledge/articles/kb-no-such-article")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"  # the API body is unchanged


def test_recommendations_with_their_reasons_for_customers_and_staff(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """A customer sees articles for their own products, each with its reason and graph path, on /my and in the
    API (in the page's language); staff see them with cross-sell and next-best actions on the customer 360."""
    customer = Client(app, "customer1")
    own = customer.me["customer_id"]
    english = customer.get(f"/api/v1/customers/{own}/recommendations").json()
    chinese = customer.get(f"/api/v1/customers/{own}/recommendations", params={"language": "zh"}).json()
    assert set(english) == {"customer_id", "articles"} and english["articles"]
    assert [a["reason"] for a in english["articles"]] == [a["reason"] for a in chinese["articles"]]
    # A Chinese version for an English reader only where it is the one published (then the Chinese reader gets it too).
    in_english, in_chinese = ({a["id"]: a["language"] for a in r["articles"]} for r in (english, chinese))
    assert all(in_chinese.get(i) == "zh" for i, language in in_english.items() if language == "zh")
    assert sum(v == "zh" for v in in_chinese.values()) > sum(v == "zh" for v in in_english.values())
    assert customer.get("/api/v1/customers/cust:none/recommendations").status_code == 403
    page = html.unescape(customer.get("/my", params={"lang": "en"}).text)
    listed = re.findall(r'<li class="recommendation article" data-id="([^"]+)">', page)
    assert listed == [a["id"] for a in english["articles"]]
    words = re.sub(r"<[^>]+>", "", page)
    for item in english["articles"]:
        assert item["reason"] in words and item["why"]["issue_name"] in page
        if item["why"]["key"] == "own_issue":  # the case the reason names links to the customer's page of it
            assert f'(latest <a href="/my/cases/{quote(item["why"]["latest_case"], safe="")}">' in page
    assert any(item["why"]["key"] == "own_issue" for item in english["articles"])
    page_zh = html.unescape(customer.get("/my", params={"lang": "zh"}).text)
    for item in chinese["articles"]:
        why = item["why"]
        issue = portal_store.get_node(why["issue_label"], why["issue"])
        issue_zh = issue.get("name_zh") or why["issue_name"]
        assert f"报告了“{issue_zh}”" in page_zh or f"报告过“{issue_zh}”" in page_zh, issue_zh
        assert f"{why['cases']} 个服务案例" in page_zh
    assert "You own" not in page_zh and "You reported" not in page_zh and "推荐理由" in page_zh
    mine = customer.get("/my", params={"format": "json", "lang": "en"}).json()
    assert mine["recommended"] == english["articles"]

    staff = Client(app, "engineer")
    full = staff.get(f"/api/v1/customers/{own}/recommendations").json()
    assert full["articles"] == english["articles"] and full["products"]
    assert staff.get("/api/v1/customers/cust:none/recommendations").status_code == 404
    page = html.unescape(staff.get(f"/staff/customers/{own}").text)
    for section in ("rec-actions", "rec-articles", "rec-products"):
        assert f'id="{section}"' in page
    for product in full["products"]:
        assert product["reason"] in page
    for item in full["articles"]:
        if item["why"]["key"] == "own_issue":
            assert f'(latest <a href="/staff/cases/{quote(item["why"]["latest_case"], safe="")}">' in page
    # The staff page speaks of the customer, not to them.
    assert "You own" not in page and "You reported" not in page


def test_a_case_lists_only_the_linked_articles_its_reader_may_open(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """An engineer may link a draft (not validated) article to a customer's case; the customer's case page and
    API do not name it (its title is internal until it is validated), the engineer's do."""
    customer, engineer = Client(app, "customer1"), Client(app, "engineer")
    case = customer.get("/api/v1/cases", params={"limit": 1}).json()[0]["id"]
    draft = portal_store.read(
        "MATCH (a:KnowledgeArticle {audience: 'customer'}) WHERE a.confidence <> 'validated' "
        "RETURN a.id AS id, a.title AS title ORDER BY id LIMIT 1"
    )[0]
    linked = engineer.send("POST", f"/api/v1/cases/{case}/articles", json={"article_id": draft["id"]})
    assert linked.status_code == 201, linked.text
    try:
        assert draft["id"] in {a["id"] for a in engineer.get(f"/api/v1/cases/{case}").json()["articles"]}
        assert draft["title"] in engineer.get(f"/staff/cases/{case}").text
        assert draft["id"] not in {a["id"] for a in customer.get(f"/api/v1/cases/{case}").json()["articles"]}
        assert draft["title"] not in html.unescape(customer.get(f"/my/cases/{case}").text)
    finally:
        portal_store.run(
            "MATCH (a:KnowledgeArticle {id: $a})-[r:LINKED_TO_CASE]->(:ServiceCase {id: $k}) DELETE r",
            a=draft["id"],
            k=case,
        )


def test_an_open_case_page_suggests_articles_that_may_solve_it(app: FastAPI, portal_store: FalkorDBStore) -> None:
    """While a case is active the customer's page offers up to three readable articles with why; not once it is
    closed, and not an article already linked to the case."""
    customer, engineer = Client(app, "customer1"), Client(app, "engineer")
    products = customer.get(f"/api/v1/customers/{customer.me['customer_id']}/products").json()
    code = portal_store.read(
        "MATCH (p:Product {id: $p})<-[:APPLIES_TO]-(a:KnowledgeArticle {confidence: 'validated'})-[:RESOLVES]->"
        "(e:ErrorCode) WHERE a.audience IN ['customer', 'public'] RETURN e.code AS code ORDER BY code LIMIT 1",
        p=products[0]["id"],
    )[0]["code"]
    subject = f"Display shows {code}"
    opened = customer.send("POST", "/api/v1/cases", json={"subject": subject, "product_id": products[0]["id"]})
    case_id = opened.json()["id"]
    expected = customer.get(f"/api/v1/cases/{case_id}/suggestions").json()["suggestions"]
    page = html.unescape(customer.get(f"/my/cases/{case_id}", params={"lang": "en"}).text)
    shown = re.findall(r'<li class="result article" data-id="([^"]+)">', page)
    assert shown and shown == [s["id"] for s in expected][:3]
    assert "Articles that may solve this" in page and page.count('<details class="why">') == len(shown)
    assert code in page[page.index('id="may-help"') :]
    # An article linked to the case is listed as related, not suggested again.
    engineer.send("POST", f"/api/v1/cases/{case_id}/articles", json={"article_id": shown[0]})
    again = html.unescape(customer.get(f"/my/cases/{case_id}", params={"lang": "en"}).text)
    assert shown[0] not in re.findall(r'<li class="result article" data-id="([^"]+)">', again)
    engineer.send("PATCH", f"/api/v1/cases/{case_id}", json={"status": "closed"})
    closed = customer.get(f"/my/cases/{case_id}", params={"lang": "en"}).text
    assert 'id="may-help"' not in closed
