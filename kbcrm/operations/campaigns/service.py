"""Campaigns from segments.

A campaign's target list is a saved segment and/or a rule (loyalty tiers, churn-risk and CLV
bounds, a product owned, a country, and a read-only graph query returning customer ids);
archived customers are never taken; only customers who consented to the campaign's channel
are taken (a channel never answered is no consent), and erased customers never. A
`control_share` of the list is held back, chosen by a hash of (campaign id, customer id):
the same campaign always splits the same way. Members who are not in the control group get
personalised content (recommended articles/products with reasons) from a function the
caller passes in, so this core package does not depend on knowledge transfer.
Results compare targeted members with the control group over the attribution window:
response rate, revenue, and retention (share who ordered in the window).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.analyst.service import QueryRefused, run_cypher
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

CONTACT_CHANNELS = ("email", "phone", "post")
RESPONSES = ("opened", "clicked", "replied", "converted", "unsubscribed")
PAGE = 5000
GRAPH_QUERY_TIMEOUT_MS = 10_000
GRAPH_QUERY_ROW_LIMIT = 1_000_000

CUSTOMERS = cypher(
    "campaigns.customers",
    "MATCH (c:Customer) WHERE c.id > $after "
    "RETURN c.id AS id, c.loyalty_tier AS tier, c.churn_risk AS churn_risk, c.clv AS clv, c.country AS country, "
    "c.status AS status ORDER BY c.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)
SEGMENT_MEMBERS = cypher(
    "campaigns.segment_members",
    "MATCH (c:Customer)-[:MEMBER_OF]->(s:Segment {id: $segment}) RETURN c.id AS id",
    example={"segment": "seg"},
)
OWNERS = cypher(
    "campaigns.owners",
    "MATCH (c:Customer)-[:OWNS]->(p:Product {id: $product}) RETURN DISTINCT c.id AS id",
    example={"product": "p1"},
)
CONSENTED = cypher(
    "campaigns.consented",
    "MATCH (c:Customer)-[:GAVE_CONSENT]->(k:Consent {channel: $channel}) WHERE k.granted = true RETURN c.id AS id",
    example={"channel": "email"},
)
CAMPAIGN = cypher(
    "campaigns.one",
    "MATCH (k:Campaign {id: $id}) OPTIONAL MATCH (k)-[:TARGETS]->(s:Segment) "
    "RETURN properties(k) AS props, s.id AS segment_id, s.name AS segment_name",
    example={"id": "campaign:x"},
)
CAMPAIGNS = cypher(
    "campaigns.all",
    "MATCH (k:Campaign) OPTIONAL MATCH (c:Customer)-[m:IN_CAMPAIGN]->(k) "
    "RETURN k.id AS id, k.name AS name, k.channel AS channel, k.status AS status, k.starts_on AS starts_on, "
    "count(m) AS members ORDER BY k.starts_on DESC, k.id",
    ordered=True,
)
MEMBERS = cypher(
    "campaigns.members",
    "MATCH (c:Customer)-[m:IN_CAMPAIGN]->(k:Campaign {id: $id}) WHERE c.id > $after "
    "RETURN c.id AS customer_id, c.name AS name, m.status AS status, m.control_group AS control_group, "
    "m.response AS response, m.responded_at AS responded_at, m.content AS content ORDER BY c.id LIMIT $limit",
    example={"id": "campaign:x", "after": "", "limit": 10},
    ordered=True,
)
MEMBER_ORDERS = cypher(
    "campaigns.member_orders",
    "MATCH (c:Customer)-[m:IN_CAMPAIGN]->(k:Campaign {id: $id}) "
    "OPTIONAL MATCH (c)-[:PLACED]->(o:Order) WHERE o.order_date >= $start AND o.order_date < $end "
    "RETURN c.id AS customer_id, m.control_group AS control_group, m.response AS response, "
    "count(o) AS orders, sum(coalesce(o.total_amount, 0)) AS revenue",
    example={"id": "campaign:x", "start": "2026-01-01", "end": "2026-04-01"},
)
RESPOND = cypher(
    "campaigns.respond",
    "UNWIND $rows AS r MATCH (c:Customer {id: r.customer})-[m:IN_CAMPAIGN]->(k:Campaign {id: r.campaign}) "
    "SET m.response = r.response, m.responded_at = r.at, m.status = 'responded' RETURN c.id AS customer",
    example={"rows": [{"customer": "c-none", "campaign": "campaign:x", "response": "opened", "at": "2026-01-01"}]},
)
MEMBERSHIPS = cypher(
    "campaigns.memberships",
    "UNWIND $pairs AS p MATCH (c:Customer {id: p.customer})-[m:IN_CAMPAIGN]->(k:Campaign {id: p.campaign}) "
    "RETURN k.id AS campaign_id, c.id AS customer_id, m.response AS response, m.responded_at AS responded_at",
    example={"pairs": [{"customer": "c-none", "campaign": "campaign:x"}]},
)

Personaliser = Callable[[str], list[dict[str, Any]]]


class CampaignError(ValueError):
    """A campaign request that cannot be served (unknown channel, segment, response…)."""


@dataclass(frozen=True)
class TargetRule:
    """Who a campaign is for, besides consent (all conditions must hold; empty = no condition)."""

    segment_id: str = ""
    tiers: tuple[str, ...] = ()
    min_churn_risk: float | None = None
    max_churn_risk: float | None = None
    min_clv: float | None = None
    owns_product: str = ""
    country: str = ""
    # A read-only Cypher query (the analyst rules apply) whose `id` column lists customers.
    graph_query: str = ""

    def describe(self) -> str:
        """The rule in words (stored on the campaign)."""
        parts = []
        if self.segment_id:
            parts.append(f"in segment {self.segment_id}")
        if self.tiers:
            parts.append("tier " + " or ".join(self.tiers))
        if self.min_churn_risk is not None:
            parts.append(f"churn risk ≥ {self.min_churn_risk:g}")
        if self.max_churn_risk is not None:
            parts.append(f"churn risk ≤ {self.max_churn_risk:g}")
        if self.min_clv is not None:
            parts.append(f"CLV ≥ {self.min_clv:g}")
        if self.owns_product:
            parts.append(f"owns {self.owns_product}")
        if self.country:
            parts.append(f"in {self.country}")
        if self.graph_query:
            parts.append(f"returned by the graph query {' '.join(self.graph_query.split())!r}")
        return ", ".join(parts) or "every customer"


@dataclass
class CampaignPlan:
    """What create_campaign wrote."""

    id: str
    name: str
    channel: str
    rule: str
    matched: int
    without_consent: int
    targeted: int
    control: int
    members: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the member list)."""
        data = asdict(self)
        data.pop("members")
        return data


