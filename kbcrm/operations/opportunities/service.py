"""Opportunities: the sales pipeline, its stage history, won/lost reasons and the weighted forecast.

An opportunity belongs to one customer (HAS_OPPORTUNITY), has an owner (ACCOUNT_MANAGER →
Employee) and may be for a product (FOR_PRODUCT). Every stage move leaves a StageChange
node (from, to, when, who, the amount and probability at that moment), so the history is
data, not a log line. Moving to `won` or `lost` needs a reason and stamps `closed_on`;
reopening a closed opportunity needs a reason too and clears it. The weighted forecast
sums amount × probability of open opportunities by the month they are expected to close,
per owner and currency (amounts in different currencies are never added up); won
amounts are counted in the month they closed.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import Principal
from kbcrm.access.scope import require_sales_writer, require_staff
from kbcrm.customers.service import get_customer
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

# Stage -> default win probability (a person may set another on the opportunity).
STAGES: dict[str, float] = {
    "prospecting": 0.1,
    "qualification": 0.2,
    "proposal": 0.5,
    "negotiation": 0.75,
    "won": 1.0,
    "lost": 0.0,
}
OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
CLOSED_STAGES = ("won", "lost")
CURRENCIES = ("EUR", "USD", "GBP", "CNY", "JPY", "CHF")

OPPORTUNITIES = cypher(
    "opportunities.page",
    "MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o:Opportunity) "
    "WHERE ($customer = '' OR c.id = $customer) AND ($stage = '' OR o.stage = $stage "
    "OR ($stage = 'open' AND NOT o.stage IN ['won', 'lost'])) AND o.id > $after "
    "OPTIONAL MATCH (o)-[:ACCOUNT_MANAGER]->(e:Employee) "
    "WITH c, o, e WHERE $owner = '' OR e.id = $owner "
    "OPTIONAL MATCH (o)-[:FOR_PRODUCT]->(p:Product) "
    "RETURN o.id AS id, o.name AS name, o.stage AS stage, o.amount AS amount, o.currency AS currency, "
    "o.probability AS probability, o.expected_close AS expected_close, o.closed_on AS closed_on, "
    "o.close_reason AS close_reason, c.id AS customer_id, c.name AS customer_name, e.id AS owner_id, "
    "e.name AS owner_name, p.id AS product_id, p.name AS product_name ORDER BY o.id LIMIT $limit",
    example={"customer": "", "stage": "", "owner": "", "after": "", "limit": 10},
    ordered=True,
)
OPPORTUNITY = cypher(
    "opportunities.one",
    "MATCH (o:Opportunity {id: $id}) OPTIONAL MATCH (c:Customer)-[:HAS_OPPORTUNITY]->(o) "
    "OPTIONAL MATCH (o)-[:ACCOUNT_MANAGER]->(e:Employee) OPTIONAL MATCH (o)-[:FOR_PRODUCT]->(p:Product) "
    "RETURN properties(o) AS props, c.id AS customer_id, c.name AS customer_name, e.id AS owner_id, "
    "e.name AS owner_name, p.id AS product_id, p.name AS product_name",
    example={"id": "opp:x"},
)
HISTORY = cypher(
    "opportunities.history",
    "MATCH (o:Opportunity {id: $id})-[:HAS_STAGE_CHANGE]->(s:StageChange) "
    "RETURN s.id AS id, s.from_stage AS from_stage, s.to_stage AS to_stage, s.changed_at AS changed_at, "
    "s.changed_by AS changed_by, s.amount AS amount, s.probability AS probability, s.close_reason AS reason "
    "ORDER BY s.sequence, s.changed_at, s.id",
    example={"id": "opp:x"},
    ordered=True,
)
FORECAST_ROWS = cypher(
    "opportunities.forecast_rows",
    "MATCH (o:Opportunity) WHERE (NOT o.stage IN ['won', 'lost'] AND o.expected_close >= $start "
    "AND o.expected_close < $end) OR (o.stage = 'won' AND o.closed_on >= $start AND o.closed_on < $end) "
    "OPTIONAL MATCH (o)-[:ACCOUNT_MANAGER]->(e:Employee) "
    "WITH o, e WHERE $owner = '' OR e.id = $owner "
    "RETURN o.id AS id, o.stage AS stage, o.amount AS amount, o.currency AS currency, "
    "o.probability AS probability, o.expected_close AS expected_close, o.closed_on AS closed_on, "
    "e.id AS owner_id, e.name AS owner_name",
    example={"start": "2026-01-01", "end": "2026-07-01", "owner": ""},
)
STAGE_SUMMARY = cypher(
    "opportunities.stage_summary",
    "MATCH (o:Opportunity) RETURN o.stage AS stage, o.currency AS currency, count(o) AS count, "
    "sum(coalesce(o.amount, 0)) AS amount, sum(coalesce(o.amount, 0) * coalesce(o.probability, 0)) AS weighted",
)
CLOSE_REASONS = cypher(
    "opportunities.close_reasons",
    "MATCH (o:Opportunity) WHERE o.stage IN ['won', 'lost'] "
    "RETURN o.stage AS stage, o.close_reason AS reason, count(o) AS count ORDER BY stage, count DESC, reason",
    ordered=True,
)
MOVE = cypher(
    "opportunities.move",
    "MATCH (o:Opportunity {id: $id}) OPTIONAL MATCH (o)-[:HAS_STAGE_CHANGE]->(prev:StageChange) "
    "WITH o, count(prev) AS n SET o.stage = $stage, o.probability = $probability, o.updated_at = $now, "
    "o.closed_on = $closed_on, o.close_reason = $reason "
    "CREATE (o)-[:HAS_STAGE_CHANGE]->(:StageChange {id: $change, sequence: n + 1, from_stage: $from_stage, "
    "to_stage: $stage, "
    "changed_at: $now, changed_by: $actor, amount: o.amount, probability: $probability, close_reason: $note, "
    "created_at: $now}) "
    "RETURN o.id AS id",
    example={
        "id": "opp:none",
        "stage": "won",
        "probability": 1.0,
        "now": "2026-01-01T00:00:00+00:00",
        "closed_on": "2026-01-01",
        "reason": "price",
        "change": "stage:none",
        "from_stage": "proposal",
        "actor": "user:x",
        "note": "price",
    },
)
SET_OWNER = cypher(
    "opportunities.set_owner",
    "MATCH (o:Opportunity {id: $id}) OPTIONAL MATCH (o)-[old:ACCOUNT_MANAGER]->(:Employee) DELETE old "
    "WITH DISTINCT o MATCH (e:Employee {id: $owner}) MERGE (o)-[:ACCOUNT_MANAGER]->(e) RETURN e.id AS id",
    example={"id": "opp:none", "owner": "E-none"},
)
EMPLOYEE = cypher(
    "opportunities.employee",
    "MATCH (e:Employee {id: $id}) RETURN e.id AS id, e.name AS name",
    example={"id": "E-1"},
)
PRODUCT_EXISTS = cypher(
    "opportunities.product_exists",
    "MATCH (p:Product {id: $id}) RETURN p.id AS id",
    example={"id": "p1"},
)


class OpportunityError(ValueError):
    """An opportunity request that cannot be served (unknown stage, missing reason, bad amount…)."""


class OpportunityNotFound(OpportunityError):
    """No such opportunity (the API answers 404)."""


@dataclass(frozen=True)
class OpportunityDraft:
    """What a new opportunity needs."""

    customer_id: str
    name: str
    amount: float
    currency: str
    expected_close: date
    stage: str = "prospecting"
    probability: float | None = None
    owner_id: str = ""
    product_id: str = ""


def _probability(stage: str, probability: float | None) -> float:
    if probability is None:
        return STAGES[stage]
    if not 0.0 <= probability <= 1.0:
        raise OpportunityError(f"probability: must be between 0 and 1, not {probability}")
    if (stage == "won" and probability != 1.0) or (stage == "lost" and probability != 0.0):
        raise OpportunityError(f"probability: a {stage} opportunity has probability {STAGES[stage]:g}")
    return probability


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise OpportunityError(f"stage must be one of {', '.join(STAGES)}, not {stage!r}")


def list_opportunities(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str = "",
    stage: str = "",
    owner_id: str = "",
    after: str = "",
    limit: int = 50,
    today: date | None = None,
) -> list[dict[str, Any]]:
    """Opportunities by id (keyset pages); `stage` is a stage or 'open'; open ones past their close date are flagged."""
    require_staff(principal)
    if stage and stage != "open":
        _check_stage(stage)
    rows = store.read(OPPORTUNITIES, customer=customer_id, stage=stage, owner=owner_id, after=after, limit=limit)
    day = (today or datetime.now(UTC).date()).isoformat()
    for row in rows:
        row["weighted_amount"] = round(float(row["amount"] or 0) * float(row["probability"] or 0), 2)
        row["overdue"] = row["stage"] in OPEN_STAGES and bool(row["expected_close"]) and row["expected_close"] < day
    return rows


def get_opportunity(store: GraphStore, *, principal: Principal, opportunity_id: str) -> dict[str, Any] | None:
    """One opportunity with its customer, owner, product and stage history; None when unknown."""
    require_staff(principal)
    rows = store.read(OPPORTUNITY, id=opportunity_id)
    if not rows:
        return None
    row = rows[0]
    props = {k: v for k, v in row.pop("props").items() if k not in ("content_hash", "source_ids")}
    for name in ("closed_on", "close_reason", "expected_close", "amount", "probability"):
        props.setdefault(name, None)  # a property set to null is absent from the node
    return {
        **props,
        **row,
        "weighted_amount": round(float(props.get("amount") or 0) * float(props.get("probability") or 0), 2),
        "history": store.read(HISTORY, id=opportunity_id),
    }


def _require(store: GraphStore, opportunity_id: str) -> dict[str, Any]:
    rows = store.read(OPPORTUNITY, id=opportunity_id)
    if not rows:
        raise OpportunityNotFound(f"opportunity {opportunity_id!r} not found")
    return dict(rows[0]["props"])


def _check_owner(store: GraphStore, owner_id: str) -> None:
    if not store.read(EMPLOYEE, id=owner_id):
        raise OpportunityError(f"owner_id: no employee {owner_id!r}")


def create_opportunity(store: GraphStore, *, principal: Principal, draft: OpportunityDraft) -> dict[str, Any]:
    """Create an opportunity (its first StageChange records the opening stage); returns it."""
    require_sales_writer(principal)
    _check_stage(draft.stage)
    name = " ".join(draft.name.split())
    if not name:
        raise OpportunityError("name: required")
    if len(name) > 200:
        raise OpportunityError("name: at most 200 characters")
    if not draft.amount > 0:
        raise OpportunityError(f"amount: must be positive, not {draft.amount}")
    if draft.currency not in CURRENCIES:
        raise OpportunityError(f"currency must be one of {', '.join(CURRENCIES)}, not {draft.currency!r}")
    if draft.stage in CLOSED_STAGES:
        raise OpportunityError("stage: a new opportunity starts open; move it to won or lost with a reason")
    probability = _probability(draft.stage, draft.probability)
    customer = get_customer(store, draft.customer_id)
    if customer is None:
        raise OpportunityError(f"customer_id: no customer {draft.customer_id!r}")
    if customer.get("erased_at") or customer.get("status") == "archived":
        raise OpportunityError(f"customer_id: customer {draft.customer_id!r} is archived or erased")
    owner = draft.owner_id or principal.employee_id or ""
    if owner:
        _check_owner(store, owner)
    if draft.product_id and not store.read(PRODUCT_EXISTS, id=draft.product_id):
        raise OpportunityError(f"product_id: no product {draft.product_id!r}")
    now = utc_now()
    opportunity_id = f"opp:{now[:10].replace('-', '')}-{secrets.token_hex(4)}"
    store.upsert_nodes(
        Label.Opportunity,
        [
            {
                "id": opportunity_id,
                "name": name,
                "amount": round(float(draft.amount), 2),
                "currency": draft.currency,
                "stage": draft.stage,
                "probability": probability,
                "expected_close": draft.expected_close.isoformat(),
            }
        ],
    )
    store.upsert_relationships(
        Rel.HAS_OPPORTUNITY,
        [{"start": draft.customer_id, "end": opportunity_id}],
        start_label=Label.Customer,
        end_label=Label.Opportunity,
    )
    if owner:
        store.run(SET_OWNER, id=opportunity_id, owner=owner)
    if draft.product_id:
        store.upsert_relationships(
            Rel.FOR_PRODUCT,
            [{"start": opportunity_id, "end": draft.product_id}],
            start_label=Label.Opportunity,
            end_label=Label.Product,
        )
    store.run(
        MOVE,
        id=opportunity_id,
        stage=draft.stage,
        probability=probability,
        now=now,
        closed_on=None,
        reason=None,
        change=f"stage:{opportunity_id}:{secrets.token_hex(4)}",
        from_stage=None,
        actor=principal.user_id,
        note=None,
    )
    audit.record(
        store,
        actor=principal.user_id,
        action="opportunity_created",
        target=opportunity_id,
        detail={"customer": draft.customer_id, "stage": draft.stage, "amount": draft.amount},
    )
    created = get_opportunity(store, principal=principal, opportunity_id=opportunity_id)
    assert created is not None
    return created


def move_stage(
    store: GraphStore,
    *,
    principal: Principal,
    opportunity_id: str,
    stage: str,
    reason: str = "",
    probability: float | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Move an opportunity to another stage; won/lost and reopening need a reason. Returns it with history."""
    require_sales_writer(principal)
    _check_stage(stage)
    current = _require(store, opportunity_id)
    before = str(current.get("stage") or "")
    if stage == before and probability is None:
        raise OpportunityError(f"stage: the opportunity is already in {stage}")
    reason = " ".join(reason.split())
    closing, reopening = stage in CLOSED_STAGES, before in CLOSED_STAGES and stage in OPEN_STAGES
    if before in CLOSED_STAGES and stage in CLOSED_STAGES and stage != before:
        raise OpportunityError(f"stage: a {before} opportunity is reopened before it can be {stage}")
    if (closing or reopening) and not reason:
        raise OpportunityError(f"reason: required to {'close as ' + stage if closing else 'reopen'}")
    if len(reason) > 300:
        raise OpportunityError("reason: at most 300 characters")
    chosen = _probability(stage, probability)
    day = today or datetime.now(UTC).date()
    store.run(
        MOVE,
        id=opportunity_id,
        stage=stage,
        probability=chosen,
        now=utc_now(),
        closed_on=day.isoformat() if closing else None,
        reason=reason if closing else None,
        change=f"stage:{opportunity_id}:{secrets.token_hex(4)}",
        from_stage=before or None,
        actor=principal.user_id,
        note=reason or None,
    )
    audit.record(
        store,
        actor=principal.user_id,
        action="opportunity_stage",
        target=opportunity_id,
        detail={"from": before, "to": stage, "reason": reason, "probability": chosen},
    )
    moved = get_opportunity(store, principal=principal, opportunity_id=opportunity_id)
    assert moved is not None
    return moved


