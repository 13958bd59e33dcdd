"""Demo KCS reuse: engineers linked the article they solved a case with to that case.

Written by the demo set-up (not by the generator, so the generated files stay as they are).
A resolved or closed case whose reported error code has an article resolving it is linked to
one of those articles (kind `reused`) in 60 % of cases, by the engineer who handled it, at the
case's close; which cases and which article come from a hash, so every run links the same.
Without it the demo had no article-to-case link at all: every article showed "reused 0", and
the reuse boost, content health's "never reused" and the articles' usage had nothing to show.
"""

from __future__ import annotations

import hashlib

from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label, Rel

SHARE = 0.6
RESOLVED_CASES = cypher(
    "demo.kcs_resolved_cases",
    "MATCH (k:ServiceCase)-[:REPORTED_ERROR]->(e:ErrorCode)<-[:RESOLVES]-(a:KnowledgeArticle) "
    "WHERE k.status IN ['resolved', 'closed'] AND k.id > $after "
    "OPTIONAL MATCH (k)-[:HANDLED_BY]->(w:Employee) "
    "RETURN k.id AS id, k.closed_at AS closed_at, collect(DISTINCT a.id) AS articles, "
    "collect(DISTINCT w.id) AS engineers ORDER BY id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)


def _draw(case_id: str, purpose: str) -> float:
    digest = hashlib.sha256(f"demo-kcs\x1f{case_id}\x1f{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def seed_kcs_reuse(store: GraphStore) -> int:
    """Link the demo's resolved cases to the articles their engineers reused (idempotent); returns the links."""
    total, after = 0, ""
    while rows := store.read(RESOLVED_CASES, after=after, limit=2000):
        links = []
        for row in rows:
            if _draw(row["id"], "linked") >= SHARE:
                continue
            articles = sorted(row["articles"])
            article = articles[int(_draw(row["id"], "article") * len(articles))]
            engineers = sorted(row["engineers"])  # collect() leaves out a case with no engineer's null
            links.append(
                {
                    "start": article,
                    "end": row["id"],
                    "kind": "reused",
                    "linked_by": engineers[0] if engineers else "demo",
                    "linked_at": row["closed_at"],
                }
            )
        store.upsert_relationships(
            Rel.LINKED_TO_CASE, links, start_label=Label.KnowledgeArticle, end_label=Label.ServiceCase
        )
        total += len(links)
        after = rows[-1]["id"]
    return total
