"""GDPR: consent per channel, export of everything held on a customer, erasure with a tombstone.

Erasure removes personal data (the customer's and their department records' names,
addresses, emails, phones, birth dates, registration ids; contacts no other customer
shares; portal logins and consents) and keeps the customer node as a tombstone, so
orders stay for the books, anonymised. The audit event records counts, never the data.
"""

from __future__ import annotations

from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import AccessDenied, Principal, Role
from kbcrm.access.scope import note_visibilities, require_customer
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

CONSENT_CHANNELS = ("email", "phone", "post")
PERSONAL = (
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "birth_date",
    "given_name",
    "family_name",
    "legal_name",
    "registration_id",
)

CONSENTS = cypher(
    "privacy.consents",
    "MATCH (c:Customer {id: $id})-[:GAVE_CONSENT]->(k:Consent) "
    "RETURN k.channel AS channel, k.granted AS granted, k.recorded_at AS recorded_at ORDER BY k.channel",
    example={"id": "c1"},
    ordered=True,
)
EXPORT_NOTES = cypher(
    "privacy.export_notes",
    "MATCH (c:Customer {id: $id})-[:RAISED]->(k:ServiceCase)-[:HAS_NOTE]->(n:ServiceNote) "
    "WHERE n.visibility IN $visibilities "
    "RETURN k.id AS case_id, n.id AS id, n.text AS text, n.written_at AS written_at ORDER BY k.id, n.written_at",
    example={"id": "c1", "visibilities": ["customer"]},
    ordered=True,
)
EVERYTHING = 1_000_000
EXPORT_LINES = cypher(
    "privacy.export_lines",
    "MATCH (c:Customer {id: $id})-[:PLACED]->(o:Order)-[:CONTAINS]->(l:OrderLine) "
    "OPTIONAL MATCH (l)-[:FOR_PRODUCT]->(p:Product) "
    "RETURN o.id AS order_id, l.line_number AS line, p.id AS product, p.name AS product_name, "
    "l.quantity AS quantity, l.unit_price AS unit_price ORDER BY o.id, l.line_number",
    example={"id": "c1"},
    ordered=True,
)
EXPORT_CONTACTS = cypher(
    "privacy.export_contacts",
    "MATCH (c:Customer {id: $id})-[r:HAS_CONTACT]->(k:Contact) "
    "RETURN k.id AS id, k.name AS name, k.email AS email, k.phone AS phone, k.job_title AS job_title, r.role AS role "
    "ORDER BY k.id",
    example={"id": "c1"},
    ordered=True,
)
EXCLUSIVE_CONTACTS = cypher(
    "privacy.exclusive_contacts",
    "MATCH (c:Customer {id: $id})-[:HAS_CONTACT]->(k:Contact) "
    "OPTIONAL MATCH (other:Customer)-[:HAS_CONTACT]->(k) WHERE other.id <> $id "
    "WITH k, count(other) AS others WHERE others = 0 RETURN k.id AS id",
    example={"id": "c1"},
)
SOURCE_RECORDS = cypher(
    "privacy.source_records",
    "MATCH (c:Customer {id: $id})-[:RESOLVED_FROM]->(s:SourceRecord) RETURN s.id AS id",
    example={"id": "c1"},
)
LOGINS = cypher(
    "privacy.logins",
    "MATCH (u:User)-[:ACTS_FOR]->(c:Customer {id: $id}) RETURN u.id AS id",
    example={"id": "c1"},
)
DELETE_CONSENTS = cypher(
    "privacy.delete_consents",
    "MATCH (c:Customer {id: $id})-[:GAVE_CONSENT]->(k:Consent) DETACH DELETE k",
    example={"id": "c-none"},
)
_BLANK = ", ".join(f"{{v}}.{name} = null" for name in PERSONAL if name != "name")
# The property names are the fixed PERSONAL tuple above, never input.
ERASE_CUSTOMER = cypher(
    "privacy.erase_customer",
    "MATCH (c:Customer {id: $id}) SET " + _BLANK.format(v="c") + ", c.name = '(erased)', c.status = 'erased', "
    "c.erased_at = $now WITH c OPTIONAL MATCH (c)-[:RESOLVED_FROM]->(s:SourceRecord) SET "
    + _BLANK.format(v="s")
    + ", s.name = null RETURN count(s) AS records",
    example={"id": "c-none", "now": "2026-01-01T00:00:00+00:00"},
)
INTERACTION_IDS = cypher(
    "privacy.interactions",
    "MATCH (c:Customer {id: $id})-[:HAD_INTERACTION]->(i:Interaction) RETURN i.id AS id",
    example={"id": "c1"},
)


