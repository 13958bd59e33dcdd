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

from kbcrm.access.models import Principal
from kbcrm.access.scope import article_audiences, article_states, require_customer
from kbcrm.customers.service import get_customer
from kbcrm.graph import GraphStore, cypher
from knowledge_transfer.answers.models import EvidencePath, PathEdge, PathNode
from knowledge_transfer.browse import reader_version

KNOWN_ISSUES = cypher(
    "rec.known_issues",
    "MATCH (c:Customer {id: $customer}) WITH c "
    "MATCH (c)-[:OWNS]->(p:Product)<-[:APPLIES_TO]-(a:KnowledgeArticle)-[:RESOLVES]->(s) "
    "WHERE a.audience IN $audiences AND a.confidence IN $states "
    "MATCH (k:ServiceCase)-[:ABOUT_PRODUCT]->(p) MATCH (k)-[:HAS_SYMPTOM|REPORTED_ERROR]->(s) "
    "OPTIONAL MATCH (a)-[:TRANSLATION_OF]->(o:KnowledgeArticle) "
    "RETURN c.name AS customer_name, a.id AS article, a.title AS title, a.language AS language, "
    "coalesce(o.id, a.id) AS work, p.id AS product, p.name AS product_name, "
    "s.id AS issue, labels(s)[0] AS issue_label, coalesce(s.name, s.code) AS issue_name, "
    "count(DISTINCT k) AS cases",
    example={"customer": "cust:1", "audiences": ["public"], "states": ["validated"]},
)
# The customer's own cases per product and reported symptom or error code, newest first: the
# strongest reason to read an article.
OWN_ISSUES = cypher(
    "rec.own_issues",
    "MATCH (c:Customer {id: $customer})-[:RAISED]->(k:ServiceCase)-[:ABOUT_PRODUCT]->(p:Product) "
    "MATCH (k)-[r:HAS_SYMPTOM|REPORTED_ERROR]->(s) WITH p, s, type(r) AS rel, k ORDER BY k.opened_at DESC, k.id DESC "
    "RETURN p.id AS product, s.id AS issue, rel, count(DISTINCT k) AS cases, collect(k.id) AS case_ids, "
    "collect(coalesce(k.subject, k.id)) AS subjects",
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
    """One recommendation: what, why in words, and the evidence paths.

    `reason` is the English sentence; `why` holds the same facts by name (`why["key"]` names the kind
    of reason), so a page can say it in its own language (the `rec_*` page terms).
    """

    kind: str  # article | product | action
    id: str
    title: str
    reason: str
    score: float
    paths: list[EvidencePath] = field(default_factory=list)
    audience: str = "staff"
    why: dict[str, Any] = field(default_factory=dict)
    language: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with each path's text."""
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "reason": self.reason,
            "why": self.why,
            "score": self.score,
            "audience": self.audience,
            "language": self.language,
            "paths": [p.to_dict() for p in self.paths],
        }


def next_best_articles(
    store: GraphStore, customer_id: str, *, language: str = "en", limit: int = 5
) -> list[Recommendation]:
    """Articles about known issues of the customer's products (customer-safe: no other customer is named).

    One per article and its translations, in `language` where that version is there. Issues the
    customer reported themselves come first (their case is on the evidence path), then by how many
    service cases on the product reported the issue; each owned product's best article comes
    before any product's second.
    """
    own = {(r["product"], r["issue"]): r for r in store.read(OWN_ISSUES, customer=customer_id)}
    versions: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    # What a customer may read, whoever asks: the articles are for the customer (campaign content, /my).
    readable: dict[str, Any] = {"audiences": article_audiences(None), "states": article_states(None)}
    for r in store.read(KNOWN_ISSUES, customer=customer_id, **readable):
        versions[r["work"]][r["article"]].append(r)
    chosen = []
    for work, by_article in versions.items():
        # The version in the reader's language, else the original, else the first; then its best reason.
        article_id = reader_version({a: rows[0]["language"] for a, rows in by_article.items()}, work, language)
        row = max(by_article[article_id], key=lambda r: (_own_cases(own, r), int(r["cases"]), r["issue"]))
        chosen.append(_known_issue(customer_id, row, own.get((row["product"], row["issue"]))))
    chosen.sort(key=lambda x: (-x.why["own_cases"], -x.why["cases"], x.id))
    # Every owned product with a known issue gets its best article before a product gets a second one.
    first: dict[str, Recommendation] = {}
    for item in chosen:
        first.setdefault(item.why["product"], item)
    lead = [item for item in chosen if first[item.why["product"]] is item][:limit]
    return lead + [item for item in chosen if item not in lead][: limit - len(lead)]


