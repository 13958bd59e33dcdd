"""Orders, order lines and interactions: linked to resolved customers, products and orders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.identity.graph import resolve_customers
from ingest.mapping import MappingError, load_mapping
from ingest.runner import ingest_file
from kbcrm.demo.load import load_catalog
from kbcrm.graph.falkordb_backend import FalkorDBStore


def _ingest(store: FalkorDBStore, path: Path, mapping: str, kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return ingest_file(store, path=path, mapping=load_mapping(mapping), source_kind=kind, data_dir=tmp_path)


def test_connectors_link_to_resolved_customers(falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path) -> None:
    store = falkordb_store
    manifest = json.loads((demo_dir / "manifest.json").read_text())["counts"]
    load_catalog(store, demo_dir, {})
    for mapping, name in [
        ("sales", "sales_customers.csv"),
        ("service", "service_customers.jsonl"),
        ("billing", "billing_accounts.csv"),
    ]:
        _ingest(store, demo_dir / name, mapping, "customers", tmp_path)
    resolve_customers(store, actor="test")

    orders = _ingest(store, demo_dir / "orders.csv", "orders", "orders", tmp_path)
    assert orders.counts() == {
        "read": manifest["orders"],
        "created": manifest["orders"],
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    lines = _ingest(store, demo_dir / "order_lines.csv", "order_lines", "order-lines", tmp_path)
    assert lines.created == manifest["order_lines"] and lines.rejected == 0
    touches = _ingest(store, demo_dir / "interactions.csv", "interactions", "interactions", tmp_path)
    assert touches.read == manifest["interactions"] and touches.created + touches.rejected == touches.read
    assert touches.rejected <= 2  # only exact duplicates (same customer, minute, channel, subject)

    assert store.read("MATCH (o:Order) WHERE NOT (:Customer)-[:PLACED]->(o) RETURN count(o) AS n")[0]["n"] == 0
    assert (
        store.read(
            "MATCH (l:OrderLine) WHERE NOT (:Order)-[:CONTAINS]->(l) OR NOT (l)-[:FOR_PRODUCT]->(:Product) "
            "RETURN count(l) AS n"
        )[0]["n"]
        == 0
    )
    timeline = store.read("MATCH (c:Customer)-[:HAD_INTERACTION]->(i:Interaction) RETURN count(DISTINCT c) AS n")
    assert timeline[0]["n"] > 30
    edge = store.read("MATCH (:Customer)-[p:PLACED]->(:Order) RETURN p.source_id AS s LIMIT 1")
    assert edge[0]["s"].startswith("source:")  # relationships record their source too

    assert (
        _ingest(store, demo_dir / "orders.csv", "orders", "orders", tmp_path).counts()["unchanged"]
        == manifest["orders"]
    )


def test_rows_without_a_link_target_are_rejected_with_the_reason(
    falkordb_store: FalkorDBStore, demo_dir: Path, tmp_path: Path
) -> None:
    load_catalog(falkordb_store, demo_dir, {})
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_number,account_number,order_date,status,currency,total_amount\nSO-X1,ACC-404,2025-01-02,open,EUR,10.5\n"
    )
    report = _ingest(falkordb_store, orders, "orders", "orders", tmp_path)
    assert report.rejected == 1
    assert "no customer resolved from billing record 'ACC-404'" in report.rejections[0].message
    lines = tmp_path / "lines.csv"
    lines.write_text("order_number,line_number,sku,quantity,unit_price\nSO-X1,1,NOPE,1,9.5\n")
    report = _ingest(falkordb_store, lines, "order_lines", "order-lines", tmp_path)
    assert report.rejected == 1 and "no Order with order_number 'SO-X1'" in report.rejections[0].message


def test_links_are_checked_against_the_ontology(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "source_system: x\nlabel: Order\nkey: id\nfields: {}\n"
        "links:\n  - {rel: FOR_PRODUCT, from: sku, label: Product, match: sku}\n"
    )
    with pytest.raises(MappingError, match="no FOR_PRODUCT from Order to Product"):
        load_mapping(bad)


ZENDESK = Path(__file__).parent / "data" / "zendesk"


def test_a_foreign_service_desk_export_maps_without_code(falkordb_store: FalkorDBStore, tmp_path: Path) -> None:
    from kbcrm.access.models import Principal, Role
    from kbcrm.operations.cases.service import get_case

    store = falkordb_store
    _ingest(store, ZENDESK / "organizations.jsonl", "service", "customers", tmp_path)
    resolve_customers(store, actor="test")
    tickets = _ingest(store, ZENDESK / "tickets.json", "zendesk-tickets", "cases", tmp_path)
    assert tickets.counts() == {"read": 6, "created": 4, "updated": 0, "unchanged": 0, "rejected": 2}
    reasons = {r.line: (r.field, r.value, r.message) for r in tickets.rejections}
    assert reasons[5][:2] == ("via.channel", "carrier_pigeon") and "must be one of phone, email" in reasons[5][2]
    assert reasons[6][:2] == ("organization_id", "360099999999")
    assert "no customer resolved from service" in reasons[6][2]

    cases = {
        r["id"]: r
        for r in store.read(
            "MATCH (c:Customer)-[:RAISED]->(k:ServiceCase) RETURN k.id AS id, c.name AS customer, k.case_number AS "
            "number, k.priority AS priority, k.status AS status, k.channel AS channel, k.category AS category, "
            "k.opened_at AS opened"
        )
    }
    assert set(cases) == {"zendesk:35436", "zendesk:35437", "zendesk:35438", "zendesk:35439"}
    oven = cases["zendesk:35436"]
    assert oven["customer"] == "Harbour Bakery Ltd" and oven["number"] == "35436" and oven["category"] == "incident"
    assert (oven["priority"], oven["status"], oven["channel"]) == ("P1", "in-progress", "email")
    assert oven["opened"].startswith("2026-03-02T08:15:00")
    assert (cases["zendesk:35437"]["priority"], cases["zendesk:35437"]["status"]) == ("P4", "resolved")
    assert (cases["zendesk:35438"]["status"], cases["zendesk:35438"]["channel"]) == ("waiting-for-customer", "phone")
    assert cases["zendesk:35439"]["priority"] is None and cases["zendesk:35439"]["channel"] == "chat"

    comments = _ingest(store, ZENDESK / "comments.json", "zendesk-comments", "case-notes", tmp_path)
    assert comments.counts()["created"] == 4 and comments.rejected == 1
    assert "no ServiceCase with id 'zendesk:35999'" in comments.rejections[0].message
    assert _ingest(store, ZENDESK / "tickets.json", "zendesk-tickets", "cases", tmp_path).counts()["unchanged"] == 4

    customer_id = store.read("MATCH (c:Customer {name: 'Harbour Bakery Ltd'}) RETURN c.id AS id")[0]["id"]
    engineer = Principal("user:eng", "Eng", Role.engineer)
    customer = Principal("user:cust", "Cust", Role.customer, customer_id=customer_id)
    staff_view = get_case(store, principal=engineer, case_id="zendesk:35436")
    portal_view = get_case(store, principal=customer, case_id="zendesk:35436")
    assert staff_view is not None and portal_view is not None
    assert len(staff_view["notes"]) == 3 and len(portal_view["notes"]) == 2  # Zendesk's private comment stays internal
    assert all("Do not promise" not in note["text"] for note in portal_view["notes"])


def test_values_in_a_mapping_are_checked_against_the_ontology(tmp_path: Path) -> None:
    bad = tmp_path / "tickets.yaml"
    bad.write_text(
        "source_system: x\nlabel: ServiceCase\nkey: id\nfields:\n  case_number: {from: id}\n"
        "  opened_at: {from: created, type: datetime}\n  priority: {from: p, values: {urgent: P0}}\n",
        encoding="utf-8",
    )
    with pytest.raises(MappingError, match="'urgent' maps to 'P0', not one of P1, P2, P3, P4"):
        load_mapping(bad)
