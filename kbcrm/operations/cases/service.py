"""Service cases: list, read (notes filtered by who reads), open from the portal, add notes, set status.

Record-level scope comes from kbcrm.access.scope: a customer reaches only their own cases
and never an internal note.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import AccessDenied, Principal
from kbcrm.access.scope import (
    article_audiences,
    article_states,
    customer_filter,
    note_visibilities,
    require_case_reader,
    require_case_worker,
    require_case_writer,
    require_customer,
)
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from kbcrm.operations.cases.sla import BusinessCalendar, sla_status
from ontology.terms import Label, Rel

STATUSES = ("open", "in-progress", "waiting-for-customer", "resolved", "closed")
PRIORITIES = ("P1", "P2", "P3", "P4")

CASES = cypher(
    "cases.page",
    "MATCH (c:Customer)-[:RAISED]->(k:ServiceCase) "
    "WHERE ($customer = '' OR c.id = $customer) "
    "AND ($status = '' OR k.status = $status OR ($status = 'active' AND NOT k.status IN ['resolved', 'closed'])) "
    "AND ($after = '' OR k.opened_at < $after) "
    "OPTIONAL MATCH (k)-[:ABOUT_PRODUCT]->(p:Product) "
    "RETURN k.id AS id, k.subject AS subject, k.status AS status, k.priority AS priority, k.channel AS channel, "
    "k.opened_at AS opened_at, k.first_response_at AS first_response_at, k.closed_at AS closed_at, "
    "c.id AS customer_id, c.name AS customer_name, p.id AS product_id, p.name AS product_name "
    "ORDER BY k.opened_at DESC, k.id LIMIT $limit",
    example={"customer": "", "status": "", "after": "", "limit": 10},
    ordered=True,
)
CASE = cypher(
    "cases.one",
    "MATCH (k:ServiceCase {id: $id}) OPTIONAL MATCH (c:Customer)-[:RAISED]->(k) "
    "OPTIONAL MATCH (k)-[:ABOUT_PRODUCT]->(p:Product) OPTIONAL MATCH (k)-[:HANDLED_BY]->(e:Employee) "
    "RETURN properties(k) AS props, c.id AS customer_id, c.name AS customer_name, p.id AS product_id, "
    "p.name AS product_name, e.id AS engineer_id, e.name AS engineer_name",
    example={"id": "C-1"},
)
NOTES = cypher(
    "cases.notes",
    "MATCH (k:ServiceCase {id: $id})-[:HAS_NOTE]->(n:ServiceNote) WHERE n.visibility IN $visibilities "
    "OPTIONAL MATCH (e:Employee)-[:WROTE]->(n) "
    "RETURN n.id AS id, n.text AS text, n.visibility AS visibility, n.written_at AS written_at, "
    "n.language AS language, e.name AS author ORDER BY n.written_at, n.id",
    example={"id": "C-1", "visibilities": ["customer"]},
    ordered=True,
)
LINKED_ARTICLES = cypher(
    "cases.linked_articles",
    "MATCH (k:ServiceCase {id: $id}) WITH k "
    "MATCH (a:KnowledgeArticle)-[r:LINKED_TO_CASE]->(k) WHERE a.audience IN $audiences AND a.confidence IN $states "
    "RETURN a.id AS id, a.title AS title, r.kind AS kind, r.linked_by AS linked_by, r.linked_at AS linked_at "
    "ORDER BY a.id",
    example={"id": "C-1", "audiences": ["public"], "states": ["validated"]},
    ordered=True,
)
SET_STATUS = cypher(
    "cases.set_status",
    "MATCH (k:ServiceCase {id: $id}) SET k.status = $status, k.updated_at = $now, "
    "k.closed_at = CASE WHEN $status IN ['resolved', 'closed'] THEN coalesce(k.closed_at, $now) ELSE null END "
    "RETURN k.id AS id",
    example={"id": "C-none", "status": "open", "now": "2026-01-01T00:00:00+00:00"},
)
FIRST_RESPONSE = cypher(
    "cases.first_response",
    "MATCH (k:ServiceCase {id: $id}) WHERE k.first_response_at IS NULL SET k.first_response_at = $now "
    "RETURN k.id AS id",
    example={"id": "C-none", "now": "2026-01-01T00:00:00+00:00"},
)


class CaseError(ValueError):
    """A case request that cannot be served (bad status, empty subject, unknown product…)."""


class CaseNotFound(CaseError):
    """No such case (the API answers 404)."""


def list_cases(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str | None = None,
    status: str = "",
    after: str = "",
    limit: int = 50,
    calendar: BusinessCalendar | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Cases, newest first (pages: pass the last row's opened_at as `after`); customers get their own only.

    `status` is one of STATUSES, or 'active' for every case not resolved or closed.
    """
    own = customer_filter(principal)
    if own is not None:
        if customer_id not in (None, own):
            raise AccessDenied("these cases are not yours")
        customer_id = own
    elif customer_id:
        require_customer(principal, customer_id)
    if status and status not in ("active", *STATUSES):
        raise CaseError(f"status must be active or one of {', '.join(STATUSES)}, not {status!r}")
    rows = store.read(CASES, customer=customer_id or "", status=status, after=after, limit=limit)
    when = now or datetime.now(UTC)
    for row in rows:
        row["sla"] = sla_status(row, now=when, calendar=calendar or BusinessCalendar())
    return rows


