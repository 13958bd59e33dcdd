"""Touches and the customer timeline.

A touch is an Interaction on any channel (phone, email, web, visit, chat, fax, post) with
direction, outcome and next step, optionally with one of the customer's contacts and the
employee who handled it. The timeline merges everything that happened with a customer —
touches, cases opened and closed, orders, opportunity stage moves, campaign responses and
consent changes — newest first, paged by time (`before`). It is staff-only: touches carry
internal outcomes.
"""

from __future__ import annotations

import heapq
import secrets
from datetime import UTC, datetime
from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import Principal
from kbcrm.access.scope import require_account_writer, require_customer, require_staff
from kbcrm.customers.service import get_customer
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

CHANNELS = ("phone", "email", "web", "visit", "chat", "fax", "post")
DIRECTIONS = ("inbound", "outbound")
KINDS = ("touch", "case", "order", "opportunity", "campaign", "consent")
FAR_FUTURE = "9999-12-31T23:59:59"

CONTACT_OF = cypher(
    "touches.contact_of",
    "MATCH (c:Customer {id: $customer})-[:HAS_CONTACT]->(k:Contact {id: $contact}) RETURN k.id AS id",
    example={"customer": "c1", "contact": "k1"},
)
# What a touch shows on the timeline (with its contact and the employee who handled it).
_TOUCH = (
    "OPTIONAL MATCH (i)-[:WITH_CONTACT]->(k:Contact) OPTIONAL MATCH (i)-[:HANDLED_BY]->(e:Employee) "
    "RETURN i.occurred_at AS at, i.id AS id, i.channel AS channel, i.direction AS direction, "
    "i.subject AS title, i.outcome AS outcome, i.next_step AS next_step, k.name AS contact, e.name AS by "
)
TOUCHES = cypher(
    "touches.timeline_touches",
    "MATCH (c:Customer {id: $id})-[:HAD_INTERACTION]->(i:Interaction) WHERE i.occurred_at < $before "
    + _TOUCH
    + "ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)
TOUCH = cypher("touches.one", "MATCH (i:Interaction {id: $id}) " + _TOUCH, example={"id": "touch:none"})
CASES = cypher(
    "touches.timeline_cases",
    "MATCH (c:Customer {id: $id})-[:RAISED]->(k:ServiceCase) WHERE k.opened_at < $before "
    "RETURN k.opened_at AS at, k.id AS id, k.channel AS channel, k.subject AS title, k.status AS status, "
    "k.priority AS priority, k.closed_at AS closed_at ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)
ORDERS = cypher(
    "touches.timeline_orders",
    "MATCH (c:Customer {id: $id})-[:PLACED]->(o:Order) WHERE o.order_date < $before "
    "RETURN o.order_date AS at, o.id AS id, o.order_number AS title, o.total_amount AS amount, "
    "o.currency AS currency ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)
STAGE_MOVES = cypher(
    "touches.timeline_stage_moves",
    "MATCH (c:Customer {id: $id})-[:HAS_OPPORTUNITY]->(o:Opportunity)-[:HAS_STAGE_CHANGE]->(s:StageChange) "
    "WHERE s.changed_at < $before "
    "RETURN s.changed_at AS at, o.id AS id, o.name AS title, s.from_stage AS from_stage, s.to_stage AS to_stage, "
    "s.close_reason AS reason, s.changed_by AS by ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)
CAMPAIGN_RESPONSES = cypher(
    "touches.timeline_campaigns",
    "MATCH (c:Customer {id: $id})-[m:IN_CAMPAIGN]->(k:Campaign) WHERE m.responded_at < $before "
    "RETURN m.responded_at AS at, k.id AS id, k.name AS title, k.channel AS channel, m.response AS response "
    "ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)
CONSENTS = cypher(
    "touches.timeline_consents",
    "MATCH (c:Customer {id: $id})-[:GAVE_CONSENT]->(k:Consent) WHERE k.recorded_at < $before "
    "RETURN k.recorded_at AS at, k.id AS id, k.channel AS channel, k.granted AS granted "
    "ORDER BY at DESC, id DESC LIMIT $limit",
    example={"id": "c1", "before": FAR_FUTURE, "limit": 10},
    ordered=True,
)


class TouchError(ValueError):
    """A touch that cannot be recorded (unknown channel, contact of another customer…)."""


def log_touch(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str,
    channel: str,
    direction: str,
    subject: str,
    outcome: str = "",
    next_step: str = "",
    contact_id: str = "",
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """Record a touch on the customer's timeline; returns it as the timeline shows it."""
    require_account_writer(principal)
    if channel not in CHANNELS:
        raise TouchError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    if direction not in DIRECTIONS:
        raise TouchError(f"direction must be inbound or outbound, not {direction!r}")
    subject = " ".join(subject.split())
    if not subject:
        raise TouchError("subject: required")
    for name, text in (("subject", subject), ("outcome", outcome), ("next_step", next_step)):
        if len(text) > 500:
            raise TouchError(f"{name}: at most 500 characters")
    customer = get_customer(store, customer_id)
    if customer is None:
        raise TouchError(f"customer_id: no customer {customer_id!r}")
    if customer.get("erased_at"):
        raise TouchError(f"customer_id: customer {customer_id!r} was erased")
    if contact_id and not store.read(CONTACT_OF, customer=customer_id, contact=contact_id):
        raise TouchError(f"contact_id: {contact_id!r} is not a contact of {customer_id}")
    when = occurred_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise TouchError("occurred_at: give a time zone (e.g. 2026-11-24T10:00:00+01:00)")
    if when > datetime.now(UTC):
        raise TouchError("occurred_at: in the future")
    touch_id = f"touch:{utc_now()[:10].replace('-', '')}-{secrets.token_hex(5)}"
    store.upsert_nodes(
        Label.Interaction,
        [
            {
                "id": touch_id,
                "channel": channel,
                "direction": direction,
                "occurred_at": when.astimezone(UTC).isoformat(timespec="seconds"),
                "subject": subject,
                "outcome": " ".join(outcome.split()) or None,
                "next_step": " ".join(next_step.split()) or None,
            }
        ],
    )
    store.upsert_relationships(
        Rel.HAD_INTERACTION,
        [{"start": customer_id, "end": touch_id}],
        start_label=Label.Customer,
        end_label=Label.Interaction,
    )
    if contact_id:
        store.upsert_relationships(
            Rel.WITH_CONTACT,
            [{"start": touch_id, "end": contact_id}],
            start_label=Label.Interaction,
            end_label=Label.Contact,
        )
    if principal.employee_id:
        store.upsert_relationships(
            Rel.HANDLED_BY,
            [{"start": touch_id, "end": principal.employee_id}],
            start_label=Label.Interaction,
            end_label=Label.Employee,
        )
    audit.record(
        store, actor=principal.user_id, action="touch_logged", target=touch_id, detail={"customer": customer_id}
    )
    return _entry("touch", store.read(TOUCH, id=touch_id)[0])


def _entry(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """One timeline entry: when, what kind, which record, a title and the kind's own details."""
    at = str(row.pop("at"))
    return {"at": at, "kind": kind, "id": row.pop("id"), "title": row.pop("title", None), **row}


def timeline(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str,
    kinds: tuple[str, ...] = (),
    before: str = "",
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Everything that happened with a customer, newest first; page with the last entry's `at` as `before`."""
    require_staff(principal)
    require_customer(principal, customer_id)
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise TouchError(f"kinds: unknown {', '.join(sorted(unknown))} (use {', '.join(KINDS)})")
    wanted = kinds or KINDS
    params: dict[str, Any] = {"id": customer_id, "before": before or FAR_FUTURE, "limit": limit}
    sources = {
        "touch": TOUCHES,
        "case": CASES,
        "order": ORDERS,
        "opportunity": STAGE_MOVES,
        "campaign": CAMPAIGN_RESPONSES,
        "consent": CONSENTS,
    }
    streams = [[_entry(kind, row) for row in store.read(sources[kind], **params)] for kind in wanted]
    merged = heapq.merge(*streams, key=lambda e: (e["at"], e["kind"], e["id"]), reverse=True)
    return [entry for _, entry in zip(range(limit), merged, strict=False)]
