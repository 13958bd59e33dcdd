"""Graph reads and writes of the loyalty job: customer activity in pages, scores and segments back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label, Rel

CUSTOMERS_PAGE = cypher(
    "loyalty.customers_page",
    "MATCH (c:Customer) WHERE c.id > $after "
    "RETURN c.id AS id, c.name AS name, c.customer_since AS since, c.customer_kind AS kind, c.country AS country "
    "ORDER BY c.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)
ORDERS = cypher(
    "loyalty.orders",
    "MATCH (c:Customer)-[:PLACED]->(o:Order) WHERE c.id IN $ids "
    "RETURN c.id AS customer, o.order_date AS day, o.total_amount AS amount, o.due_on AS due_on, o.paid_on AS paid_on",
    example={"ids": ["x"]},
)
CASES = cypher(
    "loyalty.cases",
    "MATCH (c:Customer)-[:RAISED]->(s:ServiceCase) WHERE c.id IN $ids "
    "RETURN c.id AS customer, s.priority AS priority, s.opened_at AS opened_at, "
    "s.first_response_at AS first_response_at, s.closed_at AS closed_at",
    example={"ids": ["x"]},
)
INTERACTIONS = cypher(
    "loyalty.interactions",
    "MATCH (c:Customer)-[:HAD_INTERACTION]->(i:Interaction) WHERE c.id IN $ids "
    "RETURN c.id AS customer, i.occurred_at AS at, i.outcome AS outcome, i.subject AS subject, i.channel AS channel",
    example={"ids": ["x"]},
)
INSTALLED = cypher(
    "loyalty.installed",
    "MATCH (c:Customer)-[o:OWNS]->(p:Product) WHERE c.id IN $ids "
    "RETURN c.id AS customer, p.id AS product, o.installed_at AS installed_at",
    example={"ids": ["x"]},
)
LINES = cypher(
    "loyalty.order_lines",
    "MATCH (c:Customer)-[:PLACED]->(o:Order)-[:CONTAINS]->(l:OrderLine)-[:FOR_PRODUCT]->(p:Product) "
    "WHERE c.id IN $ids RETURN c.id AS customer, o.id AS order, o.order_date AS day, p.id AS product, "
    "p.name AS product_name, p.category AS category, l.quantity AS quantity, l.unit_price AS unit_price",
    example={"ids": ["x"]},
)
CAMPAIGNS = cypher(
    "loyalty.campaigns",
    "MATCH (c:Customer)-[m:IN_CAMPAIGN]->(k:Campaign) WHERE c.id IN $ids "
    "RETURN c.id AS customer, k.id AS campaign, k.name AS campaign_name, k.channel AS channel, "
    "m.control_group AS control_group, m.response AS response, m.responded_at AS responded_at",
    example={"ids": ["x"]},
)
OPPORTUNITIES = cypher(
    "loyalty.opportunities",
    "MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o:Opportunity) WHERE c.id IN $ids "
    "RETURN c.id AS customer, o.id AS opportunity, o.stage AS stage, o.amount AS amount, "
    "o.probability AS probability, o.expected_close AS expected_close",
    example={"ids": ["x"]},
)
RELATIONSHIPS = cypher(
    "loyalty.relationships",
    "MATCH (a:Customer)-[r:REFERRED|SUBSIDIARY_OF]->(b:Customer) "
    "RETURN a.id AS source, b.id AS target, type(r) AS kind",
)
SHARED_CONTACTS = cypher(
    "loyalty.shared_contacts",
    "MATCH (a:Customer)-[:HAS_CONTACT]->(k:Contact)<-[:HAS_CONTACT]-(b:Customer) WHERE a.id < b.id "
    "RETURN a.id AS source, b.id AS target, count(k) AS shared",
)
OWNERSHIP = cypher(
    "loyalty.ownership",
    "MATCH (c:Customer)-[:OWNS]->(p:Product) RETURN DISTINCT c.id AS customer, p.id AS product",
)
DROP_MEMBERSHIPS = cypher(
    "loyalty.drop_memberships",
    "UNWIND $ids AS cid MATCH (c:Customer {id: cid})-[m:MEMBER_OF]->(s:Segment) "
    "WHERE s.segment_kind IN $kinds DELETE m",
    example={"ids": [], "kinds": ["cluster"]},
)
DROP_STALE_SEGMENTS = cypher(
    "loyalty.drop_stale_segments",
    "MATCH (s:Segment) WHERE s.segment_kind IN $kinds AND NOT s.id IN $keep DETACH DELETE s",
    example={"kinds": ["cluster"], "keep": []},
)
SCORED = cypher(
    "loyalty.scored_page",
    "MATCH (c:Customer) WHERE c.id > $after AND c.model_version IS NOT NULL "
    "OPTIONAL MATCH (c)-[:MEMBER_OF]->(s:Segment {segment_kind: 'cluster'}) "
    "RETURN c.id AS id, c.name AS name, c.clv AS clv, c.p_alive AS p_alive, c.churn_risk AS churn_risk, "
    "c.churn_reasons AS churn_reasons, c.loyalty_tier AS tier, c.loyalty_score AS loyalty_score, "
    "c.loyalty_reasons AS loyalty_reasons, c.rfm_segment AS rfm_segment, c.credit_rating AS credit_rating, "
    "c.expected_purchases AS expected_purchases, c.expected_spend AS expected_spend, s.name AS segment, "
    "c.model_version AS model_version, c.scored_as_of AS as_of ORDER BY c.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)
SEGMENTS = cypher(
    "loyalty.segments",
    "MATCH (s:Segment) WHERE s.segment_kind IN $kinds "
    "RETURN s.id AS id, s.name AS name, s.description AS description, s.segment_kind AS kind, s.size AS size, "
    "s.rule AS rule ORDER BY s.segment_kind, s.size DESC",
    example={"kinds": ["cluster"]},
)
LOYALTY_KINDS = ["cluster", "rfm", "tier"]


@dataclass
class CustomerActivity:
    """Everything the loyalty models read about one customer."""

    id: str
    name: str
    since: str | None
    kind: str | None
    country: str | None = None
    orders: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)
    interactions: list[dict[str, Any]] = field(default_factory=list)
    installed: list[dict[str, Any]] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)


def activity_pages(store: GraphStore, *, page_size: int = 2000) -> Iterator[list[CustomerActivity]]:
    """Customers in id order, a page at a time, with everything the loyalty models read.

    That is each customer's orders (and their lines), cases, interactions, installed base,
    campaign memberships and opportunities.
    """
    after = ""
    while True:
        rows = store.read(CUSTOMERS_PAGE, after=after, limit=page_size)
        if not rows:
            return
        page = {
            r["id"]: CustomerActivity(
                id=r["id"], name=r["name"] or r["id"], since=r["since"], kind=r["kind"], country=r["country"]
            )
            for r in rows
        }
        for query, attribute in (
            (ORDERS, "orders"),
            (CASES, "cases"),
            (INTERACTIONS, "interactions"),
            (INSTALLED, "installed"),
            (LINES, "lines"),
            (CAMPAIGNS, "campaigns"),
            (OPPORTUNITIES, "opportunities"),
        ):
            # `id IN $ids`, not an id range: FalkorDB's index scan ignores an upper bound on a string.
            for row in store.read(query, ids=list(page)):
                getattr(page[row["customer"]], attribute).append(row)
        yield list(page.values())
        after = rows[-1]["id"]


def relationship_edges(store: GraphStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, list[str]]]:
    """(referral and subsidiary edges, shared-contact edges, product → owners)."""
    owners: dict[str, list[str]] = defaultdict(list)
    for row in store.read(OWNERSHIP):
        owners[row["product"]].append(row["customer"])
    return store.read(RELATIONSHIPS), store.read(SHARED_CONTACTS), dict(owners)


def write_scores(store: GraphStore, rows: Sequence[Mapping[str, Any]]) -> None:
    """Scores onto Customer nodes (MERGE by id; same values, same graph)."""
    store.upsert_nodes(Label.Customer, rows)


def write_segments(store: GraphStore, segments: Sequence[Mapping[str, Any]]) -> None:
    """Segment nodes of the loyalty kinds; segments of those kinds not in this run are removed."""
    store.upsert_nodes(Label.Segment, segments)
    store.run(DROP_STALE_SEGMENTS, kinds=LOYALTY_KINDS, keep=[s["id"] for s in segments])


def write_memberships(store: GraphStore, memberships: Sequence[Mapping[str, Any]]) -> None:
    """Replace the customers' loyalty-kind MEMBER_OF edges with these (start = customer, end = segment)."""
    customers = sorted({m["start"] for m in memberships})
    for start in range(0, len(customers), 5000):
        store.run(DROP_MEMBERSHIPS, ids=customers[start : start + 5000], kinds=LOYALTY_KINDS)
    store.upsert_relationships(Rel.MEMBER_OF, memberships, start_label=Label.Customer, end_label=Label.Segment)


def scored_customers(store: GraphStore, *, page_size: int = 5000) -> Iterator[dict[str, Any]]:
    """Every scored customer with its scores, reasons and cluster segment."""
    after = ""
    while True:
        rows = store.read(SCORED, after=after, limit=page_size)
        if not rows:
            return
        yield from rows
        after = rows[-1]["id"]


def segments(store: GraphStore) -> list[dict[str, Any]]:
    """The Segment nodes the loyalty job writes (cluster, tier, RFM)."""
    return store.read(SEGMENTS, kinds=LOYALTY_KINDS)
