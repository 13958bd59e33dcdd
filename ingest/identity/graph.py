"""Identity resolution on the graph: department SourceRecords become one Customer each.

A customer's id is `cust:` + the smallest id among its records, so ids stay stable across
runs while the cluster keeps that record. Each cluster of two or more records leaves an
audit event (who, which rule, the scores and agreeing fields, when).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ingest.identity.compare import digits
from ingest.identity.merge import keep_apart, merge_customers
from ingest.identity.model import PRIOR, Model
from ingest.identity.resolver import Record, compare, pairwise_quality, resolve
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

PAGE = 5000
SOURCE_PRIORITY = {"sales": 0, "billing": 1, "service": 2}
CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "street",
    "city",
    "postal_code",
    "country",
    "registration_id",
    "birth_date",
)

SOURCE_RECORDS_PAGE = cypher(
    "identity.source_records_page",
    "MATCH (r:SourceRecord) WHERE r.id > $after WITH r ORDER BY r.id LIMIT $limit "
    "RETURN r {.id, .source_system, .source_key, .customer_kind, .name, .email, .phone, .street, .city, "
    ".postal_code, .country, .registration_id, .birth_date, .true_customer} AS record ORDER BY record.id",
    example={"after": "", "limit": 10},
    ordered=True,
)
DETACH_MOVED_RECORDS = cypher(
    "identity.detach_moved_records",
    # The customer is left unlabelled (only customers have RESOLVED_FROM): with (c:Customer) and the
    # filter on c.id, FalkorDB scanned every customer for each row (3,000 rows: 17 s, against 0.013 s
    # starting from the record's id index; 20k records made identity resolution take 228 s).
    "UNWIND $rows AS row MATCH (s:SourceRecord {id: row.record})<-[r:RESOLVED_FROM]-(c) "
    "WHERE c.id <> row.customer DELETE r",
    example={"rows": []},
)
RESOLVED_PAIRS = cypher(
    "identity.resolved_records",
    "MATCH (c:Customer)-[:RESOLVED_FROM]->(s:SourceRecord) "
    "RETURN c.id AS customer, s.id AS record, s.true_customer AS truth ORDER BY record",
    ordered=True,
)


HAND_KEPT = cypher(
    "identity.hand_kept_customers",
    "MATCH (c:Customer) WHERE c.edited_fields IS NOT NULL OR c.status = 'archived' "
    "RETURN c.id AS id, c.edited_fields AS edited, c.status AS status",
)
RECORDS_BY_KEY = cypher(
    "identity.records_by_key",
    "MATCH (r:SourceRecord) WHERE ($email <> '' AND r.email = $email) OR ($reg <> '' AND r.registration_id = $reg) "
    "RETURN r.id AS id LIMIT 50",
    example={"email": "a@b.c", "reg": "none"},
)
CUSTOMERS_BY_KEY = cypher(
    "identity.customers_by_key",
    "MATCH (c:Customer) WHERE ($email <> '' AND c.email = $email) OR ($reg <> '' AND c.registration_id = $reg) "
    "RETURN c.id AS id LIMIT 50",
    example={"email": "a@b.c", "reg": "none"},
)
CUSTOMERS_BY_ID = cypher(
    "identity.customers_by_id",
    "UNWIND $ids AS cid MATCH (c:Customer {id: cid}) "
    "RETURN c.id AS customer_id, c.name AS customer_name, c.status AS status, c.erased_at AS erased_at, "
    "c {.id, .customer_kind, .name, .email, .phone, .street, .city, .postal_code, .registration_id, .birth_date, "
    "source_system: 'customer'} AS record",
    example={"ids": ["c1"]},
)
RECORDS_WITH_CUSTOMERS = cypher(
    "identity.records_with_customers",
    "UNWIND $ids AS rid MATCH (c:Customer)-[:RESOLVED_FROM]->(r:SourceRecord {id: rid}) "
    "RETURN c.id AS customer_id, c.name AS customer_name, c.status AS status, c.erased_at AS erased_at, "
    "r {.id, .source_system, .customer_kind, .name, .email, .phone, .street, .city, .postal_code, "
    ".registration_id, .birth_date} AS record",
    example={"ids": ["sales:S1"]},
)


MODEL_ID = "identity-model"
MODEL_NODE = cypher(
    "identity.model",
    "MATCH (m:IdentityModel {id: $id}) RETURN m.parameters AS parameters",
    example={"id": MODEL_ID},
)


def current_model(store: GraphStore) -> Model:
    """The match model the last `resolve_customers` fitted, or the starting model before any run."""
    rows = store.read(MODEL_NODE, id=MODEL_ID)
    return Model.from_json(rows[0]["parameters"]) if rows and rows[0]["parameters"] else PRIOR


def possible_duplicates(
    store: GraphStore, fields: dict[str, Any], *, threshold: float = 0.0, limit: int = 5
) -> list[dict[str, Any]]:
    """Customers whose department records score at or above the link threshold against `fields`.

    Candidates — department records and the customers themselves — come from the indexes
    (same e-mail or registration id, and full-text hits on each word of the name), then the
    resolver's own pairwise score decides — with the model last fitted to the department
    records — so the answer agrees with what `kbcrm identity resolve` would link. Best match
    first, one row per customer, each with its score and the fields that agreed.
    """
    model = current_model(store)
    ids: set[str] = set()
    email, reg = str(fields.get("email") or "").lower(), str(fields.get("registration_id") or "")
    if email or reg:
        ids.update(r["id"] for r in store.read(RECORDS_BY_KEY, email=email, reg=reg))
    words = sorted({w for w in re.findall(r"\w+", str(fields.get("name") or "")) if len(w) >= 3}, key=len)[-4:]
    for word in words:
        ids.update(hit.id for hit in store.fulltext_search(Label.SourceRecord, word, limit=50))
    # The customers themselves too: a customer created or edited in KBCRM, or loaded without department records.
    customer_ids: set[str] = set()
    if email or reg:
        customer_ids.update(r["id"] for r in store.read(CUSTOMERS_BY_KEY, email=email, reg=reg))
    for word in words:
        customer_ids.update(hit.id for hit in store.fulltext_search(Label.Customer, word, limit=50))
    draft = canonical_record({"id": "draft", **fields})
    best: dict[str, dict[str, Any]] = {}
    rows = store.read(RECORDS_WITH_CUSTOMERS, ids=sorted(ids)) if ids else []
    rows += store.read(CUSTOMERS_BY_ID, ids=sorted(customer_ids)) if customer_ids else []
    for row in rows:
        if row["erased_at"]:
            continue
        record = row["record"]
        if fields.get("customer_kind") and record.get("customer_kind") not in (None, fields["customer_kind"]):
            continue
        score, agreed = compare(draft, canonical_record(record), model)
        if score < threshold:
            continue
        known = best.get(row["customer_id"])
        if known is None or round(score, 2) > known["score"]:  # a tie keeps the department record
            best[row["customer_id"]] = {
                "customer_id": row["customer_id"],
                "name": row["customer_name"],
                "status": row["status"],
                "score": round(score, 2),
                "agreed": list(agreed),
                "record": record["id"],
                "source_system": record["source_system"],
            }
    return sorted(best.values(), key=lambda c: (-c["score"], c["customer_id"]))[:limit]


def source_records(store: GraphStore) -> list[dict[str, Any]]:
    """Every SourceRecord's fields, paged by id."""
    out: list[dict[str, Any]] = []
    after = ""
    while rows := store.read(SOURCE_RECORDS_PAGE, after=after, limit=PAGE):
        out.extend(r["record"] for r in rows)
        after = rows[-1]["record"]["id"]
    return out


