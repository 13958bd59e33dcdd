"""Accounts (customers) and their contacts: create with a duplicate check, update, archive, company hierarchy.

A customer created here gets a SourceRecord of its own (source system `kbcrm`), like every
customer that came from a department export, so identity resolution and `kbcrm why` treat
it the same way. Before creating, the caller's duplicate finder (the identity resolver's
scoring, passed in so this core package does not depend on ingest) is asked for likely
matches; if there are any the answer is PossibleDuplicate, naming them with their score
and agreeing fields, unless the person confirms with `force`. Fields changed by hand are
listed in `edited_fields`, and identity resolution does not overwrite them. Archiving
keeps every record: the customer leaves lists, target lists and new opportunities, and
can be restored.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from kbcrm.access import audit
from kbcrm.access.models import Principal
from kbcrm.access.scope import require_account_writer, require_customer, require_staff
from kbcrm.customers.service import get_customer
from kbcrm.domain.values import InvalidValue, coerce
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

KINDS = ("organization", "person")
EDITABLE = (
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "registration_id",
    "birth_date",
    "industry",
    "legal_name",
)
ORGANIZATION_ONLY = frozenset({"registration_id", "industry", "legal_name"})
PERSON_ONLY = frozenset({"birth_date"})
CONTACT_ROLES = (
    "decision maker",
    "plant manager",
    "purchasing",
    "maintenance lead",
    "technical",
    "finance",
    "other",
)
# Fields with a type beyond plain text (kbcrm.domain.values decides, for ingest too).
VALUE_TYPES = {"email": "email", "phone": "phone", "country": "country", "birth_date": "date"}
MAX_DEPTH = 10

DuplicateFinder = Callable[[dict[str, Any]], list[dict[str, Any]]]

PARENT_CHAIN = cypher(
    "accounts.parent_chain",
    "MATCH p = (c:Customer {id: $id})-[:SUBSIDIARY_OF*1..10]->(a:Customer) "
    "RETURN a.id AS id, a.name AS name, length(p) AS depth ORDER BY depth",
    example={"id": "c1"},
    ordered=True,
)
SUBSIDIARIES = cypher(
    "accounts.subsidiaries",
    "MATCH p = (s:Customer)-[:SUBSIDIARY_OF*1..10]->(c:Customer {id: $id}) "
    "MATCH (s)-[:SUBSIDIARY_OF]->(parent:Customer) "
    "RETURN s.id AS id, s.name AS name, s.status AS status, parent.id AS parent_id, length(p) AS depth "
    "ORDER BY depth, name, id",
    example={"id": "c1"},
    ordered=True,
)
SET_PARENT = cypher(
    "accounts.set_parent",
    "MATCH (c:Customer {id: $id}) OPTIONAL MATCH (c)-[old:SUBSIDIARY_OF]->(:Customer) DELETE old "
    "WITH DISTINCT c MATCH (p:Customer {id: $parent}) MERGE (c)-[r:SUBSIDIARY_OF]->(p) SET r.since = $since "
    "RETURN p.id AS id",
    example={"id": "c-none", "parent": "c-none", "since": "2026-01-01"},
)
CLEAR_PARENT = cypher(
    "accounts.clear_parent",
    "MATCH (c:Customer {id: $id})-[old:SUBSIDIARY_OF]->(:Customer) DELETE old",
    example={"id": "c-none"},
)
CONTACTS = cypher(
    "accounts.contacts",
    "MATCH (c:Customer {id: $id})-[h:HAS_CONTACT]->(k:Contact) "
    "WHERE $archived OR k.status IS NULL OR k.status <> 'archived' "
    "RETURN k.id AS id, k.name AS name, k.email AS email, k.phone AS phone, coalesce(h.role, k.role) AS role, "
    "k.job_title AS job_title, coalesce(k.status, 'active') AS status ORDER BY k.name, k.id",
    example={"id": "c1", "archived": False},
    ordered=True,
)
CONTACT = cypher(
    "accounts.contact",
    "MATCH (c:Customer)-[:HAS_CONTACT]->(k:Contact {id: $id}) RETURN c.id AS customer_id, properties(k) AS props",
    example={"id": "k1"},
)
SET_CONTACT_ROLE = cypher(
    "accounts.contact_role",
    "MATCH (c:Customer)-[h:HAS_CONTACT]->(k:Contact {id: $id}) SET h.role = $role, k.role = $role",
    example={"id": "k-none", "role": "finance"},
)


class AccountError(ValueError):
    """An account or contact request that cannot be served (bad field, unknown parent, cycle…)."""


class AccountNotFound(AccountError):
    """No such customer or contact (the API answers 404)."""


class PossibleDuplicate(AccountError):
    """The new record looks like existing customers; repeat with force=True to create it anyway."""

    def __init__(self, candidates: list[dict[str, Any]]) -> None:
        self.candidates = candidates
        names = "; ".join(
            f"{c.get('contact_id') or c['customer_id']} {c.get('name') or ''} "
            f"(score {c['score']:g}, agreeing: {', '.join(c['agreed']) or '-'})"
            for c in candidates[:3]
        )
        super().__init__(f"possible duplicate of {names}")


@dataclass(frozen=True)
class CustomerDraft:
    """What a new customer needs (empty strings: not given)."""

    kind: str
    name: str
    email: str = ""
    phone: str = ""
    street: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""
    registration_id: str = ""
    birth_date: str = ""
    industry: str = ""

    def fields(self) -> dict[str, str]:
        """The non-empty fields, cleaned."""
        return {k: " ".join(str(v).split()) for k, v in asdict(self).items() if k != "kind" and str(v).strip()}


def _check_fields(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise editable fields; raises AccountError naming the field."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in EDITABLE:
            raise AccountError(f"{name}: not an editable customer field ({', '.join(EDITABLE)})")
        if value is None or str(value).strip() == "":
            if name == "name":
                raise AccountError("name: required")
            out[name] = None
            continue
        text = " ".join(str(value).split())
        if len(text) > 200:
            raise AccountError(f"{name}: at most 200 characters")
        if name in ORGANIZATION_ONLY and kind != "organization":
            raise AccountError(f"{name}: only organizations have a {name.replace('_', ' ')}")
        if name in PERSON_ONLY and kind != "person":
            raise AccountError(f"{name}: only persons have a {name.replace('_', ' ')}")
        text = _typed(name, text)
        if name == "birth_date" and date.fromisoformat(text) > date.today():
            raise AccountError("birth_date: in the future")
        out[name] = text
    return out


def _typed(name: str, text: str) -> str:
    """The value as ingest would store it (same e-mail, phone, country and date rules)."""
    try:
        return str(coerce(text, VALUE_TYPES.get(name, "string")))
    except InvalidValue as exc:
        raise AccountError(f"{name}: {text!r}: {exc}") from None


def _customer(store: GraphStore, customer_id: str) -> dict[str, Any]:
    props = get_customer(store, customer_id)
    if props is None:
        raise AccountNotFound(f"customer {customer_id!r} not found")
    if props.get("erased_at"):
        raise AccountError(f"customer {customer_id!r} was erased (GDPR); it cannot be changed")
    return props


def create_customer(
    store: GraphStore,
    *,
    principal: Principal,
    draft: CustomerDraft,
    find_duplicates: DuplicateFinder | None = None,
    force: bool = False,
    parent_id: str = "",
) -> dict[str, Any]:
    """Create a customer (and its `kbcrm` SourceRecord); PossibleDuplicate unless force when it looks known."""
    require_account_writer(principal)
    if draft.kind not in KINDS:
        raise AccountError(f"kind must be organization or person, not {draft.kind!r}")
    fields = _check_fields(draft.kind, draft.fields() | {"name": draft.name})
    fields = {k: v for k, v in fields.items() if v is not None}
    if find_duplicates is not None:
        candidates = find_duplicates({"customer_kind": draft.kind, **fields})
        if candidates and not force:
            raise PossibleDuplicate(candidates)
    if parent_id:
        _customer(store, parent_id)
        if draft.kind != "organization":
            raise AccountError("parent_id: only organizations belong to a company group")
    now = utc_now()
    key = f"{now[:10].replace('-', '')}-{secrets.token_hex(4)}"
    record_id, customer_id = f"kbcrm:{key}", f"cust:kbcrm:{key}"
    record_fields = {k: v for k, v in fields.items() if k not in ("industry", "legal_name")}
    store.upsert_nodes(
        Label.SourceRecord,
        [{"id": record_id, "source_system": "kbcrm", "source_key": key, "customer_kind": draft.kind, **record_fields}],
    )
    extra = Label.Organization if draft.kind == "organization" else Label.Person
    store.upsert_nodes(
        Label.Customer,
        [
            {
                "id": customer_id,
                "customer_kind": draft.kind,
                "status": "active",
                "customer_since": now[:10],
                **fields,
            }
        ],
        extra_labels=[extra],
    )
    store.upsert_relationships(
        Rel.RESOLVED_FROM,
        [{"start": customer_id, "end": record_id, "score": 1.0, "rule": f"created by {principal.user_id}"}],
        start_label=Label.Customer,
        end_label=Label.SourceRecord,
    )
    if parent_id:
        store.run(SET_PARENT, id=customer_id, parent=parent_id, since=now[:10])
    audit.record(
        store,
        actor=principal.user_id,
        action="customer_created",
        target=customer_id,
        detail={"kind": draft.kind, "forced_past_duplicates": bool(force), "parent": parent_id or None},
    )
    return _customer(store, customer_id)


def update_customer(
    store: GraphStore, *, principal: Principal, customer_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change editable fields (None or '' clears one); the fields are kept from identity resolution's rewrites.

    A field given with the value it already has is not a change: it is neither written nor
    marked edited (a form sends every field).
    """
    require_account_writer(principal)
    props = _customer(store, customer_id)
    if not changes:
        raise AccountError("nothing to change")
    kind = str(props.get("customer_kind") or "organization")
    cleaned = {k: v for k, v in _check_fields(kind, changes).items() if v != props.get(k)}
    if not cleaned:
        return props
    edited = sorted(set(props.get("edited_fields") or []) | set(cleaned))
    extra = Label.Organization if kind == "organization" else Label.Person
    store.upsert_nodes(Label.Customer, [{"id": customer_id, **cleaned, "edited_fields": edited}], extra_labels=[extra])
    audit.record(
        store,
        actor=principal.user_id,
        action="customer_updated",
        target=customer_id,
        detail={"fields": sorted(cleaned)},
    )
    return _customer(store, customer_id)


