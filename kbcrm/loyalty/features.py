"""Per-customer features at a point in time, from the activity the graph holds.

Every feature looks only at events on or before `as_of`, so the same function builds the
training rows (as of an earlier date, labelled by what happened next) and the scoring rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from kbcrm.loyalty.churn import Feature
from kbcrm.loyalty.service import CustomerActivity
from kbcrm.operations.cases.sla import first_response_breached

NEGATIVE_OUTCOMES = {"complaint logged", "no answer"}
RECENT_DAYS = 180

CHURN_FEATURES = [
    Feature("recency_days", "days since the last order", log=True, label_zh="距上次下单天数"),
    Feature("orders", "orders so far", log=True, label_zh="累计订单数"),
    Feature("orders_last_year", "orders in the last 12 months", label_zh="近 12 个月订单数"),
    Feature("mean_order_value", "average order value", log=True, label_zh="平均订单金额"),
    Feature("tenure_days", "days as a customer", log=True, label_zh="成为客户的天数"),
    Feature("open_cases", "open service cases", label_zh="未关闭的服务工单"),
    Feature("recent_cases", "service cases in the last 180 days", label_zh="近 180 天服务工单数"),
    Feature("sla_breaches", "late first responses to cases", label_zh="工单首次响应超时次数"),
    Feature(
        "negative_interactions",
        "complaints or unanswered contacts in the last 180 days",
        label_zh="近 180 天投诉或未应答联系次数",
    ),
    Feature("recent_interactions", "interactions in the last 180 days", label_zh="近 180 天互动次数"),
    Feature(
        "product_age_days", "age of the newest installed product (days)", log=True, label_zh="最新安装产品的使用天数"
    ),
    Feature("p_alive", "probability still active (BG/NBD)", label_zh="仍活跃概率（BG/NBD）"),
]


def as_day(value: Any) -> date | None:
    """The date of an ISO date or date-time value (None when empty)."""
    if not value:
        return None
    text = str(value)
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text[:10])


def order_days(customer: CustomerActivity, as_of: date) -> list[tuple[date, float]]:
    """(day, amount) of the orders on or before `as_of`, same-day orders merged."""
    merged: dict[date, float] = {}
    for order in customer.orders:
        day = as_day(order["day"])
        if day is not None and day <= as_of:
            merged[day] = merged.get(day, 0.0) + float(order["amount"] or 0.0)
    return sorted(merged.items())


def purchase_summary(customers: Sequence[CustomerActivity], as_of: date) -> dict[str, np.ndarray]:
    """(x, t_x, T in days, mean repeat spend) for customers with an order by `as_of`; `index` maps back."""
    index, x, t_x, age, monetary = [], [], [], [], []
    for i, customer in enumerate(customers):
        days = order_days(customer, as_of)
        if not days:
            continue
        first, last = days[0][0], days[-1][0]
        repeat = [amount for _, amount in days[1:]]
        index.append(i)
        x.append(len(repeat))
        t_x.append((last - first).days)
        age.append((as_of - first).days)
        monetary.append(float(np.mean(repeat)) if repeat else 0.0)
    return {
        "index": np.asarray(index, dtype=np.int64),
        "x": np.asarray(x, dtype=np.float64),
        "t_x": np.asarray(t_x, dtype=np.float64),
        "T": np.asarray(age, dtype=np.float64),
        "monetary": np.asarray(monetary, dtype=np.float64),
    }


def churn_row(customer: CustomerActivity, as_of: date, p_alive: float) -> dict[str, float]:
    """The churn model's inputs for one customer at `as_of`."""
    days = order_days(customer, as_of)
    recent_from = as_of - timedelta(days=RECENT_DAYS)
    year_from = as_of - timedelta(days=365)
    since = as_day(customer.since) or (days[0][0] if days else as_of)
    cases = [c for c in customer.cases if (as_day(c["opened_at"]) or as_of) <= as_of]
    interactions = [i for i in customer.interactions if (as_day(i["at"]) or as_of) <= as_of]
    installs = [d for d in (as_day(p["installed_at"]) for p in customer.installed) if d and d <= as_of]
    return {
        "recency_days": float((as_of - days[-1][0]).days) if days else float((as_of - since).days),
        "orders": float(len(days)),
        "orders_last_year": float(sum(1 for d, _ in days if d > year_from)),
        "mean_order_value": float(np.mean([a for _, a in days])) if days else 0.0,
        "tenure_days": float(max((as_of - since).days, 0)),
        "open_cases": float(sum(1 for c in cases if not c["closed_at"] or (as_day(c["closed_at"]) or as_of) > as_of)),
        "recent_cases": float(sum(1 for c in cases if (as_day(c["opened_at"]) or as_of) > recent_from)),
        "sla_breaches": float(
            sum(1 for c in cases if first_response_breached(c["priority"], c["opened_at"], c["first_response_at"]))
        ),
        "negative_interactions": float(
            sum(
                1
                for i in interactions
                if (i["outcome"] or "") in NEGATIVE_OUTCOMES and (as_day(i["at"]) or as_of) > recent_from
            )
        ),
        "recent_interactions": float(sum(1 for i in interactions if (as_day(i["at"]) or as_of) > recent_from)),
        "product_age_days": float((as_of - max(installs)).days) if installs else 0.0,
        "p_alive": float(p_alive),
    }


def bought_between(customer: CustomerActivity, start: date, end: date) -> bool:
    """Whether the customer ordered in (start, end]."""
    return any(start < (as_day(o["day"]) or start) <= end for o in customer.orders)


def payment_record(customer: CustomerActivity, as_of: date) -> list[tuple[date, date | None]]:
    """(due date, paid date or None) of invoices due on or before `as_of`."""
    out = []
    for order in customer.orders:
        due = as_day(order.get("due_on"))
        if due is None or due > as_of:
            continue
        paid = as_day(order.get("paid_on"))
        out.append((due, paid if paid and paid <= as_of else None))
    return out
