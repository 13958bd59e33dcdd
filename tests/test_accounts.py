"""Accounts and contacts (create with the identity resolver's duplicate check, update, archive, groups),
touches and the customer timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest

from ingest.identity.graph import possible_duplicates, resolve_customers
from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.graph.falkordb_backend import FalkorDBStore
from kbcrm.operations.accounts.service import (
    AccountError,
    AccountNotFound,
    CustomerDraft,
    PossibleDuplicate,
    add_contact,
    create_customer,
    hierarchy,
    list_contacts,
    set_archived,
    set_contact_archived,
    set_parent,
    update_contact,
    update_customer,
)
from kbcrm.operations.opportunities.service import OpportunityDraft, create_opportunity, move_stage
from kbcrm.operations.touches.service import TouchError, log_touch, timeline

ENGINEER = Principal("user:eng", "Eng", Role.engineer, employee_id="E1")
SALES = Principal("user:sales", "Sales", Role.marketer, employee_id="E1")
ANALYST = Principal("user:an", "An", Role.analyst)
CUSTOMER = Principal("user:cust", "Cust", Role.customer, customer_id="cust:sales:S1")


@pytest.fixture
def crm(falkordb_store: FalkorDBStore) -> FalkorDBStore:
    """Two department records of one company and one of another, resolved as ingest does."""
    store = falkordb_store
    store.upsert_nodes(
        "SourceRecord",
        [
            {
                "id": "sales:S1",
                "source_system": "sales",
                "source_key": "S1",
                "customer_kind": "organization",
                "name": "Atlas Foods GmbH",
                "email": "info@atlasfoods.de",
                "phone": "+49 30 1234567",
                "city": "Berlin",
                "registration_id": "HRB 12345",
            },
            {
                "id": "billing:A1",
                "source_system": "billing",
                "source_key": "A1",
                "customer_kind": "organization",
                "name": "Atlas Foods",
                "registration_id": "HRB 12345",
                "city": "Berlin",
            },
            {
                "id": "sales:S2",
                "source_system": "sales",
                "source_key": "S2",
                "customer_kind": "organization",
                "name": "Borealis Mills AB",
                "email": "order@borealis.se",
                "city": "Uppsala",
            },
        ],
    )
    resolve_customers(store)
    store.upsert_nodes("Employee", [{"id": "E1", "name": "Ana"}])
    return store


def finder(store: FalkorDBStore) -> partial[list[dict[str, object]]]:
    return partial(possible_duplicates, store)


def test_create_answers_possible_duplicate_with_the_evidence(crm: FalkorDBStore) -> None:
    assert crm.count_nodes("Customer") == 2
    draft = CustomerDraft(kind="organization", name="Atlas Food GmbH", city="Berlin", email="info@atlasfoods.de")
    with pytest.raises(PossibleDuplicate) as caught:
        create_customer(crm, principal=ENGINEER, draft=draft, find_duplicates=finder(crm))
    best = caught.value.candidates[0]
    assert best["customer_id"] == "cust:billing:A1" and "email" in best["agreed"] and best["score"] >= 6
    assert "possible duplicate of cust:billing:A1" in str(caught.value)
    assert crm.count_nodes("Customer") == 2  # nothing was written
    by_reg = CustomerDraft(kind="organization", name="Atlas", registration_id="HRB 12345", city="Berlin")
    with pytest.raises(PossibleDuplicate):
        create_customer(crm, principal=ENGINEER, draft=by_reg, find_duplicates=finder(crm))
    fresh = CustomerDraft(kind="organization", name="Cobalt Engineering SA", city="Lyon", country="fr")
    created = create_customer(crm, principal=ENGINEER, draft=fresh, find_duplicates=finder(crm))
    assert created["id"].startswith("cust:kbcrm:") and created["country"] == "FR" and created["status"] == "active"
    forced = create_customer(crm, principal=ENGINEER, draft=draft, find_duplicates=finder(crm), force=True)
    assert forced["name"] == "Atlas Food GmbH"
    # the created customer is found by later duplicate checks, through its own kbcrm source record
    again = possible_duplicates(crm, {"customer_kind": "organization", "name": "Cobalt Engineering", "city": "Lyon"})
    assert [c["customer_id"] for c in again] == [created["id"]] and again[0]["source_system"] == "kbcrm"


def test_field_errors_name_the_field(crm: FalkorDBStore) -> None:
    cases = [
        (CustomerDraft(kind="robot", name="X"), "kind"),
        (CustomerDraft(kind="person", name=" "), "name: required"),
        (CustomerDraft(kind="person", name="Jo", email="not-mail"), "email"),
        (CustomerDraft(kind="person", name="Jo", country="Germany"), "country"),
        (CustomerDraft(kind="person", name="Jo", registration_id="HRB 1"), "registration_id"),
        (CustomerDraft(kind="organization", name="Co", birth_date="1980-01-01"), "birth_date"),
        (CustomerDraft(kind="person", name="Jo", birth_date="1980-13-01"), "birth_date"),
        (CustomerDraft(kind="person", name="Jo", phone="call me"), "phone"),
    ]
    for draft, field in cases:
        with pytest.raises(AccountError, match=field):
            create_customer(crm, principal=ENGINEER, draft=draft)
    assert crm.count_nodes("Customer") == 2


def test_update_survives_identity_resolution_and_archive_is_kept(crm: FalkorDBStore) -> None:
    customer = "cust:billing:A1"
    updated = update_customer(
        crm, principal=SALES, customer_id=customer, changes={"name": "Atlas Foods Group", "industry": "food"}
    )
    assert updated["name"] == "Atlas Foods Group" and updated["edited_fields"] == ["industry", "name"]
    archived = set_archived(crm, principal=SALES, customer_id=customer, archived=True, reason="merged into group")
    assert archived["status"] == "archived"
    resolve_customers(crm)  # re-running resolution keeps what a person set
    props = crm.get_node("Customer", customer)
    assert props is not None and props["name"] == "Atlas Foods Group" and props["status"] == "archived"
    assert props["email"] == "info@atlasfoods.de"  # resolution still fills the fields nobody edited
    with pytest.raises(AccountError, match="already archived"):
        set_archived(crm, principal=SALES, customer_id=customer, archived=True, reason="again")
    assert set_archived(crm, principal=SALES, customer_id=customer, archived=False)["status"] == "active"
    with pytest.raises(AccountError, match="reason"):
        set_archived(crm, principal=SALES, customer_id=customer, archived=True)
    with pytest.raises(AccountError, match="not an editable"):
        update_customer(crm, principal=SALES, customer_id=customer, changes={"clv": 1e9})
    with pytest.raises(AccountNotFound):
        update_customer(crm, principal=SALES, customer_id="cust:none", changes={"name": "x"})
    for who in (ANALYST, CUSTOMER):
        with pytest.raises(AccessDenied):
            update_customer(crm, principal=who, customer_id=customer, changes={"name": "x"})


def test_company_hierarchy_refuses_cycles(crm: FalkorDBStore) -> None:
    child = create_customer(crm, principal=SALES, draft=CustomerDraft(kind="organization", name="Atlas Foods Poland"))
    grandchild = create_customer(
        crm, principal=SALES, draft=CustomerDraft(kind="organization", name="Atlas Foods Krakow"), parent_id=child["id"]
    )
    group = set_parent(crm, principal=SALES, customer_id=child["id"], parent_id="cust:billing:A1")
    assert [p["id"] for p in group["parents"]] == ["cust:billing:A1"]
    top = hierarchy(crm, principal=ANALYST, customer_id="cust:billing:A1")
    assert [(s["id"], s["parent_id"], s["depth"]) for s in top["subsidiaries"]] == [
        (child["id"], "cust:billing:A1", 1),
        (grandchild["id"], child["id"], 2),
    ]
    with pytest.raises(AccountError, match="cycle"):
        set_parent(crm, principal=SALES, customer_id="cust:billing:A1", parent_id=grandchild["id"])
    with pytest.raises(AccountError, match="own parent"):
        set_parent(crm, principal=SALES, customer_id=child["id"], parent_id=child["id"])
    moved = set_parent(crm, principal=SALES, customer_id=child["id"], parent_id="cust:sales:S2")
    assert [p["id"] for p in moved["parents"]] == ["cust:sales:S2"]  # one parent at a time
    assert set_parent(crm, principal=SALES, customer_id=child["id"], parent_id=None)["parents"] == []


def test_contacts_with_roles_duplicate_email_and_archive(crm: FalkorDBStore) -> None:
    customer = "cust:billing:A1"
    first = add_contact(
        crm, principal=SALES, customer_id=customer, name="Mia Kurz", role="purchasing", email="Mia@Atlas.de"
    )
    assert first["email"] == "mia@atlas.de" and first["customer_id"] == customer
    with pytest.raises(PossibleDuplicate, match=first["id"]):
        add_contact(crm, principal=SALES, customer_id=customer, name="M. Kurz", role="finance", email="mia@atlas.de")
    with pytest.raises(AccountError, match="role must be"):
        add_contact(crm, principal=SALES, customer_id=customer, name="X", role="boss")
    update_contact(crm, principal=SALES, contact_id=first["id"], changes={"role": "decision maker", "job_title": "CFO"})
    rows = list_contacts(crm, principal=ANALYST, customer_id=customer)
    assert [(r["name"], r["role"], r["job_title"]) for r in rows] == [("Mia Kurz", "decision maker", "CFO")]
    set_contact_archived(crm, principal=SALES, contact_id=first["id"], archived=True)
    assert list_contacts(crm, principal=ANALYST, customer_id=customer) == []
    kept = list_contacts(crm, principal=ANALYST, customer_id=customer, include_archived=True)
    assert [r["status"] for r in kept] == ["archived"]
    with pytest.raises(AccessDenied):
        list_contacts(crm, principal=CUSTOMER, customer_id=customer)  # another company's contacts


def test_touches_and_the_timeline(crm: FalkorDBStore) -> None:
    customer = "cust:billing:A1"
    contact = add_contact(crm, principal=SALES, customer_id=customer, name="Mia Kurz", role="purchasing")
    now = datetime.now(UTC).replace(microsecond=0)
    call = log_touch(
        crm,
        principal=SALES,
        customer_id=customer,
        channel="phone",
        direction="outbound",
        subject="Quote follow-up",
        outcome="interested",
        next_step="send revised quote",
        contact_id=contact["id"],
        occurred_at=now - timedelta(days=2),
    )
    assert call["contact"] == "Mia Kurz" and call["by"] == "Ana" and call["next_step"] == "send revised quote"
    log_touch(
        crm,
        principal=ENGINEER,
        customer_id=customer,
        channel="visit",
        direction="outbound",
        subject="Site visit",
        occurred_at=now - timedelta(days=1),
    )
    opp = create_opportunity(
        crm,
        principal=SALES,
        draft=OpportunityDraft(
            customer_id=customer, name="Line 2", amount=5000, currency="EUR", expected_close=date(2027, 1, 1)
        ),
    )
    move_stage(crm, principal=SALES, opportunity_id=opp["id"], stage="proposal")
    crm.upsert_nodes(
        "Order", [{"id": "o1", "order_number": "SO-1", "order_date": (now - timedelta(days=5)).date().isoformat()}]
    )
    crm.upsert_relationships("PLACED", [{"start": customer, "end": "o1"}], start_label="Customer", end_label="Order")
    entries = timeline(crm, principal=ANALYST, customer_id=customer)
    assert [e["kind"] for e in entries] == ["opportunity", "opportunity", "touch", "touch", "order"]
    assert entries[-1]["title"] == "SO-1"
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    page = timeline(crm, principal=ANALYST, customer_id=customer, limit=2)
    rest = timeline(crm, principal=ANALYST, customer_id=customer, before=page[-1]["at"])
    assert [e["kind"] for e in rest] == ["touch", "touch", "order"]
    assert [e["kind"] for e in timeline(crm, principal=ANALYST, customer_id=customer, kinds=("touch",))] == [
        "touch",
        "touch",
    ]
    with pytest.raises(TouchError, match="channel"):
        log_touch(crm, principal=SALES, customer_id=customer, channel="pigeon", direction="inbound", subject="x")
    with pytest.raises(TouchError, match="contact_id"):
        log_touch(
            crm,
            principal=SALES,
            customer_id="cust:sales:S2",
            channel="email",
            direction="inbound",
            subject="x",
            contact_id=contact["id"],
        )
    with pytest.raises(TouchError, match="future"):
        log_touch(
            crm,
            principal=SALES,
            customer_id=customer,
            channel="email",
            direction="inbound",
            subject="x",
            occurred_at=now + timedelta(days=1),
        )
    with pytest.raises(AccessDenied):
        log_touch(crm, principal=ANALYST, customer_id=customer, channel="email", direction="inbound", subject="x")
    with pytest.raises(AccessDenied):
        timeline(crm, principal=CUSTOMER, customer_id="cust:sales:S1")
