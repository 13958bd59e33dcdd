"""Recommendations, each with a reason in plain words and the graph path behind it.

- `next_best_articles`: proactive help — validated customer/public articles about known
  issues of the products a customer owns, ranked by how many service cases on that product
  reported the symptom or error code the article resolves.
- `cross_sell`: products that customers sharing an installed product also own (staff
  view: the path names the peer customers, so it is never shown on the customer portal).
- `next_best_actions`: what staff should do next for a customer — call about an urgent open
  case, offer a service contract where one product keeps failing.
No recommendation is produced without a reason and at least one evidence path.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kbcrm.graph import GraphStore, cypher
from knowledge_transfer.answers.models import EvidencePath, PathEdge, PathNode

KNOWN_ISSUES = cypher(
    "rec.known_issues",
    "MATCH (c:Customer {id: $customer}) WITH c "
    "MATCH (c)-[:OWNS]->(p:Product)<-[:APPLIES_TO]-(a:KnowledgeArticle)-[:RESOLVES]->(s) "
    "WHERE a.audience IN ['customer', 'public'] AND a.confidence = 'validated' "
    "MATCH (k:ServiceCase)-[:ABOUT_PRODUCT]->(p) MATCH (k)-[:HAS_SYMPTOM|REPORTED_ERROR]->(s) "
    "RETURN c.name AS customer_name, a.id AS article, a.title AS title, p.id AS product, p.name AS product_name, "
    "s.id AS issue, labels(s)[0] AS issue_label, coalesce(s.name, s.code) AS issue_name, "
    "count(DISTINCT k) AS cases, min(k.id) AS example_case",
    example={"customer": "cust:1"},
)
CO_OWNED = cypher(
    "rec.co_owned",
    "MATCH (c:Customer {id: $customer})-[:OWNS]->(p:Product)<-[:OWNS]-(o:Customer)-[:OWNS]->(x:Product) "
    "WHERE o.id <> c.id "
    "RETURN c.name AS customer_name, p.id AS product, p.name AS product_name, x.id AS other, x.name AS other_name, "
    "count(DISTINCT o) AS peers, min(o.id) AS example_peer",
    example={"customer": "cust:1"},
)
OWNERS = cypher(
    "rec.owners",
    "MATCH (c:Customer {id: $customer})-[:OWNS]->(p:Product)<-[:OWNS]-(o:Customer) WHERE o.id <> c.id "
    "RETURN p.id AS product, count(DISTINCT o) AS owners",
    example={"customer": "cust:1"},
)
OWNED = cypher(
    "rec.owned",
    "MATCH (c:Customer {id: $customer})-[:OWNS]->(p:Product) RETURN p.id AS product",
    example={"customer": "cust:1"},
)
CUSTOMER_CASES = cypher(
    "rec.customer_cases",
    "MATCH (c:Customer {id: $customer})-[:RAISED]->(k:ServiceCase) OPTIONAL MATCH (k)-[:ABOUT_PRODUCT]->(p:Product) "
    "RETURN c.name AS customer_name, k.id AS case, k.subject AS subject, k.status AS status, "
    "k.priority AS priority, k.opened_at AS opened_at, p.id AS product, p.name AS product_name ORDER BY case",
    example={"customer": "cust:1"},
    ordered=True,
)


@dataclass
class Recommendation:
    """One recommendation: what, why in words, and the evidence paths."""

    kind: str  # article | product | action
    id: str
    title: str
    reason: str
    score: float
    paths: list[EvidencePath] = field(default_factory=list)
    audience: str = "staff"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with each path's text."""
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "reason": self.reason,
            "score": self.score,
            "audience": self.audience,
            "paths": [
                {"nodes": [vars(n) for n in p.nodes], "edges": [vars(e) for e in p.edges], "text": p.text}
                for p in self.paths
            ],
        }


def next_best_articles(store: GraphStore, customer_id: str, *, limit: int = 5) -> list[Recommendation]:
    """Articles about known issues of the customer's products (customer-safe: no other customer is named)."""
    best: dict[str, Recommendation] = {}
    for r in store.read(KNOWN_ISSUES, customer=customer_id):
        me = PathNode(customer_id, "Customer", r["customer_name"] or customer_id)
        product = PathNode(r["product"], "Product", r["product_name"])
        article = PathNode(r["article"], "KnowledgeArticle", r["title"])
        issue = PathNode(r["issue"], r["issue_label"], str(r["issue_name"]))
        path = EvidencePath(
            [me, product, article, issue],
            [
                PathEdge("OWNS", me.id, product.id),
                PathEdge("APPLIES_TO", article.id, product.id),
                PathEdge("RESOLVES", article.id, issue.id),
            ],
        )
        cases = int(r["cases"])
        if r["article"] not in best or best[r["article"]].score < cases:
            best[r["article"]] = Recommendation(
                kind="article",
                id=r["article"],
                title=r["title"],
                reason=(
                    f"You own the {r['product_name']}; {cases} service case{'s' if cases != 1 else ''} on it "
                    f"reported {issue.name}, which this article resolves."
                ),
                score=float(cases),
                paths=[path],
                audience="customer",
            )
    return sorted(best.values(), key=lambda x: (-x.score, x.id))[:limit]


