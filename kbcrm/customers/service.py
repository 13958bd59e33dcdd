"""Reading customers and what they own, order and say; every call is scoped by the principal."""

from __future__ import annotations

import json
from typing import Any

from kbcrm.access.models import Principal
from kbcrm.access.scope import customer_filter, require_customer
from kbcrm.graph import GraphStore, cypher
from kbcrm.loyalty.profile import SECTIONS, TITLES

# Properties that never leave the service (vectors, hashes, demo ground truth).
HIDDEN = frozenset({"embedding", "content_hash", "password_hash", "true_customer", "source_ids"})

CUSTOMERS_PAGE = cypher(
    "customers.page",
    "MATCH (c:Customer) WHERE c.id > $after AND ($q = '' OR toLower(c.name) CONTAINS $q) "
    "AND ($tier = '' OR c.loyalty_tier = $tier) "
    "RETURN c.id AS id, c.name AS name, c.customer_kind AS kind, c.country AS country, c.loyalty_tier AS tier, "
    "c.churn_risk AS churn_risk, c.clv AS clv ORDER BY c.id LIMIT $limit",
    example={"after": "", "q": "", "tier": "", "limit": 10},
    ordered=True,
)
CUSTOMER = cypher(
    "customers.one",
    "MATCH (c:Customer {id: $id}) RETURN properties(c) AS props, labels(c) AS labels",
    example={"id": "c1"},
)
SOURCES = cypher(
    "customers.sources",
    "MATCH (c:Customer {id: $id})-[r:RESOLVED_FROM]->(s:SourceRecord) "
    "RETURN s.id AS id, s.source_system AS system, s.source_key AS key, s.name AS name, s.email AS email, "
    "r.rule AS rule, r.score AS score ORDER BY s.id",
    example={"id": "c1"},
    ordered=True,
)
ORDERS = cypher(
    "customers.orders",
    "MATCH (c:Customer {id: $id})-[:PLACED]->(o:Order) "
    "RETURN o.id AS id, o.order_number AS number, o.order_date AS date, o.status AS status, "
    "o.total_amount AS total, o.currency AS currency, o.due_on AS due_on, o.paid_on AS paid_on "
    "ORDER BY o.order_date DESC, o.id SKIP $skip LIMIT $limit",
    example={"id": "c1", "skip": 0, "limit": 10},
    ordered=True,
)
ORDER_LINES = cypher(
    "customers.order_lines",
    "MATCH (c:Customer {id: $customer})-[:PLACED]->(o:Order {id: $id})-[:CONTAINS]->(l:OrderLine) "
    "OPTIONAL MATCH (l)-[:FOR_PRODUCT]->(p:Product) "
    "RETURN l.line_number AS line, p.id AS product, p.name AS product_name, l.quantity AS quantity, "
    "l.unit_price AS unit_price ORDER BY l.line_number",
    example={"customer": "c1", "id": "o1"},
    ordered=True,
)
INSTALLED_BASE = cypher(
    "customers.installed_base",
    "MATCH (c:Customer {id: $id})-[o:OWNS]->(p:Product) "
    "RETURN p.id AS id, p.name AS name, o.serial_number AS serial_number, o.installed_at AS installed_at, "
    "o.quantity AS quantity ORDER BY p.name, o.serial_number",
    example={"id": "c1"},
    ordered=True,
)
INTERACTIONS = cypher(
    "customers.interactions",
    "MATCH (c:Customer {id: $id})-[:HAD_INTERACTION]->(i:Interaction) "
    "RETURN i.id AS id, i.occurred_at AS at, i.channel AS channel, i.direction AS direction, "
    "i.subject AS subject, i.outcome AS outcome ORDER BY i.occurred_at DESC, i.id LIMIT $limit",
    example={"id": "c1", "limit": 10},
    ordered=True,
)
SEGMENTS = cypher(
    "customers.segments",
    "MATCH (c:Customer {id: $id})-[:MEMBER_OF]->(s:Segment) RETURN s.id AS id, s.name AS name, "
    "s.description AS description ORDER BY s.id",
    example={"id": "c1"},
    ordered=True,
)
NEIGHBOURHOOD = cypher(
    "customers.neighbourhood",
    "MATCH (c:Customer {id: $id})-[r]-(n) WHERE NOT n:SourceRecord AND NOT n:Source "
    "RETURN type(r) AS rel, startNode(r).id = c.id AS outgoing, n.id AS id, labels(n)[0] AS label, "
    "coalesce(n.name, n.subject, n.order_number, n.title, n.id) AS name ORDER BY rel, id LIMIT $limit",
    example={"id": "c1", "limit": 10},
    ordered=True,
)


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(props.items()) if k not in HIDDEN}