def update_opportunity(
    store: GraphStore,
    *,
    principal: Principal,
    opportunity_id: str,
    name: str | None = None,
    amount: float | None = None,
    expected_close: date | None = None,
    owner_id: str | None = None,
) -> dict[str, Any]:
    """Change name, amount, expected close or owner (stage moves go through move_stage)."""
    require_sales_writer(principal)
    _require(store, opportunity_id)
    changes: dict[str, Any] = {}
    if name is not None:
        cleaned = " ".join(name.split())
        if not cleaned or len(cleaned) > 200:
            raise OpportunityError("name: 1 to 200 characters")
        changes["name"] = cleaned
    if amount is not None:
        if not amount > 0:
            raise OpportunityError(f"amount: must be positive, not {amount}")
        changes["amount"] = round(float(amount), 2)
    if expected_close is not None:
        changes["expected_close"] = expected_close.isoformat()
    if owner_id is not None:
        _check_owner(store, owner_id)
        store.run(SET_OWNER, id=opportunity_id, owner=owner_id)
    if changes:
        store.upsert_nodes(Label.Opportunity, [{"id": opportunity_id, **changes}])
    audit.record(
        store,
        actor=principal.user_id,
        action="opportunity_updated",
        target=opportunity_id,
        detail={**changes, **({"owner": owner_id} if owner_id is not None else {})},
    )
    updated = get_opportunity(store, principal=principal, opportunity_id=opportunity_id)
    assert updated is not None
    return updated


