"""Business operations over real HTTP: API lifecycles (409 possible duplicate, stage moves, touches) and the
staff console pages (new customer with the duplicate answer, timeline, pipeline, forecast, opportunity)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from api.app import create_app
from kbcrm.access.demo import ensure_demo_users
from kbcrm.demo.consents import seed_demo_consents
from kbcrm.demo.load import load_demo
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.settings import Settings
from tests.portal_client import Client


@pytest.fixture
def app(falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> Iterator[FastAPI]:
    """The demo set on its own graph (these tests write), with the demo logins."""
    load_demo(falkordb_store, demo_dir, include_articles=False)
    ensure_demo_users(falkordb_store, enabled=True)
    yield create_app(Settings(data_dir=tmp_path), store=falkordb_store)


def _a_customer(store: FalkorDBStore) -> dict[str, str]:
    return store.read(
        "MATCH (c:Customer:Organization) WHERE c.email IS NOT NULL "
        "RETURN c.id AS id, c.name AS name, c.email AS email, c.city AS city ORDER BY c.id LIMIT 1"
    )[0]


def test_customer_api_duplicate_answer_then_force(app: FastAPI, falkordb_store: FalkorDBStore) -> None:
    known = _a_customer(falkordb_store)
    engineer = Client(app, "engineer")
    body = {"kind": "organization", "name": known["name"], "email": known["email"], "city": known["city"]}
    answer = engineer.send("POST", "/api/v1/customers", json=body)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "possible_duplicate" and known["id"] in error["message"]
    assert error["candidates"][0]["customer_id"] == known["id"] and "email" in error["candidates"][0]["agreed"]
    created = engineer.send("POST", "/api/v1/customers", json={**body, "force": True})
    assert created.status_code == 201, created.text
    new_id = created.json()["id"]
    changed = engineer.send("PATCH", f"/api/v1/customers/{new_id}", json={"city": "Lisbon"})
    assert changed.json()["city"] == "Lisbon"
    bad = engineer.send("PATCH", f"/api/v1/customers/{new_id}", json={"country": "XX1"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "country"
    archived = engineer.send("POST", f"/api/v1/customers/{new_id}/archive", json={"reason": "duplicate entry"})
    assert archived.json()["status"] == "archived"
    parent = engineer.send("PUT", f"/api/v1/customers/{new_id}/parent", json={"parent_id": known["id"]})
    assert [p["id"] for p in parent.json()["parents"]] == [known["id"]]
    group = engineer.get(f"/api/v1/customers/{known['id']}/group").json()
    assert new_id in [s["id"] for s in group["subsidiaries"]]
    contact = engineer.send(
        "POST", f"/api/v1/customers/{known['id']}/contacts", json={"name": "Ida Berg", "role": "technical"}
    )
    assert contact.status_code == 201
    touch = engineer.send(
        "POST",
        f"/api/v1/customers/{known['id']}/touches",
        json={
            "channel": "fax",
            "direction": "inbound",
            "subject": "Spare parts list",
            "contact_id": contact.json()["id"],
        },
    )
    assert touch.status_code == 201 and touch.json()["contact"] == "Ida Berg"
    timeline = engineer.get(f"/api/v1/customers/{known['id']}/timeline?kinds=touch&limit=1").json()
    assert timeline[0]["title"] == "Spare parts list"


def test_opportunity_api_lifecycle(app: FastAPI, falkordb_store: FalkorDBStore) -> None:
    known = _a_customer(falkordb_store)
    sales = Client(app, "marketer")
    created = sales.send(
        "POST",
        "/api/v1/opportunities",
        json={"customer_id": known["id"], "name": "Retrofit", "amount": 20000, "expected_close": "2027-02-01"},
    )
    assert created.status_code == 201, created.text
    opp = created.json()["id"]
    refused = sales.send("POST", f"/api/v1/opportunities/{opp}/stage", json={"stage": "lost"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "reason"
    lost = sales.send("POST", f"/api/v1/opportunities/{opp}/stage", json={"stage": "lost", "reason": "price"})
    assert lost.json()["stage"] == "lost" and [h["to_stage"] for h in lost.json()["history"]] == ["prospecting", "lost"]
    assert sales.get("/api/v1/opportunities/opp:none").status_code == 404
    forecast = sales.get("/api/v1/opportunities/forecast?start=2026-11-01&months=6").json()
    assert forecast["months"][0] == "2026-11" and forecast["rows"]
    summary = sales.get("/api/v1/opportunities/summary").json()
    assert any(r["reason"] == "price" for r in summary["close_reasons"])


def test_console_pages(app: FastAPI, falkordb_store: FalkorDBStore) -> None:
    known = _a_customer(falkordb_store)
    staff = Client(app, "admin")
    form = staff.get("/staff/customers/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    fields = {"csrf_token": staff.csrf, "kind": "organization", "name": known["name"], "email": known["email"]}
    duplicate = staff.http.post("/staff/customers/new", data=fields)
    assert duplicate.status_code == 409 and known["id"] in duplicate.text and 'name="force"' in duplicate.text
    created = staff.http.post("/staff/customers/new", data={**fields, "force": "true"})
    assert created.status_code == 303 and created.headers["location"].startswith("/staff/customers/cust%3Akbcrm")
    page = staff.get(f"/staff/customers/{known['id']}")
    assert 'id="contacts"' in page.text and 'id="customer-opportunities"' in page.text
    logged = staff.http.post(
        f"/staff/customers/{known['id']}/touches",
        data={"csrf_token": staff.csrf, "channel": "visit", "direction": "outbound", "subject": "Audit on site"},
    )
    assert logged.status_code == 303
    timeline = staff.get(f"/staff/customers/{known['id']}/timeline")
    assert "Audit on site" in timeline.text and 'id="touch-form"' in timeline.text
    assert f'">{known["name"]}</a></h1>' in timeline.text  # the customer by name, not by id
    # Kinds, channels and directions are stored values: the Chinese timeline says them in Chinese.
    chinese = staff.get(f"/staff/customers/{known['id']}/timeline", params={"lang": "zh"}).text
    entry = chinese[: chinese.index("Audit on site")].rsplit("<small>", 1)[1]
    assert "联系 · 拜访 · 呼出" in entry and ">联系</a>" in chinese and '<option value="visit">拜访</option>' in chinese
    staff.get("/staff", params={"lang": "en"})
    pipeline = staff.get("/staff/opportunities?stage=")
    assert pipeline.status_code == 200 and "OPP-" in pipeline.text
    data = staff.get("/staff/opportunities?stage=won&format=json").json()
    assert data["opportunities"] and {o["stage"] for o in data["opportunities"]} == {"won"}
    forecast = staff.get("/staff/opportunities/forecast?start=2026-11-01")
    method = staff.get("/staff/opportunities/forecast?start=2026-11-01&format=json").json()["method"]
    assert forecast.status_code == 200 and html.escape(method, quote=False) in forecast.text  # the page says how
    chinese_forecast = staff.get("/staff/opportunities/forecast", params={"start": "2026-11-01", "lang": "zh"}).text
    assert "金额 × 概率" in chinese_forecast and method not in chinese_forecast
    opp = data["opportunities"][0]["id"]
    detail = staff.get(f"/staff/opportunities/{opp}")
    assert 'id="stage-history"' in detail.text and 'id="stage-form"' in detail.text
    moved = staff.http.post(
        f"/staff/opportunities/{opp}/stage", data={"csrf_token": staff.csrf, "stage": "negotiation", "reason": "re-bid"}
    )
    assert moved.status_code == 303
    assert staff.get(f"/staff/opportunities/{opp}?format=json").json()["opportunity"]["stage"] == "negotiation"
    # Stages and contact roles are stored values: a Chinese page says them in Chinese, forms still send the value.
    chinese = staff.get(f"/staff/opportunities/{opp}", params={"lang": "zh"}).text
    assert '<strong class="stage" data-stage="negotiation">谈判</strong>' in chinese
    assert "赢单 → 谈判" in chinese and '<option value="won">赢单</option>' in chinese
    pipeline_zh = staff.get("/staff/opportunities", params={"stage": "won", "lang": "zh"}).text
    assert "<td>赢单</td>" in pipeline_zh and '<a href="?stage=open" >进行中</a>' in pipeline_zh
    assert '<a href="?stage=won" aria-current="page">赢单</a>' in pipeline_zh
    roles = staff.get(f"/staff/customers/{known['id']}", params={"lang": "zh"}).text
    assert '<option value="decision maker">决策者</option>' in roles
    engineer = Client(app, "engineer")  # reads the pipeline, cannot move stages
    assert 'id="stage-form"' not in engineer.get(f"/staff/opportunities/{opp}").text
    assert (
        engineer.http.post(
            f"/staff/opportunities/{opp}/stage", data={"csrf_token": engineer.csrf, "stage": "won", "reason": "x"}
        ).status_code
        == 403
    )


def test_campaign_form_from_a_graph_query(app: FastAPI, falkordb_store: FalkorDBStore) -> None:
    seed_demo_consents(falkordb_store)
    marketer = Client(app, "marketer")
    page = marketer.get("/staff/campaigns")
    assert 'id="campaign-form"' in page.text
    query = "MATCH (c:Customer)-[:OWNS]->(p:Product) WHERE p.category IS NOT NULL RETURN DISTINCT c.id AS id"
    form = {
        "csrf_token": marketer.csrf,
        "name": "Owners",
        "channel": "email",
        "graph_query": query,
        "control_share": "0.2",
    }
    created = marketer.http.post("/staff/campaigns", data=form)
    assert created.status_code == 303, created.text
    report = marketer.get(created.headers["location"] + "?format=json").json()["report"]
    assert "graph query" in report["campaign"]["rule"] and report["targeted"] + report["control"] > 0
    owners = {r["id"] for r in falkordb_store.read(query)}
    members = marketer.get(f"/api/v1/campaigns/{report['campaign']['id']}/members?limit=500").json()
    assert members and {m["customer_id"] for m in members} <= owners
    refused = marketer.http.post("/staff/campaigns", data={**form, "graph_query": "MATCH (c) DELETE c"})
    assert refused.status_code == 400
    assert Client(app, "engineer").http.post("/staff/campaigns", data=form).status_code == 403


def test_console_edits_details_and_company_group(app: FastAPI, falkordb_store: FalkorDBStore) -> None:
    companies = falkordb_store.read(
        "MATCH (c:Customer:Organization) WHERE NOT (c)-[:SUBSIDIARY_OF]-() "
        "RETURN c.id AS id, c.name AS name, c.city AS city ORDER BY c.id LIMIT 2"
    )
    child, parent = companies[0], companies[1]
    engineer = Client(app, "engineer")
    page = engineer.get(f"/staff/customers/{child['id']}")
    assert 'id="edit-form"' in page.text and 'id="parent-form"' in page.text
    assert f'name="city" value="{child["city"] or ""}"' in page.text  # the form shows today's values
    country = "fr" if falkordb_store.get_node("Customer", child["id"]).get("country") != "FR" else "de"
    form = {"csrf_token": engineer.csrf, "name": child["name"], "city": "Lyon", "country": country, "industry": "food"}
    edited = engineer.http.post(f"/staff/customers/{child['id']}/edit", data=form)
    assert edited.status_code == 303
    after = falkordb_store.get_node("Customer", child["id"])
    assert after is not None and (after["city"], after["country"], after["industry"]) == (
        "Lyon",
        country.upper(),
        "food",
    )
    assert after["edited_fields"] == ["city", "country", "industry"]  # the unchanged name is not marked
    bad = engineer.http.post(f"/staff/customers/{child['id']}/edit", data={**form, "email": "not-an-address"})
    assert bad.status_code == 400 and "email" in bad.text
    grouped = engineer.http.post(
        f"/staff/customers/{child['id']}/parent", data={"csrf_token": engineer.csrf, "parent_id": parent["id"]}
    )
    assert grouped.status_code == 303
    assert parent["name"] in engineer.get(f"/staff/customers/{child['id']}").text
    assert child["name"] in engineer.get(f"/staff/customers/{parent['id']}").text  # listed as a subsidiary
    cycle = engineer.http.post(
        f"/staff/customers/{parent['id']}/parent", data={"csrf_token": engineer.csrf, "parent_id": child["id"]}
    )
    assert cycle.status_code == 400 and "cycle" in cycle.text
    alone = engineer.http.post(
        f"/staff/customers/{child['id']}/parent", data={"csrf_token": engineer.csrf, "parent_id": ""}
    )
    assert alone.status_code == 303
    assert falkordb_store.read(
        "MATCH (c:Customer {id: $id})-[:SUBSIDIARY_OF]->() RETURN count(*) AS n", id=child["id"]
    ) == [{"n": 0}]
    analyst = Client(app, "analyst")  # reads customers, changes nothing
    assert 'id="edit-form"' not in analyst.get(f"/staff/customers/{child['id']}").text
    assert (
        analyst.http.post(f"/staff/customers/{child['id']}/edit", data={**form, "csrf_token": analyst.csrf}).status_code
        == 403
    )