def get_case(
    store: GraphStore,
    *,
    principal: Principal,
    case_id: str,
    calendar: BusinessCalendar | None = None,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """One case with the notes and linked articles this principal may read; None when unknown."""
    rows = store.read(CASE, id=case_id)
    if not rows:
        return None
    row = rows[0]
    require_case_reader(principal, row["customer_id"])
    props = {k: v for k, v in row["props"].items() if k not in ("content_hash", "source_ids")}
    return {
        **props,
        "customer_id": row["customer_id"],
        "customer_name": row["customer_name"],
        "product_id": row["product_id"],
        "product_name": row["product_name"],
        "engineer_name": row["engineer_name"] if principal.is_staff else None,
        "notes": store.read(NOTES, id=case_id, visibilities=note_visibilities(principal)),
        # Only articles the reader may open (a customer: validated customer/public ones).
        "articles": store.read(
            LINKED_ARTICLES, id=case_id, audiences=article_audiences(principal), states=article_states(principal)
        ),
        "sla": sla_status(props, now=now or datetime.now(UTC), calendar=calendar or BusinessCalendar()),
    }


def open_case(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str,
    subject: str,
    description: str = "",
    product_id: str | None = None,
    priority: str = "P3",
    channel: str = "web",
    suggestions_shown: Sequence[str] = (),
) -> dict[str, Any]:
    """Open a case for a customer (a customer may open only their own); returns the new case.

    The audit event keeps which articles were suggested before the case was opened anyway
    (case deflection that did not work).
    """
    require_case_writer(principal)
    require_customer(principal, customer_id)
    subject = " ".join(subject.split())
    if not subject:
        raise CaseError("subject: required")
    if len(subject) > 200:
        raise CaseError("subject: at most 200 characters")
    if priority not in PRIORITIES:
        raise CaseError(f"priority must be one of {', '.join(PRIORITIES)}, not {priority!r}")
    if product_id:
        owned = {p["id"] for p in store.read(INSTALLED_FOR, id=customer_id)}
        if product_id not in owned:
            raise CaseError(f"product {product_id!r} is not in this customer's installed base")
    now = utc_now()
    case_id = f"C-W{now[:10].replace('-', '')}-{secrets.token_hex(3).upper()}"
    store.upsert_nodes(
        Label.ServiceCase,
        [
            {
                "id": case_id,
                "case_number": case_id,
                "subject": subject,
                "description": description.strip() or None,
                "priority": priority,
                "channel": channel,
                "status": "open",
                "opened_at": now,
                "created_at": now,
            }
        ],
    )
    store.upsert_relationships(
        Rel.RAISED, [{"start": customer_id, "end": case_id}], start_label=Label.Customer, end_label=Label.ServiceCase
    )
    if product_id:
        store.upsert_relationships(
            Rel.ABOUT_PRODUCT,
            [{"start": case_id, "end": product_id}],
            start_label=Label.ServiceCase,
            end_label=Label.Product,
        )
    audit.record(
        store,
        actor=principal.user_id,
        action="case_opened",
        target=case_id,
        detail={"suggestions_shown": list(suggestions_shown)[:20]},
    )
    case = get_case(store, principal=principal, case_id=case_id)
    assert case is not None
    return case


INSTALLED_FOR = cypher(
    "cases.installed_for",
    "MATCH (c:Customer {id: $id})-[:OWNS]->(p:Product) RETURN DISTINCT p.id AS id",
    example={"id": "c1"},
)


def add_note(
    store: GraphStore, *, principal: Principal, case_id: str, text: str, visibility: str = "customer"
) -> dict[str, Any]:
    """Add a note; customers always write customer-visible notes, staff choose.

    A staff note the customer can read is the case's first response if there was none.
    """
    require_case_writer(principal)
    if get_case(store, principal=principal, case_id=case_id) is None:
        raise CaseNotFound(f"case {case_id!r} not found")
    if not text.strip():
        raise CaseError("text: required")
    if visibility not in ("internal", "customer"):
        raise CaseError("visibility must be internal or customer")
    if not principal.is_staff:
        visibility = "customer"
    now = utc_now()
    note_id = f"{case_id}-N{secrets.token_hex(4)}"
    store.upsert_nodes(
        Label.ServiceNote,
        [{"id": note_id, "text": text.strip(), "visibility": visibility, "written_at": now, "created_at": now}],
    )
    store.upsert_relationships(
        Rel.HAS_NOTE, [{"start": case_id, "end": note_id}], start_label=Label.ServiceCase, end_label=Label.ServiceNote
    )
    if principal.is_staff and principal.employee_id:
        store.upsert_relationships(
            Rel.WROTE,
            [{"start": principal.employee_id, "end": note_id}],
            start_label=Label.Employee,
            end_label=Label.ServiceNote,
        )
    if principal.is_staff and visibility == "customer":
        store.run(FIRST_RESPONSE, id=case_id, now=now)
    audit.record(store, actor=principal.user_id, action="note_added", target=case_id, detail={"note": note_id})
    return {"id": note_id, "visibility": visibility, "written_at": now}


def set_status(store: GraphStore, *, principal: Principal, case_id: str, status: str) -> dict[str, Any]:
    """Move a case to a status (staff); resolving or closing stamps closed_at once."""
    if status not in STATUSES:
        raise CaseError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    require_case_worker(principal)
    if not store.run(SET_STATUS, id=case_id, status=status, now=utc_now()):
        raise CaseNotFound(f"case {case_id!r} not found")
    audit.record(store, actor=principal.user_id, action="case_status", target=case_id, detail={"status": status})
    case = get_case(store, principal=principal, case_id=case_id)
    assert case is not None
    return case


def sla_watchlist(
    store: GraphStore,
    *,
    principal: Principal,
    calendar: BusinessCalendar,
    warning_share: float = 0.75,
    now: datetime | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Active cases whose SLA is at risk or breached, the most urgent (least time left) first."""
    if not principal.is_staff:
        raise AccessDenied("the SLA watchlist is for staff")
    when = now or datetime.now(UTC)
    rows = store.read(CASES, customer="", status="active", after="", limit=100_000)
    flagged = []
    for row in rows:
        row["sla"] = sla_status(row, now=when, calendar=calendar, warning_share=warning_share)
        running = [c for c in row["sla"].get("clocks", []) if c["stopped_at"] is None]
        if row["sla"].get("escalation", 0) > 0 and running:
            row["remaining_hours"] = min(c["remaining_hours"] for c in running)
            flagged.append(row)
    flagged.sort(key=lambda r: (r["remaining_hours"], r["id"]))
    return flagged[:limit]
