"""Demo consents: a deterministic share of demo customers consented to each contact channel.

Written by the demo set-up (not by the generator, so the generated files stay as they are):
email 65 %, phone 35 %, post 20 %, recorded on the customer's first day; the choice per
(customer, channel) comes from a hash, so every run gives the same consents.
"""

from __future__ import annotations

import hashlib

from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label, Rel

SHARES = {"email": 0.65, "phone": 0.35, "post": 0.20}
CUSTOMERS = cypher(
    "demo.consent_customers",
    "MATCH (c:Customer) WHERE c.id > $after RETURN c.id AS id, c.customer_since AS since ORDER BY c.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)


def _granted(customer_id: str, channel: str) -> bool:
    digest = hashlib.sha256(f"demo-consent\x1f{customer_id}\x1f{channel}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < SHARES[channel]


def seed_demo_consents(store: GraphStore) -> int:
    """Give the demo customers their consents (idempotent); returns how many consents were recorded."""
    total, after = 0, ""
    while rows := store.read(CUSTOMERS, after=after, limit=2000):
        consents, links = [], []
        for row in rows:
            for channel in SHARES:
                consent_id = f"consent:{row['id']}:{channel}"
                at = f"{row['since']}T09:00:00+00:00" if row["since"] else None
                consents.append(
                    {"id": consent_id, "channel": channel, "granted": _granted(row["id"], channel), "recorded_at": at}
                )
                links.append({"start": row["id"], "end": consent_id})
        store.upsert_nodes(Label.Consent, consents)
        store.upsert_relationships(Rel.GAVE_CONSENT, links, start_label=Label.Customer, end_label=Label.Consent)
        total += len(consents)
        after = rows[-1]["id"]
    return total