def _own_cases(own: dict[tuple[str, str], dict[str, Any]], row: dict[str, Any]) -> int:
    mine = own.get((row["product"], row["issue"]))
    return int(mine["cases"]) if mine else 0


def _known_issue(customer_id: str, r: dict[str, Any], mine: dict[str, Any] | None) -> Recommendation:
    """One article recommendation with its reason, from a KNOWN_ISSUES row and the customer's own cases."""
    me = PathNode(customer_id, "Customer", r["customer_name"] or customer_id)
    product = PathNode(r["product"], "Product", r["product_name"])
    article = PathNode(r["article"], "KnowledgeArticle", r["title"])
    issue = PathNode(r["issue"], r["issue_label"], str(r["issue_name"]))
    paths = [
        EvidencePath(
            [me, product, article, issue],
            [
                PathEdge("OWNS", me.id, product.id),
                PathEdge("APPLIES_TO", article.id, product.id),
                PathEdge("RESOLVES", article.id, issue.id),
            ],
        )
    ]
    cases = int(r["cases"])
    plural = "s" if cases != 1 else ""
    why: dict[str, Any] = {
        "key": "known_issue",
        "product": product.id,
        "product_name": product.name,
        "issue": issue.id,
        "issue_label": issue.label,
        "issue_name": issue.name,
        "cases": cases,
        "own_cases": 0,
    }
    reason = (
        f"You own the {product.name}. {cases} service case{plural} on this product reported “{issue.name}”, "
        "which this article resolves."
    )
    if mine:
        own_cases = int(mine["cases"])
        case = PathNode(mine["case_ids"][0], "ServiceCase", mine["subjects"][0])
        paths.insert(
            0,
            EvidencePath(
                [me, case, issue, article],
                [
                    PathEdge("RAISED", me.id, case.id),
                    PathEdge(mine["rel"], case.id, issue.id),
                    PathEdge("RESOLVES", article.id, issue.id),
                ],
            ),
        )
        why |= {"key": "own_issue", "own_cases": own_cases, "latest_case": case.id}
        reason = (
            f"You reported “{issue.name}” on your {product.name} in {own_cases} service case"
            f"{'s' if own_cases != 1 else ''} "
            f"(latest {case.id}); {cases} service case{plural} on this product reported it. "
            "This article resolves it."
        )
    return Recommendation(
        kind="article",
        id=article.id,
        title=article.name,
        reason=reason,
        score=float(cases),
        paths=paths,
        audience="customer",
        why=why,
        language=r["language"] or "en",
    )


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
                f"also own the {r['other_name']} ({share * 100:.1f} %)."
            ),
            score=round(share, 4),
            why={
                "key": "co_owned",
                "product": product.id,
                "product_name": product.name,
                "other": other.id,
                "other_name": other.name,
                "peers": int(r["peers"]),
                "owners": owners.get(r["product"], 0),
                "share": round(share, 4),
            },
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
        if r["status"] not in ("resolved", "closed") and r["priority"] in ("P1", "P2") and r["opened_at"]:
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
                        why={
                            "key": "urgent_case",
                            "customer_name": me.name,
                            "case": case.id,
                            "subject": r["subject"] or "",
                            "priority": r["priority"],
                            "days": age,
                        },
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
                    why={
                        "key": "service_contract",
                        "customer_name": me.name,
                        "product": product.id,
                        "product_name": product.name,
                        "cases": len(cases),
                        "as_of": as_of[:10],
                    },
                )
            )
    return sorted(actions, key=lambda x: (-x.score, x.id))


def for_customer(
    store: GraphStore, *, principal: Principal, customer_id: str, as_of: str, language: str = "en", limit: int = 5
) -> dict[str, Any] | None:
    """What to recommend for one customer, for this reader; None when there is no such customer.

    Everyone who may read the customer gets the articles about known issues of their products. Staff
    also get cross-sell products (their paths name other customers) and next-best actions; a
    customer reading their own record never does.
    """
    require_customer(principal, customer_id)
    if get_customer(store, customer_id) is None:
        return None
    out: dict[str, Any] = {
        "customer_id": customer_id,
        "articles": [r.to_dict() for r in next_best_articles(store, customer_id, language=language, limit=limit)],
    }
    if principal.is_staff:
        out["products"] = [r.to_dict() for r in cross_sell(store, customer_id, limit=limit)]
        out["actions"] = [r.to_dict() for r in next_best_actions(store, customer_id, as_of=as_of)][:limit]
    return out
