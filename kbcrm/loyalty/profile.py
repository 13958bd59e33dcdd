"""The 7P profile of a customer: profile, persistency, profitability, performance, prospects, product mix, promotion.

Each P is a few figures plus one sentence that states them in words, built from what the graph
holds about the customer as of a date (orders with their lines, interactions by channel,
opportunities, campaign memberships) and from the loyalty job's scores. The graph has no
cost data, so profitability is revenue-based.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from kbcrm.loyalty.features import as_day
from kbcrm.loyalty.service import CustomerActivity

SECTIONS = ("profile", "persistency", "profitability", "performance", "prospects", "product_mix", "promotion")
TITLES = {
    "profile": "Profile",
    "persistency": "Persistency",
    "profitability": "Profitability",
    "performance": "Performance by channel and product",
    "prospects": "Prospects",
    "product_mix": "Product mix",
    "promotion": "Promotion response",
}
POSITIVE_OUTCOMES = {"order placed", "quote sent", "resolved"}
NEGATIVE_OUTCOMES = {"complaint logged", "no answer"}
CONVERTED = "converted"
CLOSED_STAGES = {"won", "lost"}


@dataclass(frozen=True)
class Scores:
    """What the loyalty job computed for the customer (None where it could not)."""

    tier: str
    segment: str | None
    rfm_segment: str | None
    p_alive: float | None
    clv: float | None
    expected_orders: float | None
    expected_spend: float | None
    churn_risk: float | None
    credit_rating: str | None
    horizon_months: int


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


def seven_p(customer: CustomerActivity, scores: Scores, as_of: date) -> dict[str, dict[str, Any]]:
    """The seven sections, each {"summary": sentence, figures…}, using only events on or before `as_of`."""
    orders = [(d, float(o["amount"] or 0.0)) for o in customer.orders if (d := as_day(o["day"])) and d <= as_of]
    lines = [ln for ln in customer.lines if (d := as_day(ln["day"])) and d <= as_of]
    touches = [t for t in customer.interactions if (d := as_day(t["at"])) and d <= as_of]
    categories = _category_revenue(lines)
    return {
        "profile": _profile(customer, scores),
        "persistency": _persistency(customer, scores, orders, as_of),
        "profitability": _profitability(scores, orders, as_of),
        "performance": _performance(touches, categories),
        "prospects": _prospects(customer, scores, as_of),
        "product_mix": _product_mix(customer, lines, categories),
        "promotion": _promotion(customer, as_of),
    }


def _profile(customer: CustomerActivity, scores: Scores) -> dict[str, Any]:
    kind = customer.kind or "customer"
    parts = [kind + (f" in {customer.country}" if customer.country else "")]
    if customer.since:
        parts.append(f"customer since {str(customer.since)[:10]}")
    parts.append(f"{scores.tier} tier")
    if scores.segment:
        parts.append(f"segment {scores.segment!r}")
    if scores.rfm_segment:
        parts.append(f"RFM {scores.rfm_segment!r}")
    return {
        "summary": "; ".join(parts),
        "kind": customer.kind,
        "country": customer.country,
        "customer_since": str(customer.since)[:10] if customer.since else None,
        "tier": scores.tier,
        "segment": scores.segment,
        "rfm_segment": scores.rfm_segment,
    }


def _persistency(
    customer: CustomerActivity, scores: Scores, orders: list[tuple[date, float]], as_of: date
) -> dict[str, Any]:
    days = sorted({d for d, _ in orders})
    start = as_day(customer.since) or (days[0] if days else None)
    if not days or start is None:
        return {"summary": "no order yet", "orders": 0}
    start = min(start, days[0])
    tenure_years = max((as_of - start).days, 1) / 365.25
    quarters = {(d.year, (d.month - 1) // 3) for d in days}
    total_quarters = (as_of.year - start.year) * 4 + (as_of.month - 1) // 3 - (start.month - 1) // 3 + 1
    since_last = (as_of - days[-1]).days
    summary = (
        f"{len(days)} order day(s) in {tenure_years:.1f} years ({len(days) / tenure_years:.1f} a year), "
        f"in {len(quarters)} of {total_quarters} quarters; last order {since_last} days ago"
    )
    if scores.p_alive is not None:
        summary += f"; P(alive) {scores.p_alive:.2f}"
    return {
        "summary": summary,
        "orders": len(days),
        "tenure_years": round(tenure_years, 2),
        "orders_per_year": round(len(days) / tenure_years, 2),
        "active_quarters": len(quarters),
        "quarters": total_quarters,
        "days_since_last_order": since_last,
        "p_alive": scores.p_alive,
    }


def _profitability(scores: Scores, orders: list[tuple[date, float]], as_of: date) -> dict[str, Any]:
    revenue = sum(amount for _, amount in orders)
    last_year = sum(amount for d, amount in orders if (as_of - d).days < 365)
    if not orders:
        return {"summary": "no revenue yet (revenue-based: the graph has no cost data)", "revenue": 0.0}
    mean = revenue / len(orders)
    summary = f"revenue {_money(revenue)} ({_money(last_year)} in the last 12 months), {_money(mean)} per order"
    if scores.clv is not None:
        summary += f"; {scores.horizon_months}-month CLV {_money(scores.clv)}"
    if scores.credit_rating:
        summary += f"; credit rating {scores.credit_rating}"
    return {
        "summary": summary,
        "revenue": round(revenue, 2),
        "revenue_last_12_months": round(last_year, 2),
        "mean_order_value": round(mean, 2),
        "clv": scores.clv,
        "credit_rating": scores.credit_rating,
        "basis": "revenue (no cost data in the graph)",
    }


def _performance(touches: list[dict[str, Any]], categories: dict[str, tuple[float, set[str]]]) -> dict[str, Any]:
    by_channel: dict[str, Counter[str]] = defaultdict(Counter)
    for touch in touches:
        outcome = touch.get("outcome") or ""
        kind = "positive" if outcome in POSITIVE_OUTCOMES else "negative" if outcome in NEGATIVE_OUTCOMES else "other"
        by_channel[touch.get("channel") or "unknown"].update(["all", kind])
    channels: list[dict[str, Any]] = [
        {
            "channel": channel,
            "interactions": counts["all"],
            "positive_share": _share(counts["positive"], counts["all"]),
            "negative_share": _share(counts["negative"], counts["all"]),
        }
        for channel, counts in sorted(by_channel.items(), key=lambda kv: (-kv[1]["all"], kv[0]))
    ]
    total = sum(r for r, _ in categories.values())
    products = [
        {"category": category, "revenue": round(revenue, 2), "orders": len(order_ids), "share": _share(revenue, total)}
        for category, (revenue, order_ids) in sorted(categories.items(), key=lambda kv: -kv[1][0])
    ]
    # The best channel: the highest share of positive outcomes among channels used at least twice.
    best = max((c for c in channels if c["interactions"] >= 2), key=lambda c: c["positive_share"], default=None)
    parts = []
    if channels:
        most = channels[0]
        parts.append(
            f"most contact by {most['channel']} ({most['interactions']}, {most['positive_share']:.0%} led to an "
            f"order, quote or resolution, {most['negative_share']:.0%} complaints or no answer)"
        )
        if best and best["channel"] != most["channel"]:
            parts.append(f"best results by {best['channel']} ({best['positive_share']:.0%} positive)")
    if products:
        parts.append(f"revenue mostly from {products[0]['category']} ({products[0]['share']:.0%})")
    return {
        "summary": "; ".join(parts) if parts else "no interactions or order lines yet",
        "channels": channels,
        "best_channel": best["channel"] if best else None,
        "products": products,
    }


def _category_revenue(lines: list[dict[str, Any]]) -> dict[str, tuple[float, set[str]]]:
    out: dict[str, tuple[float, set[str]]] = {}
    for line in lines:
        category = line.get("category") or "uncategorised"
        revenue, orders = out.get(category, (0.0, set()))
        orders.add(str(line.get("order")))
        out[category] = (revenue + float(line.get("quantity") or 0) * float(line.get("unit_price") or 0.0), orders)
    return out


def _prospects(customer: CustomerActivity, scores: Scores, as_of: date) -> dict[str, Any]:
    open_ones = [o for o in customer.opportunities if o.get("stage") not in CLOSED_STAGES]
    pipeline = sum(float(o.get("amount") or 0.0) for o in open_ones)
    weighted = sum(float(o.get("amount") or 0.0) * float(o.get("probability") or 0.0) for o in open_ones)
    parts = []
    if scores.expected_orders is not None:
        spend = f" × {_money(scores.expected_spend)}" if scores.expected_spend is not None else ""
        parts.append(f"expected {scores.expected_orders:.1f} orders{spend} in the next {scores.horizon_months} months")
    if open_ones:
        parts.append(
            f"{len(open_ones)} open opportunit{'y' if len(open_ones) == 1 else 'ies'} worth {_money(pipeline)} "
            f"({_money(weighted)} weighted by stage)"
        )
    else:
        parts.append("no open opportunity")
    if scores.churn_risk is not None:
        parts.append(f"churn risk {scores.churn_risk:.2f}")
    return {
        "summary": "; ".join(parts),
        "expected_orders": scores.expected_orders,
        "expected_spend_per_order": scores.expected_spend,
        "open_opportunities": len(open_ones),
        "pipeline": round(pipeline, 2),
        "weighted_pipeline": round(weighted, 2),
        "churn_risk": scores.churn_risk,
    }


def _product_mix(
    customer: CustomerActivity, lines: list[dict[str, Any]], categories: dict[str, tuple[float, set[str]]]
) -> dict[str, Any]:
    total = sum(r for r, _ in categories.values())
    revenue_by_product: defaultdict[str, float] = defaultdict(float)
    names: dict[str, str] = {}
    for line in lines:
        product = str(line.get("product"))
        revenue_by_product[product] += float(line.get("quantity") or 0) * float(line.get("unit_price") or 0.0)
        names[product] = line.get("product_name") or product
    installed = len({i["product"] for i in customer.installed})
    mix = {c: _share(r, total) for c, (r, _) in sorted(categories.items(), key=lambda kv: -kv[1][0])}
    ranked = sorted(revenue_by_product.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    top = [{"product": p, "name": names[p], "revenue": round(r, 2)} for p, r in ranked]
    if not lines:
        summary = "no order lines yet"
    else:
        summary = (
            f"{len(revenue_by_product)} product(s) in {len(mix)} categor{'y' if len(mix) == 1 else 'ies'}: "
            + ", ".join(f"{c} {s:.0%}" for c, s in mix.items())
            + f"; top {top[0]['name']}"
        )
    summary += f"; {installed} product(s) installed"
    return {
        "summary": summary,
        "categories": mix,
        "distinct_products": len(revenue_by_product),
        "top_products": top,
        "installed_products": installed,
    }


def _promotion(customer: CustomerActivity, as_of: date) -> dict[str, Any]:
    targeted = [m for m in customer.campaigns if not m.get("control_group")]
    held_back = len(customer.campaigns) - len(targeted)
    responded = [m for m in targeted if m.get("response") and (as_day(m.get("responded_at")) or as_of) <= as_of]
    converted = [m for m in responded if m.get("response") == CONVERTED]
    if not targeted:
        summary = "not targeted by any campaign yet"
        if held_back:
            summary += f" (in the control group of {held_back})"
        return {"summary": summary, "campaigns": 0, "control_groups": held_back}
    last = max(responded, key=lambda m: str(m.get("responded_at") or ""), default=None)
    summary = (
        f"targeted by {len(targeted)} campaign(s), responded to {len(responded)} "
        f"({_share(len(responded), len(targeted)):.0%}), converted {len(converted)}"
    )
    if last:
        summary += f"; last: {last['response']} to {last.get('campaign_name') or last.get('campaign')!r}"
    return {
        "summary": summary,
        "campaigns": len(targeted),
        "control_groups": held_back,
        "responded": len(responded),
        "converted": len(converted),
        "response_rate": _share(len(responded), len(targeted)),
        "last_response": {"campaign": last.get("campaign"), "response": last["response"]} if last else None,
    }