def list_customers(
    store: GraphStore, *, principal: Principal, q: str = "", tier: str = "", after: str = "", limit: int = 50
) -> list[dict[str, Any]]:
    """Customers by id (keyset pages: pass the last id as `after`); a customer sees only themself."""
    own = customer_filter(principal)
    if own is not None:
        row = profile(store, principal=principal, customer_id=own)
        return [{"id": own, "name": row.get("name") if row else None}] if row and own > after else []
    return store.read(CUSTOMERS_PAGE, after=after, q=q.lower().strip(), tier=tier, limit=limit)


def get_customer(store: GraphStore, customer_id: str) -> dict[str, Any] | None:
    """The customer node's properties, unscoped (for services that check access themselves); None when unknown."""
    rows = store.read(CUSTOMER, id=customer_id)
    return dict(rows[0]["props"]) if rows else None


def profile(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, Any] | None:
    """The customer's own properties, or None when there is no such customer."""
    require_customer(principal, customer_id)
    props = get_customer(store, customer_id)
    return _clean(props) if props is not None else None


def orders(
    store: GraphStore, *, principal: Principal, customer_id: str, skip: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """The customer's orders, newest first, with payment status."""
    require_customer(principal, customer_id)
    rows = store.read(ORDERS, id=customer_id, skip=skip, limit=limit)
    for row in rows:
        if row["status"] is None:
            row["status"] = "paid" if row["paid_on"] else ("invoiced" if row["due_on"] else "placed")
    return rows


def order_lines(store: GraphStore, *, principal: Principal, customer_id: str, order_id: str) -> list[dict[str, Any]]:
    """The lines of one of the customer's orders (empty when the order is not theirs)."""
    require_customer(principal, customer_id)
    return store.read(ORDER_LINES, customer=customer_id, id=order_id)


def installed_base(store: GraphStore, *, principal: Principal, customer_id: str) -> list[dict[str, Any]]:
    """The products the customer owns."""
    require_customer(principal, customer_id)
    return store.read(INSTALLED_BASE, id=customer_id)


def seven_p_sections(text: str | None) -> list[dict[str, Any]]:
    """The stored 7P profile as sections in their order: key, title, summary and figures (empty before scoring)."""
    if not text:
        return []
    stored = json.loads(text)
    return [
        {
            "key": key,
            "title": TITLES[key],
            "summary": stored[key]["summary"],
            "figures": {k: v for k, v in stored[key].items() if k != "summary"},
        }
        for key in SECTIONS
        if key in stored
    ]


def customer_360(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, Any] | None:
    """Everything staff see on one page.

    Profile, sources, orders, products, cases, interactions, loyalty scores with reasons,
    segments, the graph neighbourhood, contacts, the company group and opportunities.
    """
    from kbcrm.operations.accounts.service import hierarchy, list_contacts
    from kbcrm.operations.cases.service import list_cases
    from kbcrm.operations.opportunities.service import list_opportunities

    props = profile(store, principal=principal, customer_id=customer_id)
    if props is None:
        return None
    loyalty_keys = (
        "loyalty_tier",
        "loyalty_score",
        "loyalty_reasons",
        "clv",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "churn_risk",
        "churn_reasons",
        "credit_rating",
        "purchasing_power_reasons",
        "rfm_segment",
        "rfm_score",
        "network_centrality",
        "community",
        "model_version",
        "scored_as_of",
    )
    return {
        "id": customer_id,
        "profile": {k: v for k, v in props.items() if k not in loyalty_keys and k != "profile_7p"},
        "loyalty": {k: props.get(k) for k in loyalty_keys},
        "seven_p": seven_p_sections(props.get("profile_7p")),
        "sources": store.read(SOURCES, id=customer_id) if principal.is_staff else [],
        "orders": orders(store, principal=principal, customer_id=customer_id, limit=20),
        "installed_base": installed_base(store, principal=principal, customer_id=customer_id),
        "cases": list_cases(store, principal=principal, customer_id=customer_id, limit=20),
        "interactions": store.read(INTERACTIONS, id=customer_id, limit=20) if principal.is_staff else [],
        "segments": store.read(SEGMENTS, id=customer_id) if principal.is_staff else [],
        "neighbourhood": store.read(NEIGHBOURHOOD, id=customer_id, limit=60) if principal.is_staff else [],
        "contacts": list_contacts(store, principal=principal, customer_id=customer_id),
        "group": hierarchy(store, principal=principal, customer_id=customer_id) if principal.is_staff else None,
        "opportunities": (
            list_opportunities(store, principal=principal, customer_id=customer_id, limit=50)
            if principal.is_staff
            else []
        ),
    }