def _month(day: str) -> str:
    return day[:7]


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def forecast(
    store: GraphStore, *, principal: Principal, start: date, months: int = 6, owner_id: str = ""
) -> dict[str, Any]:
    """Weighted forecast per month, owner and currency from the month of `start`, for `months` months.

    Open opportunities count in the month they are expected to close (pipeline = Σ amount,
    weighted = Σ amount × probability); won ones in the month they closed. Rows carry the
    opportunity ids they were summed from, so every figure can be traced.
    """
    require_staff(principal)
    if not 1 <= months <= 36:
        raise OpportunityError("months: 1 to 36")
    first = start.replace(day=1)
    end = _add_months(first, months)
    rows = store.read(FORECAST_ROWS, start=first.isoformat(), end=end.isoformat(), owner=owner_id)
    cells: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        won = row["stage"] == "won"
        month = _month(str(row["closed_on"] if won else row["expected_close"]))
        owner = row["owner_id"] or ""
        key = (month, owner, row["currency"] or "")
        cell = cells.setdefault(
            key,
            {
                "month": month,
                "owner_id": owner or None,
                "owner_name": row["owner_name"],
                "currency": row["currency"],
                "open_count": 0,
                "pipeline": 0.0,
                "weighted": 0.0,
                "won_count": 0,
                "won": 0.0,
                "opportunities": [],
            },
        )
        amount = float(row["amount"] or 0)
        if won:
            cell["won_count"] += 1
            cell["won"] += amount
        else:
            cell["open_count"] += 1
            cell["pipeline"] += amount
            cell["weighted"] += amount * float(row["probability"] or 0)
        cell["opportunities"].append(row["id"])
    table = sorted(cells.values(), key=lambda c: (c["month"], c["owner_name"] or "", c["currency"] or ""))
    totals: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"pipeline": 0.0, "weighted": 0.0, "won": 0.0, "open_count": 0, "won_count": 0}
    )
    for cell in table:
        for k in ("pipeline", "weighted", "won"):
            cell[k] = round(cell[k], 2)
            totals[(cell["month"], cell["currency"])][k] += cell[k]
        for k in ("open_count", "won_count"):
            totals[(cell["month"], cell["currency"])][k] += cell[k]
        cell["opportunities"].sort()
    month_list = [_add_months(first, i).isoformat()[:7] for i in range(months)]
    return {
        "start": first.isoformat(),
        "months": month_list,
        "owner_id": owner_id or None,
        "rows": table,
        "totals": [
            {"month": m, "currency": c, **{k: round(v, 2) for k, v in t.items()}}
            for (m, c), t in sorted(totals.items())
        ],
        "method": "open: amount × probability in the expected close month; won: amount in the month closed",
    }


def pipeline_summary(store: GraphStore, *, principal: Principal) -> dict[str, Any]:
    """Count, amount and weighted amount per stage and currency, and why opportunities were won or lost."""
    require_staff(principal)
    by_stage = store.read(STAGE_SUMMARY)
    order = {s: i for i, s in enumerate(STAGES)}
    by_stage.sort(key=lambda r: (order.get(r["stage"], 99), r["currency"] or ""))
    for row in by_stage:
        row["amount"], row["weighted"] = round(float(row["amount"]), 2), round(float(row["weighted"]), 2)
    closed = [r for r in by_stage if r["stage"] in CLOSED_STAGES]
    won = sum(r["count"] for r in closed if r["stage"] == "won")
    lost = sum(r["count"] for r in closed if r["stage"] == "lost")
    return {
        "stages": by_stage,
        "win_rate": round(won / (won + lost), 3) if won + lost else None,
        "close_reasons": store.read(CLOSE_REASONS),
        "default_probabilities": STAGES,
    }
