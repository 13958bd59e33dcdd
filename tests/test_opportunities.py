"""Opportunities: stage lifecycle with history, won/lost reasons, weighted forecast per month and owner."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.demo.load import load_demo
from kbcrm.demo.service_desk import seed_service_desk
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.cases.service import list_cases, sla_watchlist
from kbcrm.operations.cases.sla import BusinessCalendar
from kbcrm.operations.opportunities.service import (
    STAGES,
    OpportunityDraft,
    OpportunityError,
    OpportunityNotFound,
    create_opportunity,
    forecast,
    get_opportunity,
    list_opportunities,
    move_stage,
    pipeline_summary,
    update_opportunity,
)

SALES = Principal("user:sales", "Sales", Role.marketer, employee_id="E1")
ANALYST = Principal("user:an", "An", Role.analyst)
ENGINEER = Principal("user:eng", "Eng", Role.engineer)
CUSTOMER = Principal("user:cust", "Cust", Role.customer, customer_id="c1")


@pytest.fixture
def crm(falkordb_store: FalkorDBStore) -> FalkorDBStore:
    store = falkordb_store
    store.upsert_nodes("Customer", [{"id": "c1", "name": "Atlas"}, {"id": "c2", "name": "Borealis"}])
    store.upsert_nodes("Customer", [{"id": "gone", "name": "Archived", "status": "archived"}])
    store.upsert_nodes("Employee", [{"id": "E1", "name": "Ana"}, {"id": "E2", "name": "Ben"}])
    store.upsert_nodes("Product", [{"id": "p1", "name": "AX-120"}])
    return store


def _draft(**kw: object) -> OpportunityDraft:
    values: dict[str, object] = {
        "customer_id": "c1",
        "name": "Second line",
        "amount": 10_000.0,
        "currency": "EUR",
        "expected_close": date(2026, 12, 15),
    }
    values.update(kw)
    return OpportunityDraft(**values)  # type: ignore[arg-type]


def test_stage_lifecycle_keeps_history_and_reasons(crm: FalkorDBStore) -> None:
    opp = create_opportunity(crm, principal=SALES, draft=_draft(product_id="p1"))
    assert opp["stage"] == "prospecting" and opp["probability"] == STAGES["prospecting"]
    assert opp["owner_id"] == "E1" and opp["customer_id"] == "c1" and opp["product_id"] == "p1"
    assert [(h["from_stage"], h["to_stage"]) for h in opp["history"]] == [(None, "prospecting")]
    moved = move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="proposal")
    assert moved["probability"] == 0.5 and moved["weighted_amount"] == 5000.0
    moved = move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="negotiation", probability=0.9)
    assert moved["probability"] == 0.9
    with pytest.raises(OpportunityError, match="reason: required"):
        move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="lost")
    lost = move_stage(
        crm, principal=SALES, opportunity_id=opp["id"], stage="lost", reason="price", today=date(2026, 11, 20)
    )
    assert lost["stage"] == "lost" and lost["close_reason"] == "price" and lost["closed_on"] == "2026-11-20"
    assert lost["probability"] == 0.0
    with pytest.raises(OpportunityError, match="reopened before"):
        move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="won", reason="changed mind")
    with pytest.raises(OpportunityError, match="reason: required to reopen"):
        move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="negotiation")
    reopened = move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="negotiation", reason="new budget")
    assert reopened["closed_on"] is None and reopened.get("close_reason") is None
    won = move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="won", reason="best service offer")
    history = [(h["from_stage"], h["to_stage"], h["reason"]) for h in won["history"]]
    assert history == [
        (None, "prospecting", None),
        ("prospecting", "proposal", None),
        ("proposal", "negotiation", None),
        ("negotiation", "lost", "price"),
        ("lost", "negotiation", "new budget"),
        ("negotiation", "won", "best service offer"),
    ]
    assert all(h["changed_by"] == "user:sales" for h in won["history"])
    assert [h["probability"] for h in won["history"]] == [0.1, 0.5, 0.9, 0.0, 0.75, 1.0]
    summary = pipeline_summary(crm, principal=ANALYST)
    assert summary["win_rate"] == 1.0
    assert summary["close_reasons"] == [{"stage": "won", "reason": "best service offer", "count": 1}]


def test_bad_requests_are_refused_with_the_field(crm: FalkorDBStore) -> None:
    with pytest.raises(OpportunityError, match="amount"):
        create_opportunity(crm, principal=SALES, draft=_draft(amount=0))
    with pytest.raises(OpportunityError, match="currency"):
        create_opportunity(crm, principal=SALES, draft=_draft(currency="XXX"))
    with pytest.raises(OpportunityError, match="stage must be"):
        create_opportunity(crm, principal=SALES, draft=_draft(stage="dreaming"))
    with pytest.raises(OpportunityError, match="starts open"):
        create_opportunity(crm, principal=SALES, draft=_draft(stage="won"))
    with pytest.raises(OpportunityError, match="customer_id"):
        create_opportunity(crm, principal=SALES, draft=_draft(customer_id="nobody"))
    with pytest.raises(OpportunityError, match="archived"):
        create_opportunity(crm, principal=SALES, draft=_draft(customer_id="gone"))
    with pytest.raises(OpportunityError, match="owner_id"):
        create_opportunity(crm, principal=SALES, draft=_draft(owner_id="E9"))
    with pytest.raises(OpportunityError, match="probability"):
        create_opportunity(crm, principal=SALES, draft=_draft(probability=1.5))
    with pytest.raises(OpportunityNotFound):
        move_stage(crm, principal=SALES, opportunity_id="opp:none", stage="proposal")
    opp = create_opportunity(crm, principal=SALES, draft=_draft())
    with pytest.raises(OpportunityError, match="already in"):
        move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="prospecting")
    with pytest.raises(OpportunityError, match="probability: a won"):
        move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="won", reason="x", probability=0.5)
    assert crm.count_nodes("Opportunity") == 1


def test_only_sales_and_admins_write_and_customers_never_read(crm: FalkorDBStore) -> None:
    for who in (ANALYST, ENGINEER, CUSTOMER):
        with pytest.raises(AccessDenied):
            create_opportunity(crm, principal=who, draft=_draft())
    opp = create_opportunity(crm, principal=SALES, draft=_draft())
    with pytest.raises(AccessDenied):
        move_stage(crm, principal=ENGINEER, opportunity_id=opp["id"], stage="proposal")
    with pytest.raises(AccessDenied):
        list_opportunities(crm, principal=CUSTOMER)
    with pytest.raises(AccessDenied):
        get_opportunity(crm, principal=CUSTOMER, opportunity_id=opp["id"])
    assert get_opportunity(crm, principal=ANALYST, opportunity_id=opp["id"]) is not None


def test_weighted_forecast_per_month_owner_and_currency(crm: FalkorDBStore) -> None:
    def make(amount: float, close: date, stage: str, owner: str, currency: str = "EUR") -> str:
        opp = create_opportunity(
            crm,
            principal=SALES,
            draft=_draft(amount=amount, expected_close=close, owner_id=owner, currency=currency),
        )
        if stage != "prospecting":
            move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage=stage, reason="r", today=close)
        return str(opp["id"])

    a = make(1000, date(2026, 12, 3), "proposal", "E1")  # 500 weighted
    b = make(3000, date(2026, 12, 20), "negotiation", "E1")  # 2250
    c = make(2000, date(2026, 12, 9), "prospecting", "E2")  # 200
    d = make(4000, date(2027, 1, 9), "qualification", "E1")  # 800
    e = make(700, date(2026, 12, 1), "won", "E2")  # won in December
    make(900, date(2026, 12, 1), "lost", "E2")  # lost: not in the forecast
    f = make(5000, date(2026, 12, 5), "proposal", "E1", currency="USD")  # kept apart from EUR
    make(9999, date(2027, 6, 1), "proposal", "E1")  # outside the window
    result = forecast(crm, principal=ANALYST, start=date(2026, 12, 10), months=2)
    assert result["months"] == ["2026-12", "2027-01"]
    cells = {(r["month"], r["owner_id"], r["currency"]): r for r in result["rows"]}
    assert set(cells) == {
        ("2026-12", "E1", "EUR"),
        ("2026-12", "E1", "USD"),
        ("2026-12", "E2", "EUR"),
        ("2027-01", "E1", "EUR"),
    }
    ana_dec = cells[("2026-12", "E1", "EUR")]
    assert (ana_dec["open_count"], ana_dec["pipeline"], ana_dec["weighted"]) == (2, 4000.0, 2750.0)
    assert ana_dec["opportunities"] == sorted([a, b])
    ben_dec = cells[("2026-12", "E2", "EUR")]
    assert (ben_dec["weighted"], ben_dec["won"], ben_dec["won_count"]) == (200.0, 700.0, 1)
    assert sorted(ben_dec["opportunities"]) == sorted([c, e])
    assert cells[("2026-12", "E1", "USD")]["weighted"] == 2500.0 and cells[("2026-12", "E1", "USD")][
        "opportunities"
    ] == [f]
    assert cells[("2027-01", "E1", "EUR")]["weighted"] == 800.0 and cells[("2027-01", "E1", "EUR")][
        "opportunities"
    ] == [d]
    totals = {(t["month"], t["currency"]): t for t in result["totals"]}
    assert totals[("2026-12", "EUR")]["weighted"] == 2950.0 and totals[("2026-12", "EUR")]["won"] == 700.0
    only_ben = forecast(crm, principal=ANALYST, start=date(2026, 12, 1), months=2, owner_id="E2")
    assert {r["owner_id"] for r in only_ben["rows"]} == {"E2"}


def test_update_and_listing_filters(crm: FalkorDBStore) -> None:
    one = create_opportunity(crm, principal=SALES, draft=_draft(expected_close=date(2026, 1, 1)))
    two = create_opportunity(crm, principal=SALES, draft=_draft(customer_id="c2", owner_id="E2"))
    updated = update_opportunity(crm, principal=SALES, opportunity_id=one["id"], amount=12_500, owner_id="E2")
    assert updated["amount"] == 12_500 and updated["owner_id"] == "E2"
    rows = list_opportunities(crm, principal=ANALYST, owner_id="E2", today=date(2026, 11, 24))
    assert {r["id"] for r in rows} == {one["id"], two["id"]}
    assert {r["id"]: r["overdue"] for r in rows} == {one["id"]: True, two["id"]: False}
    assert [r["id"] for r in list_opportunities(crm, principal=ANALYST, customer_id="c2")] == [two["id"]]
    move_stage(crm, principal=SALES, opportunity_id=two["id"], stage="won", reason="fit")
    assert [r["id"] for r in list_opportunities(crm, principal=ANALYST, stage="open")] == [one["id"]]
    assert [r["id"] for r in list_opportunities(crm, principal=ANALYST, stage="won")] == [two["id"]]


def test_demo_pipeline_has_every_stage_history_and_a_forecast(demo_store: FalkorDBStore, demo_dir: Path) -> None:
    rows = list_opportunities(demo_store, principal=ANALYST, limit=500)
    assert len(rows) == json.loads((demo_dir / "manifest.json").read_text())["counts"]["opportunities"]
    assert {r["stage"] for r in rows} >= {"won", "lost", "proposal", "negotiation"}
    assert all(r["owner_id"] and r["customer_id"] and r["product_id"] for r in rows)
    closed = [r for r in rows if r["stage"] in ("won", "lost")]
    assert closed and all(r["close_reason"] and r["closed_on"] for r in closed)
    one = get_opportunity(demo_store, principal=ANALYST, opportunity_id=closed[0]["id"])
    assert one is not None
    stages = [h["to_stage"] for h in one["history"]]
    assert stages[0] == "prospecting" and stages[-1] == one["stage"] and one["history"][-1]["reason"]
    summary = pipeline_summary(demo_store, principal=ANALYST)
    assert 0 < summary["win_rate"] < 1
    result = forecast(demo_store, principal=ANALYST, start=date(2026, 11, 1), months=6)
    assert result["rows"] and all(r["weighted"] <= r["pipeline"] or r["won_count"] for r in result["rows"])


def test_demo_service_desk_shows_every_sla_state(falkordb_store: FalkorDBStore, demo_dir: Path) -> None:
    load_demo(falkordb_store, demo_dir, include_articles=False)
    now = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # a Wednesday morning
    assert seed_service_desk(falkordb_store, now=now) == 12
    assert seed_service_desk(falkordb_store, now=now) == 12  # idempotent: same ids
    engineer = Principal("user:e", "E", Role.engineer)
    queue = list_cases(falkordb_store, principal=engineer, status="active", limit=500, now=now)
    today = [c for c in queue if c["id"].startswith("CS-TODAY-")]
    assert len(today) == 12
    states = {clock["state"] for c in today for clock in c["sla"]["clocks"]}
    assert {"on_track", "at_risk", "breached", "met"} <= states
    watch = sla_watchlist(falkordb_store, principal=engineer, calendar=BusinessCalendar(), now=now)
    assert any(c["id"].startswith("CS-TODAY-") for c in watch)
