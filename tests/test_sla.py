"""SLA clocks on a business-hours calendar: weekends, holidays, time zones, states, escalation, watchlist."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from kbcrm.access.models import Principal, Role
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.cases.service import list_cases, sla_watchlist
from kbcrm.operations.cases.sla import BusinessCalendar, sla_status
from kbcrm.settings import Settings

CAL = BusinessCalendar()  # Mon–Fri 09:00–17:00 UTC
FRI_16 = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)  # a Friday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_business_hours_skip_the_weekend_and_nights() -> None:
    assert CAL.business_hours_between(FRI_16, at(23, 10)) == 2.0  # Fri 16–17, Mon 9–10
    assert CAL.business_hours_between(at(21, 10), at(22, 18)) == 0.0  # Saturday to Sunday
    assert CAL.business_hours_between(at(23, 18), at(24, 8)) == 0.0  # Monday night
    assert CAL.business_hours_between(at(23, 8), at(27, 18)) == 40.0  # a whole week
    assert CAL.business_hours_between(at(24, 12), at(24, 11)) == 0.0


def test_adding_business_hours_crosses_the_weekend() -> None:
    assert CAL.add_business_hours(FRI_16, 4) == at(23, 12)
    assert CAL.add_business_hours(at(21, 13), 1) == at(23, 10)  # opened on Saturday: the clock starts Monday 9:00
    assert CAL.add_business_hours(at(23, 17), 8) == at(24, 17)
    assert CAL.add_business_hours(at(23, 9), 0) == at(23, 9)


def test_holidays_and_time_zones() -> None:
    holiday = BusinessCalendar(holidays=frozenset({date(2026, 11, 23)}))
    assert holiday.add_business_hours(FRI_16, 4) == at(24, 12)  # Monday is a holiday
    berlin = BusinessCalendar(timezone="Europe/Berlin")  # 9–17 in Berlin = 8–16 UTC in November
    assert berlin.business_hours_between(at(23, 7), at(23, 9)) == 1.0
    settings = Settings(
        sla_timezone="Asia/Shanghai",
        sla_business_hours="08:30-18:00",
        sla_workdays="mon tue wed thu fri sat",
        sla_holidays="2026-10-01, 2026-10-02",
    )
    calendar = BusinessCalendar.from_settings(settings)
    assert calendar.opens == time(8, 30) and calendar.is_working_day(date(2026, 11, 21))
    assert not calendar.is_working_day(date(2026, 10, 1)) and not calendar.is_working_day(date(2026, 11, 22))


def test_clock_states_and_escalation() -> None:
    case = {"opened_at": "2026-11-20T16:00:00", "priority": "P2"}  # first response 4 h, resolution 24 h
    assert [c["state"] for c in sla_status(case, now=at(23, 9, 30), calendar=CAL)["clocks"]] == ["on_track", "on_track"]
    warned = sla_status(case, now=at(23, 11, 30), calendar=CAL)  # 3.5 of 4 h: at risk
    assert warned["clocks"][0]["state"] == "at_risk" and warned["escalation"] == 1
    assert warned["clocks"][0]["due_at"] == "2026-11-23T12:00:00+00:00"
    late = sla_status(case, now=at(23, 12, 30), calendar=CAL)
    assert late["clocks"][0]["state"] == "breached" and late["escalation"] == 2 and late["breached"]
    answered = {**case, "first_response_at": "2026-11-23T10:00:00"}  # 2 business hours: met, even over a weekend
    met = sla_status(answered, now=at(25, 9), calendar=CAL)
    assert met["clocks"][0]["state"] == "met" and met["escalation"] == 0
    answered_late = {**case, "first_response_at": "2026-11-23T13:00:00", "closed_at": "2026-11-24T10:00:00"}
    done = sla_status(answered_late, now=at(30, 9), calendar=CAL)
    assert [c["state"] for c in done["clocks"]] == ["breached", "met"] and done["escalation"] == 0 and done["breached"]


def test_p1_runs_around_the_clock() -> None:
    case = {"opened_at": "2026-11-21T22:00:00+00:00", "priority": "P1"}  # Saturday night
    status = sla_status(case, now=at(21, 23, 30), calendar=CAL)
    assert status["clocks"][0]["state"] == "breached" and status["clocks"][0]["elapsed_hours"] == 1.5


@pytest.fixture
def cases_store(falkordb_store: FalkorDBStore) -> FalkorDBStore:
    falkordb_store.upsert_nodes("Customer", [{"id": "c1", "name": "Acme"}])
    rows = [
        {"id": "K-fine", "priority": "P3", "status": "open", "opened_at": "2026-11-23T09:00:00+00:00"},
        {"id": "K-risk", "priority": "P2", "status": "in-progress", "opened_at": "2026-11-20T16:00:00+00:00"},
        {"id": "K-late", "priority": "P2", "status": "open", "opened_at": "2026-11-19T09:00:00+00:00"},
        {
            "id": "K-done",
            "priority": "P2",
            "status": "closed",
            "opened_at": "2026-11-02T09:00:00+00:00",
            "closed_at": "2026-11-20T09:00:00+00:00",
        },
    ]
    falkordb_store.upsert_nodes("ServiceCase", rows)
    falkordb_store.upsert_relationships(
        "RAISED", [{"start": "c1", "end": r["id"]} for r in rows], start_label="Customer", end_label="ServiceCase"
    )
    return falkordb_store


def test_watchlist_orders_active_cases_by_time_left(cases_store: FalkorDBStore) -> None:
    engineer = Principal("user:e", "E", Role.engineer)
    flagged = sla_watchlist(cases_store, principal=engineer, calendar=CAL, now=at(23, 11, 30))
    assert [c["id"] for c in flagged] == ["K-late", "K-risk"]
    assert flagged[0]["sla"]["escalation"] == 2 and flagged[1]["sla"]["escalation"] == 1
    active = list_cases(cases_store, principal=engineer, status="active", calendar=CAL, now=at(23, 11, 30))
    assert {c["id"] for c in active} == {"K-fine", "K-risk", "K-late"}
    customer = Principal("user:c", "C", Role.customer, customer_id="c1")
    with pytest.raises(PermissionError):
        sla_watchlist(cases_store, principal=customer, calendar=CAL)