def cross_sell(store: GraphStore, customer_id: str, *, limit: int = 5) -> list[Recommendation]:
    """Products that customers with the same installed product also own (staff only: names peers)."""
    owned = {r["product"] for r in store.read(OWNED, customer=customer_id)}
    owners = {r["product"]: int(r["owners"]) for r in store.read(OWNERS, customer=customer_id)}
    best: dict[str, Recommendation] = {}
    for r in store.read(CO_OWNED, customer=customer_id):
        if r["other"] in owned:
            continue
        share = int(r["peers"]) / max(owners.get(r["product"], 1), 1)
        if r["other"] in best and best[r["other"]].score >= share:
            continue
        me = PathNode(customer_id, "Customer", r["customer_name"] or customer_id)
        peer = PathNode(r["example_peer"], "Customer", r["example_peer"])
        product, other = (
            PathNode(r["product"], "Product", r["product_name"]),
            PathNode(r["other"], "Product", r["other_name"]),
        )
        best[r["other"]] = Recommendation(
            kind="product",
            id=r["other"],
            title=r["other_name"],
            reason=(
                f"{r['peers']} of the {owners.get(r['product'], 0)} other customers who own the {r['product_name']} "
                f"also own the {r['other_name']} ({share:.0%})."
            ),
            score=round(share, 4),
            paths=[
                EvidencePath(
                    [me, product, peer, other],
                    [
                        PathEdge("OWNS", me.id, product.id),
                        PathEdge("OWNS", peer.id, product.id),
                        PathEdge("OWNS", peer.id, other.id),
                    ],
                )
            ],
        )
    return sorted(best.values(), key=lambda x: (-x.score, x.id))[:limit]


def _days(later: str, earlier: str) -> int:
    def parse(v: str) -> datetime:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).replace(tzinfo=None)

    return (parse(later) - parse(earlier)).days


def next_best_actions(
    store: GraphStore, customer_id: str, *, as_of: str, urgent_after_days: int = 2, contract_after_cases: int = 3
) -> list[Recommendation]:
    """What staff should do next for a customer, with the cases behind each action."""
    rows = store.read(CUSTOMER_CASES, customer=customer_id)
    actions: list[Recommendation] = []
    if not rows:
        return actions
    me = PathNode(customer_id, "Customer", rows[0]["customer_name"] or customer_id)
    for r in rows:
        if r["status"] != "closed" and r["priority"] in ("P1", "P2") and r["opened_at"]:
            age = _days(as_of, r["opened_at"])
            if age >= urgent_after_days:
                case = PathNode(r["case"], "ServiceCase", r["subject"] or r["case"])
                actions.append(
                    Recommendation(
                        kind="action",
                        id=f"call:{r['case']}",
                        title=f"Call {me.name} about case {r['case']}",
                        reason=f"{r['priority']} case {r['case']} ({r['subject']}) has been open for {age} days.",
                        score=float(age) * (2 if r["priority"] == "P1" else 1),
                        paths=[EvidencePath([me, case], [PathEdge("RAISED", me.id, case.id)])],
                    )
                )
    recent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["product"] and r["opened_at"] and 0 <= _days(as_of, r["opened_at"]) <= 365:
            recent[r["product"]].append(r)
    for product_id, cases in sorted(recent.items()):
        if len(cases) >= contract_after_cases:
            product = PathNode(product_id, "Product", cases[0]["product_name"])
            paths = [
                EvidencePath(
                    [me, PathNode(c["case"], "ServiceCase", c["subject"] or c["case"]), product],
                    [PathEdge("RAISED", me.id, c["case"]), PathEdge("ABOUT_PRODUCT", c["case"], product_id)],
                )
                for c in cases
            ]
            actions.append(
                Recommendation(
                    kind="action",
                    id=f"contract:{product_id}",
                    title=f"Offer {me.name} a service contract for the {product.name}",
                    reason=f"{len(cases)} service cases on the {product.name} in the 12 months before {as_of[:10]}.",
                    score=float(len(cases)),
                    paths=paths,
                )
            )
    return sorted(actions, key=lambda x: (-x.score, x.id))