def in_control_group(campaign_id: str, customer_id: str, share: float) -> bool:
    """Deterministic split: the same campaign puts the same customer on the same side, every time."""
    digest = hashlib.sha256(f"{campaign_id}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _matches(row: dict[str, Any], rule: TargetRule) -> bool:
    if row["status"] in ("erased", "archived"):
        return False
    if rule.tiers and row["tier"] not in rule.tiers:
        return False
    risk, clv = row["churn_risk"], row["clv"]
    if rule.min_churn_risk is not None and (risk is None or risk < rule.min_churn_risk):
        return False
    if rule.max_churn_risk is not None and (risk is None or risk > rule.max_churn_risk):
        return False
    if rule.min_clv is not None and (clv is None or clv < rule.min_clv):
        return False
    return not rule.country or row["country"] == rule.country


def _graph_query_ids(store: GraphStore, query: str) -> set[str]:
    """Customer ids from a read-only query's `id` column (refused like an analyst's write)."""
    try:
        result = run_cypher(store, query, timeout_ms=GRAPH_QUERY_TIMEOUT_MS, row_limit=GRAPH_QUERY_ROW_LIMIT)
    except QueryRefused as exc:
        raise CampaignError(f"graph_query: {str(exc).removeprefix('query: ')}") from exc
    if result.rows and "id" not in result.columns:
        raise CampaignError(f"graph_query: return the customers' ids as a column named id (got {result.columns})")
    if result.truncated:
        raise CampaignError(f"graph_query: more than {GRAPH_QUERY_ROW_LIMIT} rows; narrow it down")
    return {str(row["id"]) for row in result.rows}


def target_list(store: GraphStore, rule: TargetRule, *, channel: str) -> tuple[list[str], int]:
    """Customers the rule selects who consented to the channel, and how many matched without consent."""
    if channel not in CONTACT_CHANNELS:
        raise CampaignError(f"channel must be one of {', '.join(CONTACT_CHANNELS)}, not {channel!r}")
    allowed: set[str] | None = None
    if rule.segment_id:
        if store.get_node(Label.Segment, rule.segment_id) is None:
            raise CampaignError(f"segment {rule.segment_id!r} not found")
        allowed = {r["id"] for r in store.read(SEGMENT_MEMBERS, segment=rule.segment_id)}
    if rule.owns_product:
        owners = {r["id"] for r in store.read(OWNERS, product=rule.owns_product)}
        allowed = owners if allowed is None else allowed & owners
    if rule.graph_query:
        selected = _graph_query_ids(store, rule.graph_query)
        allowed = selected if allowed is None else allowed & selected
    consented = {r["id"] for r in store.read(CONSENTED, channel=channel)}
    matched: list[str] = []
    after = ""
    while rows := store.read(CUSTOMERS, after=after, limit=PAGE):
        matched += [r["id"] for r in rows if (allowed is None or r["id"] in allowed) and _matches(r, rule)]
        after = rows[-1]["id"]
    members = [c for c in matched if c in consented]
    return members, len(matched) - len(members)


def _require_marketing(principal: Principal) -> None:
    if principal.role not in (Role.marketer, Role.admin):
        raise AccessDenied("campaigns are run by marketers and admins")


def create_campaign(
    store: GraphStore,
    *,
    principal: Principal,
    name: str,
    channel: str,
    rule: TargetRule,
    control_share: float = 0.0,
    starts_on: date | None = None,
    attribution_days: int = 90,
    personalise: Personaliser | None = None,
) -> CampaignPlan:
    """Create a campaign and its members (targeted and control); audited."""
    _require_marketing(principal)
    name = " ".join(name.split())
    if not name:
        raise CampaignError("name: required")
    if not 0 <= control_share < 1:
        raise CampaignError("control_share: from 0 up to (not including) 1")
    if not 1 <= attribution_days <= 730:
        raise CampaignError("attribution_days: 1 to 730")
    members, without_consent = target_list(store, rule, channel=channel)
    campaign_id = "campaign:" + secrets.token_hex(6)
    store.upsert_nodes(
        Label.Campaign,
        [
            {
                "id": campaign_id,
                "name": name,
                "channel": channel,
                "status": "active",
                "rule": rule.describe(),
                "description": json.dumps(asdict(rule), sort_keys=True),
                "control_share": control_share,
                "attribution_days": attribution_days,
                "starts_on": (starts_on or date.fromisoformat(utc_now()[:10])).isoformat(),
                "created_at": utc_now(),
            }
        ],
    )
    if rule.segment_id:
        store.upsert_relationships(
            Rel.TARGETS,
            [{"start": campaign_id, "end": rule.segment_id}],
            start_label=Label.Campaign,
            end_label=Label.Segment,
        )
    rows = []
    control = 0
    for customer in members:
        held_back = in_control_group(campaign_id, customer, control_share)
        control += held_back
        content = [] if held_back or personalise is None else personalise(customer)
        rows.append(
            {
                "start": customer,
                "end": campaign_id,
                "status": "control" if held_back else "targeted",
                "control_group": held_back,
                "content": json.dumps(content, ensure_ascii=False),
            }
        )
    store.upsert_relationships(Rel.IN_CAMPAIGN, rows, start_label=Label.Customer, end_label=Label.Campaign)
    plan = CampaignPlan(
        id=campaign_id,
        name=name,
        channel=channel,
        rule=rule.describe(),
        matched=len(members) + without_consent,
        without_consent=without_consent,
        targeted=len(members) - control,
        control=control,
        members=members,
    )
    audit.record(store, actor=principal.user_id, action="campaign_created", target=campaign_id, detail=plan.to_dict())
    return plan


def list_campaigns(store: GraphStore, *, principal: Principal) -> list[dict[str, Any]]:
    """Every campaign with its member count."""
    _require_marketing(principal)
    return store.read(CAMPAIGNS)


def members(
    store: GraphStore, *, principal: Principal, campaign_id: str, after: str = "", limit: int = 100
) -> list[dict[str, Any]]:
    """Members by customer id (keyset pages), with status, response and personalised content."""
    _require_marketing(principal)
    rows = store.read(MEMBERS, id=campaign_id, after=after, limit=limit)
    for row in rows:
        row["content"] = json.loads(row["content"] or "[]")
    return rows


def memberships(
    store: GraphStore, *, principal: Principal, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The response so far of each (campaign id, customer id) that is a membership; others are absent."""
    _require_marketing(principal)
    rows = store.read(MEMBERSHIPS, pairs=[{"campaign": c, "customer": k} for c, k in set(pairs)])
    return {(r["campaign_id"], r["customer_id"]): r for r in rows}


def record_responses(store: GraphStore, *, principal: Principal, rows: list[dict[str, str]]) -> int:
    """Record many members' responses in one statement (rows: campaign, customer, response, at)."""
    _require_marketing(principal)
    for row in rows:
        if row["response"] not in RESPONSES:
            raise CampaignError(f"response must be one of {', '.join(RESPONSES)}, not {row['response']!r}")
    return len(store.run(RESPOND, rows=rows)) if rows else 0


def record_response(
    store: GraphStore,
    *,
    principal: Principal,
    campaign_id: str,
    customer_id: str,
    response: str,
    at: str | None = None,
) -> dict[str, Any]:
    """Record a member's response (opened, clicked, replied, converted, unsubscribed), now or at `at`."""
    row = {"campaign": campaign_id, "customer": customer_id, "response": response, "at": at or utc_now()}
    if not record_responses(store, principal=principal, rows=[row]):
        raise CampaignError(f"customer {customer_id!r} is not a member of campaign {campaign_id!r}")
    return {"campaign_id": campaign_id, "customer_id": customer_id, "response": response}


def _target(campaign: dict[str, Any]) -> dict[str, Any] | None:
    """The campaign's rule as its fields (TargetRule's, the conditions set only), for words in any language.

    None when the campaign has no stored fields (then only its `rule` text says who it is for).
    """
    try:
        stored = json.loads(campaign.get("description") or "null")
    except ValueError:
        return None
    if not isinstance(stored, dict):
        return None
    return {key: value for key, value in stored.items() if value not in (None, "", [], ())}


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def results(store: GraphStore, *, principal: Principal, campaign_id: str) -> dict[str, Any] | None:
    """Response rate, revenue attributed and retention, targeted against control, over the attribution window."""
    _require_marketing(principal)
    rows = store.read(CAMPAIGN, id=campaign_id)
    if not rows:
        return None
    campaign = rows[0]["props"]
    start = date.fromisoformat(campaign["starts_on"])
    end = start + timedelta(days=int(campaign.get("attribution_days") or 90))
    groups: dict[bool, dict[str, float]] = {
        flag: {"members": 0, "responded": 0, "ordered": 0, "revenue": 0.0} for flag in (False, True)
    }
    for row in store.read(MEMBER_ORDERS, id=campaign_id, start=start.isoformat(), end=end.isoformat()):
        group = groups[bool(row["control_group"])]
        group["members"] += 1
        group["responded"] += row["response"] is not None
        group["ordered"] += int(row["orders"] or 0) > 0
        group["revenue"] += float(row["revenue"] or 0)
    targeted, control = groups[False], groups[True]
    retention_t = _rate(targeted["ordered"], targeted["members"])
    retention_c = _rate(control["ordered"], control["members"])
    return {
        "campaign": {
            **campaign,
            "segment_id": rows[0]["segment_id"],
            "segment_name": rows[0]["segment_name"],
            "target": _target(campaign),
        },
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "targeted": int(targeted["members"]),
        "control": int(control["members"]),
        "responded": int(targeted["responded"]),
        "response_rate": _rate(targeted["responded"], targeted["members"]),
        "revenue_attributed": round(targeted["revenue"], 2),
        "revenue_per_member": {
            "targeted": _rate(targeted["revenue"], targeted["members"]),
            "control": _rate(control["revenue"], control["members"]),
        },
        "retention": {
            "targeted": retention_t,
            "control": retention_c,
            "uplift": round(retention_t - retention_c, 4)
            if retention_t is not None and retention_c is not None
            else None,
        },
    }
