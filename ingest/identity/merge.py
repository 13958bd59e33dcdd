"""Merging customers (keeping every related record) and undoing a merge.

A merge moves every relationship of the absorbed customer — orders, cases, interactions,
contacts, installed base, source records, provenance, referrals — to the surviving
customer, deletes the absorbed node, and writes an audit event holding a full snapshot
(properties, labels, each moved relationship with its properties). `unmerge` replays that
snapshot backwards and records the separated records so later resolution runs keep them
apart.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology import load_vocabulary
from ontology.terms import Label

AUDIT_BY_ID = cypher(
    "identity.audit_by_id", "MATCH (a:AuditEvent {id: $id}) RETURN a {.*} AS audit", example={"id": "x"}
)
UNMERGES = cypher(
    "identity.unmerges",
    "MATCH (a:AuditEvent {action: 'unmerge'}) RETURN a.detail AS detail ORDER BY a.id",
    ordered=True,
)
NODE_LABELS = cypher(
    "identity.customer_labels",
    "MATCH (c:Customer {id: $id}) RETURN labels(c) AS labels, c {.*} AS props",
    example={"id": "c1"},
)


def customer_relationships() -> list[tuple[str, str]]:
    """(relationship type, 'out' | 'in') for every relationship a Customer may have, from the ontology."""
    vocabulary = load_vocabulary()
    above = vocabulary.ancestors(Label.Customer) | {Label.Organization, Label.Person}
    found = []
    for rel in sorted(vocabulary.relationships.values(), key=lambda r: r.type):
        if rel.domain & above:
            found.append((rel.type, "out"))
        if rel.range & above:
            found.append((rel.type, "in"))
    return found


def _pattern(rel: str, direction: str, me: str, other: str) -> str:
    return f"({me})-[r:{rel}]->({other})" if direction == "out" else f"({me})<-[r:{rel}]-({other})"


def _edges(store: GraphStore, customer_id: str) -> list[dict[str, Any]]:
    edges = []
    for rel, direction in customer_relationships():
        rows = store.read(
            f"MATCH {_pattern(rel, direction, 'c:Customer {id: $id}', 'x')} "
            "RETURN x.id AS other, labels(x) AS labels, properties(r) AS props ORDER BY other",
            id=customer_id,
        )
        edges += [
            {"type": rel, "direction": direction, "other": r["other"], "label": r["labels"][0], "props": r["props"]}
            for r in rows
        ]
    return edges


def _move(store: GraphStore, edges: list[dict[str, Any]], *, source: str, target: str) -> None:
    """Re-point the given relationships from one customer to another (properties kept)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for edge in edges:
        groups.setdefault((edge["type"], edge["direction"], edge["label"]), []).append(edge["other"])
    for (rel, direction, label), others in sorted(groups.items()):
        store.check_relationship(rel)
        store.check_label(label)
        old = _pattern(rel, direction, "s:Customer {id: $source}", f"x:{label} {{id: other}}")
        new = f"(t)-[n:{rel}]->(x)" if direction == "out" else f"(t)<-[n:{rel}]-(x)"
        store.execute(
            f"UNWIND $others AS other MATCH {old} MATCH (t:Customer {{id: $target}}) "
            f"WHERE x.id <> $target MERGE {new} SET n += properties(r) DELETE r",
            {"others": others, "source": source, "target": target},
        )


def merge_customers(
    store: GraphStore, *, survivor: str, absorbed: str, actor: str, rule: str, links: list[dict[str, Any]] | None = None
) -> str:
    """Move everything of `absorbed` onto `survivor`, delete `absorbed`; returns the audit event id."""
    rows = store.read(NODE_LABELS, id=absorbed)
    if not rows:
        raise ValueError(f"no customer {absorbed!r}")
    edges = _edges(store, absorbed)
    _move(store, edges, source=absorbed, target=survivor)
    store.delete_nodes(Label.Customer, [absorbed])
    audit_id = f"audit:merge:{hashlib.sha1(f'{survivor}|{absorbed}|{utc_now()}'.encode()).hexdigest()[:12]}"
    detail = {
        "rule": rule,
        "survivor": survivor,
        "absorbed": {"id": absorbed, "labels": rows[0]["labels"], "props": rows[0]["props"], "edges": edges},
        "links": links or [],
    }
    store.upsert_nodes(
        Label.AuditEvent,
        [
            {
                "id": audit_id,
                "action": "merge",
                "actor": actor,
                "target_id": survivor,
                "recorded_at": utc_now(),
                "detail": json.dumps(detail, default=str),
            }
        ],
    )
    return audit_id


def unmerge(store: GraphStore, audit_id: str, *, actor: str) -> dict[str, Any]:
    """Undo a merge: recreate the absorbed customer and move its relationships back."""
    rows = store.read(AUDIT_BY_ID, id=audit_id)
    if not rows or rows[0]["audit"].get("action") != "merge":
        raise ValueError(f"{audit_id!r} is not a merge audit event")
    detail = json.loads(rows[0]["audit"]["detail"])
    absorbed = detail["absorbed"]
    if store.get_node(Label.Customer, absorbed["id"]) is not None:
        raise ValueError(f"{audit_id!r} was already undone: customer {absorbed['id']!r} exists")
    props = {k: v for k, v in absorbed["props"].items() if k not in ("created_at", "updated_at")}
    extra = [label for label in absorbed["labels"] if label != Label.Customer]
    store.upsert_nodes(Label.Customer, [props], extra_labels=extra)
    _move(store, absorbed["edges"], source=detail["survivor"], target=absorbed["id"])
    records_back = sorted(e["other"] for e in absorbed["edges"] if e["type"] == "RESOLVED_FROM")
    records_kept = sorted(
        r["record"]
        for r in store.read(
            "MATCH (c:Customer {id: $id})-[:RESOLVED_FROM]->(s:SourceRecord) RETURN s.id AS record",
            id=detail["survivor"],
        )
    )
    undo_id = audit_id.replace("audit:merge:", "audit:unmerge:")
    store.upsert_nodes(
        Label.AuditEvent,
        [
            {
                "id": undo_id,
                "action": "unmerge",
                "actor": actor,
                "target_id": absorbed["id"],
                "recorded_at": utc_now(),
                "detail": json.dumps({"merge": audit_id, "keep_apart": [records_kept, records_back]}),
            }
        ],
    )
    return {
        "restored": absorbed["id"],
        "survivor": detail["survivor"],
        "moved_back": len(absorbed["edges"]),
        "audit": undo_id,
    }


def keep_apart(store: GraphStore) -> list[tuple[list[str], list[str]]]:
    """Record groups that an unmerge separated: resolution must not link them again."""
    return [tuple(json.loads(r["detail"])["keep_apart"]) for r in store.read(UNMERGES)]  # type: ignore[misc]