def set_archived(
    store: GraphStore, *, principal: Principal, customer_id: str, archived: bool, reason: str = ""
) -> dict[str, Any]:
    """Archive (or restore) a customer: nothing is deleted; archived customers leave lists and target lists."""
    require_account_writer(principal)
    props = _customer(store, customer_id)
    status = "archived" if archived else "active"
    if (props.get("status") or "active") == status:
        raise AccountError(f"customer {customer_id!r} is already {status}")
    if archived and not reason.strip():
        raise AccountError("reason: required to archive a customer")
    store.upsert_nodes(Label.Customer, [{"id": customer_id, "status": status}])
    audit.record(
        store,
        actor=principal.user_id,
        action="customer_archived" if archived else "customer_restored",
        target=customer_id,
        detail={"reason": reason.strip()},
    )
    return _customer(store, customer_id)


def set_parent(store: GraphStore, *, principal: Principal, customer_id: str, parent_id: str | None) -> dict[str, Any]:
    """Put a company in a group under `parent_id` (None: make it stand alone); cycles are refused."""
    require_account_writer(principal)
    props = _customer(store, customer_id)
    if parent_id:
        parent = _customer(store, parent_id)
        if props.get("customer_kind") != "organization" or parent.get("customer_kind") != "organization":
            raise AccountError("parent_id: company groups are made of organizations")
        if parent_id == customer_id:
            raise AccountError("parent_id: a company is not its own parent")
        chain = [r["id"] for r in store.read(PARENT_CHAIN, id=parent_id)]
        if customer_id in chain:
            raise AccountError(f"parent_id: {parent_id} already belongs to {customer_id}'s group (a cycle)")
        if len(chain) + 1 >= MAX_DEPTH:
            raise AccountError(f"parent_id: company groups are at most {MAX_DEPTH} levels deep")
        store.run(SET_PARENT, id=customer_id, parent=parent_id, since=utc_now()[:10])
    else:
        store.run(CLEAR_PARENT, id=customer_id)
    audit.record(
        store, actor=principal.user_id, action="customer_parent", target=customer_id, detail={"parent": parent_id}
    )
    return hierarchy(store, principal=principal, customer_id=customer_id)