def canonical_record(record: dict[str, Any]) -> Record:
    """A SourceRecord's (or customer's) graph properties as the resolver's canonical fields."""
    return {
        k: v
        for k, v in {
            "id": record["id"],
            "name": record.get("name"),
            "email": record.get("email"),
            "phone": digits(record.get("phone")),
            "street": record.get("street"),
            "city": record.get("city"),
            "postcode": record.get("postal_code"),
            "reg_id": record.get("registration_id"),
            "dob": digits(record.get("birth_date")),
        }.items()
        if v
    }


def resolve_customers(
    store: GraphStore,
    *,
    threshold: float = 0.0,
    actor: str = "system",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Cluster all SourceRecords into Customers; idempotent for the same records and threshold.

    The match model is fitted to the records' candidate pairs and stored (`IdentityModel`), so
    the duplicate check on new customers scores with the same weights. `progress(done, total)`
    follows the comparison of candidate pairs, the long part.
    """
    rule = f"identity-v2 threshold={threshold:g}"
    records = source_records(store)
    by_id = {r["id"]: r for r in records}
    result = resolve(
        [canonical_record(r) for r in records], threshold=threshold, keep_apart=keep_apart(store), progress=progress
    )
    store.upsert_nodes(
        Label.IdentityModel, [{"id": MODEL_ID, "parameters": result.model.to_json(), "recorded_at": utc_now()}]
    )
    owner = {r["record"]: r["customer"] for r in store.read(RESOLVED_PAIRS)}
    best: dict[str, float] = defaultdict(float)
    links_by_cluster: dict[str, list[dict[str, Any]]] = defaultdict(list)
    member_of: dict[str, str] = {}
    for cluster in result.clusters:
        for member in cluster:
            member_of[member] = f"cust:{cluster[0]}"
    for link in result.links:
        best[link.left] = max(best[link.left], link.score)
        best[link.right] = max(best[link.right], link.score)
        links_by_cluster[member_of[link.left]].append(
            {
                "records": [link.left, link.right],
                "score": link.score,
                "agreed": list(link.agreed),
                "evidence": link.evidence,
            }
        )
    # Fields a person edited, and an archived status, are kept: resolution fills the rest.
    kept = {
        r["id"]: [*(r["edited"] or []), *(["status"] if r["status"] == "archived" else [])]
        for r in store.read(HAND_KEPT)
    }
    customers: dict[str, list[dict[str, Any]]] = {"organization": [], "person": []}
    edges, moves, audits = [], [], []
    now = utc_now()
    for cluster in result.clusters:
        customer_id = f"cust:{cluster[0]}"
        members = sorted(
            (by_id[m] for m in cluster), key=lambda r: (SOURCE_PRIORITY.get(r["source_system"], 9), r["id"])
        )
        row: dict[str, Any] = {"id": customer_id, "status": "active"}
        for name in CUSTOMER_FIELDS:
            row[name] = next((m[name] for m in members if m.get(name)), None)
        kind = next((m["customer_kind"] for m in members if m.get("customer_kind")), None) or (
            "organization" if row.get("registration_id") else "person"
        )
        row["customer_kind"] = kind
        row.pop("birth_date" if kind == "organization" else "registration_id")  # what the ontology allows per kind
        for name in kept.get(customer_id, ()):
            row.pop(name, None)
        customers[kind].append(row)
        for member in cluster:
            edges.append({"start": customer_id, "end": member, "score": best.get(member, 1.0), "rule": rule})
            moves.append({"record": member, "customer": customer_id})
        if len(cluster) > 1:
            digest = hashlib.sha1("|".join(cluster).encode()).hexdigest()[:12]
            audits.append(
                {
                    "id": f"audit:resolve:{digest}",
                    "action": "resolve",
                    "actor": actor,
                    "target_id": customer_id,
                    "recorded_at": now,
                    "detail": json.dumps({"rule": rule, "records": cluster, "links": links_by_cluster[customer_id]}),
                }
            )
    store.upsert_nodes(Label.Customer, customers["organization"], extra_labels=[Label.Organization])
    store.upsert_nodes(Label.Customer, customers["person"], extra_labels=[Label.Person])
    merges = []
    for cluster in result.clusters:  # existing customers now found to be one: merge, keeping everything
        survivor = f"cust:{cluster[0]}"
        for absorbed in sorted({owner[m] for m in cluster if m in owner} - {survivor}):
            if store.get_node(Label.Customer, absorbed) is not None:
                merges.append(
                    merge_customers(
                        store,
                        survivor=survivor,
                        absorbed=absorbed,
                        actor=actor,
                        rule=rule,
                        links=links_by_cluster[survivor],
                    )
                )
    store.execute_batches(DETACH_MOVED_RECORDS, moves)
    store.upsert_relationships(Rel.RESOLVED_FROM, edges, start_label=Label.Customer, end_label=Label.SourceRecord)
    store.upsert_nodes(Label.AuditEvent, audits)
    return {
        "customer_merges": len(merges),
        "records": len(records),
        "customers": len(result.clusters),
        "merged": len(audits),
        "links": len(result.links),
        "candidate_pairs": result.candidate_pairs,
    }


def customer_of_source_key(store: GraphStore) -> dict[str, str]:
    """Source key (sales id, service id, account number) → resolved customer id."""
    return {row["record"].split(":", 1)[1]: row["customer"] for row in store.read(RESOLVED_PAIRS)}


def quality_against_truth(store: GraphStore) -> dict[str, float] | None:
    """Pairwise quality of the graph's resolution where records carry ground truth (demo data)."""
    rows = store.read(RESOLVED_PAIRS)
    truth = {r["record"]: r["truth"] for r in rows if r["truth"]}
    if not truth:
        return None
    clusters: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r["record"] in truth:
            clusters[r["customer"]].append(r["record"])
    return pairwise_quality(clusters.values(), truth)
