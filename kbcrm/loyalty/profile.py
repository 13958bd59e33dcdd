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
from kbcrm.loyalty.phrases import say
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
    parts = [say("kind_in", kind=kind, country=customer.country) if customer.country else say("kind", kind=kind)]
    if customer.since:
        parts.append(say("since", date=str(customer.since)[:10]))
    parts.append(say("tier", tier=scores.tier))
    if scores.segment:
        parts.append(say("segment", segment=scores.segment))
    if scores.rfm_segment:
        parts.append(say("rfm", rfm=scores.rfm_segment))
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
        return {"summary": say("no_order"), "orders": 0}
    start = min(start, days[0])
    tenure_years = max((as_of - start).days, 1) / 365.25
    quarters = {(d.year, (d.month - 1) // 3) for d in days}
    total_quarters = (as_of.year - start.year) * 4 + (as_of.month - 1) // 3 - (start.month - 1) // 3 + 1
    since_last = (as_of - days[-1]).days
    parts = [
        say(
            "order_days",
            days=len(days),
            years=tenure_years,
            rate=len(days) / tenure_years,
            active=len(quarters),
            quarters=total_quarters,
        ),
        say("last_order", days=since_last),
    ]
    if scores.p_alive is not None:
        parts.append(say("p_alive", p=scores.p_alive))
    summary = "; ".join(parts)
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
        return {"summary": say("no_revenue"), "revenue": 0.0}
    mean = revenue / len(orders)
    parts = [say("revenue", revenue=_money(revenue), last_year=_money(last_year), mean=_money(mean))]
    if scores.clv is not None:
        parts.append(say("clv", months=scores.horizon_months, clv=_money(scores.clv)))
    if scores.credit_rating:
        parts.append(say("credit", rating=scores.credit_rating))
    summary = "; ".join(parts)
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
            say(
                "most_contact",
                channel=most["channel"],
                n=most["interactions"],
                positive=most["positive_share"],
                negative=most["negative_share"],
            )
        )
        if best and best["channel"] != most["channel"]:
            parts.append(say("best_channel", channel=best["channel"], positive=best["positive_share"]))
    if products:
        parts.append(say("revenue_from", category=products[0]["category"], share=products[0]["share"]))
    return {
        "summary": "; ".join(parts) if parts else say("no_touches"),
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
        expected = {"orders": scores.expected_orders, "months": scores.horizon_months}
        if scores.expected_spend is not None:
            parts.append(say("expected_spend", spend=_money(scores.expected_spend), **expected))
        else:
            parts.append(say("expected", **expected))
    if open_ones:
        worth = {"amount": _money(pipeline), "weighted": _money(weighted)}
        parts.append(
            say("one_opportunity", **worth) if len(open_ones) == 1 else say("opportunities", n=len(open_ones), **worth)
        )
    else:
        parts.append(say("no_opportunity"))
    if scores.churn_risk is not None:
        parts.append(say("churn_risk", risk=scores.churn_risk))
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
        parts = [say("no_lines")]
    else:
        shares = ", ".join(f"{c} {s:.0%}" for c, s in mix.items())
        parts = [
            say("mix_one", products=len(revenue_by_product), mix=shares)
            if len(mix) == 1
            else say("mix", products=len(revenue_by_product), categories=len(mix), mix=shares),
            say("top_product", product=top[0]["name"]),
        ]
    summary = "; ".join([*parts, say("installed", n=installed)])
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
        summary = say("not_targeted_control", n=held_back) if held_back else say("not_targeted")
        return {"summary": summary, "campaigns": 0, "control_groups": held_back}
    last = max(responded, key=lambda m: str(m.get("responded_at") or ""), default=None)
    summary = say(
        "targeted",
        n=len(targeted),
        responded=len(responded),
        rate=_share(len(responded), len(targeted)),
        converted=len(converted),
    )
    if last:
        summary += "; " + say(
            "last_response", response=last["response"], campaign=last.get("campaign_name") or last.get("campaign")
        )
    return {
        "summary": summary,
        "campaigns": len(targeted),
        "control_groups": held_back,
        "responded": len(responded),
        "converted": len(converted),
        "response_rate": _share(len(responded), len(targeted)),
        "last_response": {"campaign": last.get("campaign"), "response": last["response"]} if last else None,
    }