class PrivacyError(ValueError):
    """A consent or erasure request that cannot be served."""


def consents(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, dict[str, Any]]:
    """Consent per channel; a channel never answered counts as not granted."""
    require_customer(principal, customer_id)
    given = {r["channel"]: r for r in store.read(CONSENTS, id=customer_id)}
    return {
        channel: {
            "granted": bool(given.get(channel, {}).get("granted", False)),
            "recorded_at": given.get(channel, {}).get("recorded_at"),
        }
        for channel in CONSENT_CHANNELS
    }


def set_consent(
    store: GraphStore, *, principal: Principal, customer_id: str, channel: str, granted: bool
) -> dict[str, dict[str, Any]]:
    """Record the customer's (or, for them, an admin's) consent choice for one channel; audited."""
    require_customer(principal, customer_id)
    if principal.role not in (Role.customer, Role.admin):
        raise AccessDenied("consent is given by the customer (or recorded by an admin)")
    if channel not in CONSENT_CHANNELS:
        raise PrivacyError(f"channel must be one of {', '.join(CONSENT_CHANNELS)}, not {channel!r}")
    consent_id = f"consent:{customer_id}:{channel}"
    store.upsert_nodes(
        Label.Consent, [{"id": consent_id, "channel": channel, "granted": bool(granted), "recorded_at": utc_now()}]
    )
    store.upsert_relationships(
        Rel.GAVE_CONSENT,
        [{"start": customer_id, "end": consent_id}],
        start_label=Label.Customer,
        end_label=Label.Consent,
    )
    audit.record(
        store,
        actor=principal.user_id,
        action="consent",
        target=customer_id,
        detail={"channel": channel, "granted": bool(granted)},
    )
    return consents(store, principal=principal, customer_id=customer_id)


def export_customer(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, Any] | None:
    """Everything held on a customer as one JSON-ready document (customers get customer-visible notes only)."""
    from kbcrm.customers.service import customer_360, orders
    from kbcrm.operations.cases.service import list_cases

    view = customer_360(store, principal=principal, customer_id=customer_id)
    if view is None:
        return None
    # The 360 view shows the latest 20 orders and cases; an export holds all of them, lines in one query.
    lines: dict[str, list[dict[str, Any]]] = {}
    for line in store.read(EXPORT_LINES, id=customer_id):
        lines.setdefault(line.pop("order_id"), []).append(line)
    view["orders"] = orders(store, principal=principal, customer_id=customer_id, limit=EVERYTHING)
    for order in view["orders"]:
        order["lines"] = lines.get(order["id"], [])
    view["cases"] = list_cases(store, principal=principal, customer_id=customer_id, limit=EVERYTHING)
    view["contacts"] = store.read(EXPORT_CONTACTS, id=customer_id)
    view["notes"] = store.read(EXPORT_NOTES, id=customer_id, visibilities=note_visibilities(principal))
    view["consents"] = consents(store, principal=principal, customer_id=customer_id)
    view["exported_at"] = utc_now()
    audit.record(store, actor=principal.user_id, action="export", target=customer_id)
    return view


def erase_customer(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, int]:
    """Erase a customer's personal data (admin only); orders and cases stay, linked to the tombstone."""
    if principal.role != Role.admin:
        raise AccessDenied("only an admin erases a customer")
    if store.get_node(Label.Customer, customer_id) is None:
        raise PrivacyError(f"customer {customer_id!r} not found")
    records = [r["id"] for r in store.read(SOURCE_RECORDS, id=customer_id)]
    store.run(ERASE_CUSTOMER, id=customer_id, now=utc_now())
    contacts = [r["id"] for r in store.read(EXCLUSIVE_CONTACTS, id=customer_id)]
    store.delete_nodes(Label.Contact, contacts)
    interactions = [r["id"] for r in store.read(INTERACTION_IDS, id=customer_id)]
    store.upsert_nodes(Label.Interaction, [{"id": i, "subject": None, "next_step": None} for i in interactions])
    logins = [r["id"] for r in store.read(LOGINS, id=customer_id)]
    store.upsert_nodes(Label.User, [{"id": u, "status": "erased", "password_hash": None, "name": None} for u in logins])
    store.run(DELETE_CONSENTS, id=customer_id)
    counts = {
        "source_records": len(records),
        "contacts_deleted": len(contacts),
        "interactions": len(interactions),
        "logins_disabled": len(logins),
    }
    audit.record(store, actor=principal.user_id, action="erase", target=customer_id, detail=counts)
    return counts
