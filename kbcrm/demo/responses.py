"""Demo campaign responses: what the targeted members of a demo campaign did, recorded as a mailing tool would.

Written by the demo set-up after it creates its campaign. Each targeted member's response
comes from a hash of (campaign name, customer), so every set-up gives the same responses: opened
30 %, clicked 12 %, replied 4 %, converted 6 %, unsubscribed 2 %, nothing otherwise; the
day is 1–30 days after the campaign's start. Control-group members get none.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from kbcrm.access.models import Principal
from kbcrm.graph import GraphStore
from kbcrm.operations.campaigns.service import members, record_responses

SHARES = (("opened", 0.30), ("clicked", 0.12), ("replied", 0.04), ("converted", 0.06), ("unsubscribed", 0.02))


def _draw(campaign_name: str, customer_id: str) -> tuple[float, int]:
    digest = hashlib.sha256(f"demo-response\x1f{campaign_name}\x1f{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, 1 + digest[8] % 30


def demo_response(campaign_name: str, customer_id: str, starts_on: date) -> tuple[str, str] | None:
    """(response, ISO time) of one targeted member, or None when they did not respond."""
    u, day = _draw(campaign_name, customer_id)
    for response, share in SHARES:
        if u < share:
            return response, f"{(starts_on + timedelta(days=day)).isoformat()}T10:00:00+00:00"
        u -= share
    return None


def seed_demo_responses(
    store: GraphStore, *, principal: Principal, campaign_id: str, campaign_name: str, starts_on: date
) -> int:
    """Record the demo responses of the campaign's targeted members (idempotent); returns how many."""
    rows, after = [], ""
    while page := members(store, principal=principal, campaign_id=campaign_id, after=after, limit=1000):
        for member in page:
            if member["control_group"]:
                continue
            drawn = demo_response(campaign_name, member["customer_id"], starts_on)
            if drawn is not None:
                rows.append(
                    {"campaign": campaign_id, "customer": member["customer_id"], "response": drawn[0], "at": drawn[1]}
                )
        after = page[-1]["customer_id"]
    return record_responses(store, principal=principal, rows=rows)
