"""Campaigns: target lists respect consent, the control split is deterministic, responses and results."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from api.app import create_app
from ingest.responses import ingest_responses
from ingest.runner import run_report
from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.demo.consents import seed_demo_consents
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.campaigns.service import (
    CampaignError,
    TargetRule,
    create_campaign,
    in_control_group,
    members,
    record_response,
    results,
)
from kbcrm.operations.records.service import export_records
from kbcrm.settings import Settings
from tests.portal_client import Client

MARKETER = Principal("user:m", "M", Role.marketer)


@pytest.fixture
def crm(falkordb_store: FalkorDBStore) -> FalkorDBStore:
    store = falkordb_store
    customers = [
        {
            "id": f"c{i:02d}",
            "name": f"C{i}",
            "loyalty_tier": "at-risk" if i < 8 else "vip",
            "churn_risk": i / 10,
            "clv": 100.0 * i,
            "country": "DE" if i % 2 else "FR",
        }
        for i in range(10)
    ]
    customers[3]["status"] = "erased"
    store.upsert_nodes("Customer", customers)
    store.upsert_nodes("Product", [{"id": "p1", "name": "AX-120"}])
    store.upsert_relationships(
        "OWNS",
        [{"start": f"c{i:02d}", "end": "p1"} for i in (1, 2, 3, 4, 9)],
        start_label="Customer",
        end_label="Product",
    )
    store.upsert_nodes("Segment", [{"id": "tier-at-risk", "name": "at-risk"}])
    store.upsert_relationships(
        "MEMBER_OF",
        [{"start": f"c{i:02d}", "end": "tier-at-risk"} for i in range(8)],
        start_label="Customer",
        end_label="Segment",
    )
    consents = [
        {"id": f"k{i}", "channel": "email", "granted": i != 2, "recorded_at": "2026-01-01T00:00:00+00:00"}
        for i in range(7)
    ]  # c00–c06 answered; c02 said no; c07–c09 never answered
    store.upsert_nodes("Consent", consents)
    store.upsert_relationships(
        "GAVE_CONSENT",
        [{"start": f"c{i:02d}", "end": f"k{i}"} for i in range(7)],
        start_label="Customer",
        end_label="Consent",
    )
    orders = [
        {"id": "o1", "order_date": "2026-03-10", "total_amount": 500.0},
        {"id": "o2", "order_date": "2026-01-10", "total_amount": 900.0},
    ]  # o2 before the window
    store.upsert_nodes("Order", orders)
    store.upsert_relationships(
        "PLACED",
        [{"start": "c01", "end": "o1"}, {"start": "c04", "end": "o2"}],
        start_label="Customer",
        end_label="Order",
    )
    return store


def test_target_list_respects_consent_rules_and_erasure(crm: FalkorDBStore) -> None:
    plan = create_campaign(
        crm, principal=MARKETER, name="Win back", channel="email", rule=TargetRule(segment_id="tier-at-risk")
    )
    # at-risk: c00–c07; erased c03 never; c02 refused; c07 never answered.
    assert sorted(plan.members) == ["c00", "c01", "c04", "c05", "c06"]
    assert plan.without_consent == 2 and plan.matched == 7
    narrow = create_campaign(
        crm,
        principal=MARKETER,
        name="Owners at risk",
        channel="email",
        rule=TargetRule(owns_product="p1", min_churn_risk=0.15, country="FR"),
    )
    assert narrow.members == ["c04"]  # owners c01,c02,c03,c04,c09 → FR: c02,c04 → risk ≥ .15: c02,c04 → consent: c04
    assert create_campaign(crm, principal=MARKETER, name="phone", channel="phone", rule=TargetRule()).members == []
    with pytest.raises(CampaignError, match="channel"):
        create_campaign(crm, principal=MARKETER, name="x", channel="web", rule=TargetRule())
    with pytest.raises(CampaignError, match="segment"):
        create_campaign(crm, principal=MARKETER, name="x", channel="email", rule=TargetRule(segment_id="nope"))
    with pytest.raises(AccessDenied):
        create_campaign(
            crm, principal=Principal("user:e", "E", Role.engineer), name="x", channel="email", rule=TargetRule()
        )


def test_target_list_from_a_graph_query_and_archived_customers(crm: FalkorDBStore) -> None:
    query = (
        "MATCH (c:Customer)-[:OWNS]->(p:Product {name: 'AX-120'}) WHERE c.loyalty_tier = 'at-risk' "
        "AND c.churn_risk > 0.05 RETURN c.id AS id"
    )  # at-risk owners c01-c04 with risk > .05 → c01..c04; erased c03 out; c02 refused email
    plan = create_campaign(crm, principal=MARKETER, name="Graph", channel="email", rule=TargetRule(graph_query=query))
    assert sorted(plan.members) == ["c01", "c04"] and "graph query" in plan.rule
    crm.upsert_nodes("Customer", [{"id": "c04", "status": "archived"}])
    again = create_campaign(
        crm, principal=MARKETER, name="Graph 2", channel="email", rule=TargetRule(graph_query=query)
    )
    assert again.members == ["c01"]  # archived customers are never targeted
    both = TargetRule(graph_query=query, country="DE")
    assert create_campaign(crm, principal=MARKETER, name="G3", channel="email", rule=both).members == ["c01"]
    with pytest.raises(CampaignError, match=r"graph_query: .*read-only"):
        create_campaign(
            crm, principal=MARKETER, name="x", channel="email", rule=TargetRule(graph_query="MATCH (c) DETACH DELETE c")
        )
    with pytest.raises(CampaignError, match="column named id"):
        create_campaign(
            crm,
            principal=MARKETER,
            name="x",
            channel="email",
            rule=TargetRule(graph_query="MATCH (c:Customer) RETURN c.name AS name"),
        )
    assert crm.count_nodes("Customer") == 10


def test_control_split_is_deterministic() -> None:
    ids = [f"cust-{i:05d}" for i in range(4000)]
    first = [in_control_group("campaign:abc", c, 0.2) for c in ids]
    assert first == [in_control_group("campaign:abc", c, 0.2) for c in ids]
    assert 0.18 < sum(first) / len(ids) < 0.22
    other = [in_control_group("campaign:def", c, 0.2) for c in ids]
    assert other != first  # another campaign draws another control group
    assert not any(in_control_group("campaign:abc", c, 0.0) for c in ids)


def test_personalised_content_responses_and_results(crm: FalkorDBStore) -> None:
    seen: list[str] = []

    def personalise(customer: str) -> list[dict[str, Any]]:
        seen.append(customer)
        return [{"kind": "article", "id": "kb-1", "reason": f"about a product {customer} owns"}]

    # The control split follows the campaign's random id: with few members it can draw every one into the
    # control group (a clean-clone run did), and the test needs a targeted member; draw again then.
    for _ in range(20):
        seen.clear()
        plan = create_campaign(
            crm,
            principal=MARKETER,
            name="Win back",
            channel="email",
            rule=TargetRule(segment_id="tier-at-risk"),
            control_share=0.4,
            starts_on=date(2026, 3, 1),
            attribution_days=30,
            personalise=personalise,
        )
        control = {c for c in plan.members if in_control_group(plan.id, c, 0.4)}
        if set(plan.members) - control:
            break
    assert plan.control == len(control) and sorted(seen) == sorted(set(plan.members) - control)
    rows = {r["customer_id"]: r for r in members(crm, principal=MARKETER, campaign_id=plan.id)}
    for customer, row in rows.items():
        assert row["control_group"] == (customer in control)
        assert (row["content"] == []) == (customer in control)
    targeted = sorted(set(plan.members) - control)
    record_response(crm, principal=MARKETER, campaign_id=plan.id, customer_id=targeted[0], response="clicked")
    with pytest.raises(CampaignError):
        record_response(crm, principal=MARKETER, campaign_id=plan.id, customer_id="c09", response="clicked")
    with pytest.raises(CampaignError):
        record_response(crm, principal=MARKETER, campaign_id=plan.id, customer_id=targeted[0], response="liked")
    report = results(crm, principal=MARKETER, campaign_id=plan.id)
    assert report is not None and report["window"] == {"from": "2026-03-01", "to": "2026-03-31"}
    assert report["targeted"] == len(targeted) and report["control"] == len(control)
    assert report["response_rate"] == round(1 / len(targeted), 4)
    c01_targeted = "c01" not in control
    assert report["revenue_attributed"] == (500.0 if c01_targeted else 0.0)  # o2 is before the window
    group = "targeted" if c01_targeted else "control"
    assert report["retention"][group] == round(1 / (len(targeted) if c01_targeted else len(control)), 4)


def test_demo_consents_are_deterministic(crm: FalkorDBStore) -> None:
    assert seed_demo_consents(crm) == 30
    first = crm.read("MATCH (c:Customer)-[:GAVE_CONSENT]->(k:Consent) RETURN k.id AS id, k.granted AS g ORDER BY id")
    assert seed_demo_consents(crm) == 30
    assert (
        crm.read("MATCH (c:Customer)-[:GAVE_CONSENT]->(k:Consent) RETURN k.id AS id, k.granted AS g ORDER BY id")
        == first
    )


def test_campaign_api_for_marketers(portal_store: FalkorDBStore, portal_kb: Any, tmp_path: Any) -> None:
    app: FastAPI = create_app(Settings(data_dir=tmp_path), store=portal_store, knowledge_base=portal_kb)
    admin, marketer, engineer = Client(app, "admin"), Client(app, "marketer"), Client(app, "engineer")
    product = portal_store.read(
        "MATCH (c:Customer {id: 'cust-0000002'})-[:OWNS]->(p:Product)<-[:APPLIES_TO]-(:KnowledgeArticle) "
        "RETURN p.id AS id LIMIT 1"
    )[0]["id"]
    owners = [
        r["id"]
        for r in portal_store.read(
            # (an erased or archived customer is never targeted; other tests in this session erase one)
            "MATCH (c:Customer)-[:OWNS]->(:Product {id: $p}) "
            "WHERE NOT coalesce(c.status, '') IN ['erased', 'archived'] RETURN DISTINCT c.id AS id ORDER BY id",
            p=product,
        )
    ]
    for customer in owners[:3]:
        assert (
            admin.send("PUT", f"/api/v1/customers/{customer}/consent/post", json={"granted": True}).status_code == 200
        )
    body = {"name": "Owners", "channel": "post", "owns_product": product}
    assert engineer.send("POST", "/api/v1/campaigns", json=body).status_code == 403
    created = marketer.send("POST", "/api/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["targeted"] + plan["control"] == 3 and plan["without_consent"] == len(owners) - 3
    listed = marketer.get(f"/api/v1/campaigns/{plan['id']}/members").json()
    assert {m["customer_id"] for m in listed} == set(owners[:3])
    with_content = [m for m in listed if m["content"]]
    assert with_content and all(item["reason"] and item["paths"] for item in with_content[0]["content"])
    assert json.dumps(with_content).count("internal") == 0 or all(
        item["audience"] != "internal" for m in with_content for item in m["content"]
    )
    response = marketer.send(
        "POST",
        f"/api/v1/campaigns/{plan['id']}/responses",
        json={"customer_id": listed[0]["customer_id"], "response": "opened"},
    )
    assert response.status_code == 200
    report = marketer.get(f"/api/v1/campaigns/{plan['id']}").json()
    assert report["responded"] == 1 and report["campaign"]["rule"] == f"owns {product}"
    assert Client(app, "customer1").get("/api/v1/campaigns").status_code == 403
    page = marketer.get("/staff/campaigns", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Owners" in page.text
    detail = marketer.get(f"/staff/campaigns/{plan['id']}", headers={"Accept": "text/html"})
    assert detail.status_code == 200 and with_content[0]["content"][0]["title"] in detail.text
    # Rates read as percentages and stored values in the page's language.
    share = report["response_rate"] * 100
    assert f"{share:.1f} %" in detail.text and f"{share:.1f} %" in page.text and "邮寄" not in detail.text
    chinese = marketer.get(f"/staff/campaigns/{plan['id']}", params={"lang": "zh"}).text
    assert "邮寄 ·" in chinese and "(已打开)" in chinese and ("目标" in chinese or "对照组" in chinese)
    form = marketer.get("/staff/campaigns", params={"lang": "zh"}).text
    assert '<option value="post">邮寄</option>' in form
    # Who a campaign is for, in words of the page's language, from the stored rule's fields.
    zh_name = portal_store.get_node("Product", product)["name_zh"]
    assert f"拥有 {zh_name}" in chinese and f"owns {product}" not in chinese
    assert f"owns {product}" in marketer.get(f"/staff/campaigns/{plan['id']}", params={"lang": "en"}).text
    rule = {"tiers": ["at-risk", "lapsed"], "min_churn_risk": 0.5, "country": "DE"}
    risky = marketer.send("POST", "/api/v1/campaigns", json={"name": "Risky", "channel": "email", **rule})
    assert risky.status_code == 201, risky.text
    english = marketer.get(f"/staff/campaigns/{risky.json()['id']}", params={"lang": "en"}).text
    assert "tier at risk or lapsed, churn risk ≥ 0.5, in DE" in english
    chinese = marketer.get(f"/staff/campaigns/{risky.json()['id']}", params={"lang": "zh"}).text
    assert "等级为有流失风险或已流失，流失风险 ≥ 0.5，位于 DE" in chinese


def test_member_export_and_responses_from_a_mailing_tool(crm: FalkorDBStore, tmp_path: Path) -> None:
    crm.upsert_nodes("Customer", [{"id": f"c{i:02d}", "email": f"c{i}@example.com"} for i in range(10)])
    plan = create_campaign(
        crm,
        principal=MARKETER,
        name="Spring check-up",
        channel="email",
        rule=TargetRule(segment_id="tier-at-risk"),
        control_share=0.4,
        starts_on=date(2026, 3, 1),
    )
    path = tmp_path / "members.csv"
    assert export_records(crm, kind="campaign-members", path=path) == len(plan.members)
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for row in rows:  # the control group cannot be mailed by mistake: no address in the file
        control = in_control_group(plan.id, row["customer_id"], 0.4)
        assert row["control_group"] == str(control) and (row["email"] == "") == control
    # The split depends on the campaign's (random) id: respond with a targeted member when there is one.
    responder = next((r for r in rows if r["email"]), rows[0])
    responder["response"], responder["responded_at"] = "clicked", "2026-03-04T09:30:00+00:00"
    rows.append({**rows[-1], "response": "liked"})  # not a response the tool can send
    rows.append({**rows[-1], "customer_id": "c09", "response": "opened"})  # c09 is not a member
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = ingest_responses(crm, path=path, principal=MARKETER, data_dir=tmp_path)
    assert (report.read, report.updated, report.rejected, report.unchanged) == (len(rows), 1, 2, len(rows) - 3)
    assert {(r.field, r.value) for r in report.rejections} == {("response", "liked"), ("customer_id", "c09")}
    assert "not a member" in next(r.message for r in report.rejections if r.field == "customer_id")
    assert Path(report.quarantine_file).read_text(encoding="utf-8").count("\n") == 3  # header + 2 rows
    stored = next(
        (
            m
            for m in members(crm, principal=MARKETER, campaign_id=plan.id)
            if m["customer_id"] == responder["customer_id"]
        ),
        None,
    )
    assert stored is not None and stored["response"] == "clicked"
    assert stored["responded_at"] == "2026-03-04T09:30:00+00:00"
    again = ingest_responses(crm, path=path, principal=MARKETER, data_dir=tmp_path)
    assert (again.updated, again.rejected) == (0, 2)
    run = run_report(crm, report.run_id)
    assert run is not None and run["rows_updated"] == 1 and run["status"] == "finished"