def hierarchy(store: GraphStore, *, principal: Principal, customer_id: str) -> dict[str, Any]:
    """The company group around a customer: its parents up to the top, and every subsidiary below it."""
    require_staff(principal)
    if get_customer(store, customer_id) is None:
        raise AccountNotFound(f"customer {customer_id!r} not found")
    return {
        "id": customer_id,
        "parents": store.read(PARENT_CHAIN, id=customer_id),
        "subsidiaries": store.read(SUBSIDIARIES, id=customer_id),
    }


def list_contacts(
    store: GraphStore, *, principal: Principal, customer_id: str, include_archived: bool = False
) -> list[dict[str, Any]]:
    """A customer's contact persons with their role (customers may read their own company's contacts)."""
    require_customer(principal, customer_id)
    return store.read(CONTACTS, id=customer_id, archived=include_archived)


def _contact_fields(values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in ("name", "email", "phone", "role", "job_title"):
            raise AccountError(f"{name}: not a contact field (name, email, phone, role, job_title)")
        text = " ".join(str(value or "").split())
        if name == "name" and not text:
            raise AccountError("name: required")
        if len(text) > 200:
            raise AccountError(f"{name}: at most 200 characters")
        if text and name in VALUE_TYPES:
            text = _typed(name, text)
        if name == "role" and text not in CONTACT_ROLES:
            raise AccountError(f"role must be one of {', '.join(CONTACT_ROLES)}, not {text!r}")
        out[name] = text or None
    if creating and "name" not in out:
        raise AccountError("name: required")
    return out


def add_contact(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str,
    name: str,
    role: str,
    email: str = "",
    phone: str = "",
    job_title: str = "",
) -> dict[str, Any]:
    """Add a contact person; another active contact of the customer with the same e-mail is a duplicate."""
    require_account_writer(principal)
    _customer(store, customer_id)
    fields = _contact_fields(
        {"name": name, "role": role, "email": email, "phone": phone, "job_title": job_title}, creating=True
    )
    if fields.get("email"):
        same = [
            c
            for c in list_contacts(store, principal=principal, customer_id=customer_id)
            if c["email"] == fields["email"]
        ]
        if same:
            raise PossibleDuplicate(
                [
                    {
                        "customer_id": customer_id,
                        "contact_id": same[0]["id"],
                        "name": same[0]["name"],
                        "score": 1.0,
                        "agreed": ["email"],
                    }
                ]
            )
    contact_id = f"contact:{secrets.token_hex(5)}"
    store.upsert_nodes(Label.Contact, [{"id": contact_id, "status": "active", **fields}])
    store.upsert_relationships(
        Rel.HAS_CONTACT,
        [{"start": customer_id, "end": contact_id, "role": fields["role"]}],
        start_label=Label.Customer,
        end_label=Label.Contact,
    )
    audit.record(
        store, actor=principal.user_id, action="contact_added", target=contact_id, detail={"customer": customer_id}
    )
    return get_contact(store, principal=principal, contact_id=contact_id)


def get_contact(store: GraphStore, *, principal: Principal, contact_id: str) -> dict[str, Any]:
    """One contact with the customer it acts for."""
    rows = store.read(CONTACT, id=contact_id)
    if not rows:
        raise AccountNotFound(f"contact {contact_id!r} not found")
    require_customer(principal, rows[0]["customer_id"])
    props = {k: v for k, v in rows[0]["props"].items() if k not in ("content_hash", "source_ids")}
    return {**props, "status": props.get("status") or "active", "customer_id": rows[0]["customer_id"]}


def update_contact(
    store: GraphStore, *, principal: Principal, contact_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change a contact's name, e-mail, phone, role or job title."""
    require_account_writer(principal)
    get_contact(store, principal=principal, contact_id=contact_id)
    if not changes:
        raise AccountError("nothing to change")
    fields = _contact_fields(changes, creating=False)
    store.upsert_nodes(Label.Contact, [{"id": contact_id, **fields}])
    if "role" in fields:
        store.run(SET_CONTACT_ROLE, id=contact_id, role=fields["role"])
    audit.record(
        store, actor=principal.user_id, action="contact_updated", target=contact_id, detail={"fields": sorted(fields)}
    )
    return get_contact(store, principal=principal, contact_id=contact_id)


def set_contact_archived(store: GraphStore, *, principal: Principal, contact_id: str, archived: bool) -> dict[str, Any]:
    """Archive (or restore) a contact; their touches stay on the timeline."""
    require_account_writer(principal)
    get_contact(store, principal=principal, contact_id=contact_id)
    store.upsert_nodes(Label.Contact, [{"id": contact_id, "status": "archived" if archived else "active"}])
    audit.record(
        store,
        actor=principal.user_id,
        action="contact_archived" if archived else "contact_restored",
        target=contact_id,
    )
    return get_contact(store, principal=principal, contact_id=contact_id)
