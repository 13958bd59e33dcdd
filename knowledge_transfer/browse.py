"""Browsing the knowledge base without a question: by product or topic, most read, newest.

What a reader may see is `kbcrm.access.scope`'s rule (`article_audiences`, `article_states`):
customers and visitors only validated customer/public articles. An article
and its translations are listed once, in the reader's language where that version is one the
reader may open; the others are named with it. Its counters are those of all those versions
together (a Chinese reader's view counts for the work, not only for the Chinese text).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from kbcrm.access.models import Principal
from kbcrm.access.scope import ARTICLE_STATES, article_audiences, article_states
from kbcrm.graph import GraphStore, cypher
from knowledge_transfer.text import summary

Sort = Literal["popular", "recent", "title"]
SORTS: tuple[Sort, ...] = ("popular", "recent", "title")

_VISIBLE = "a.audience IN $audiences AND a.confidence IN $states"
_ARTICLE = (
    "OPTIONAL MATCH (a)-[:TRANSLATION_OF]->(o:KnowledgeArticle) OPTIONAL MATCH (a)-[:LINKED_TO_CASE]->(k:ServiceCase) "
    "RETURN a.id AS id, a.title AS title, a.body AS body, a.language AS language, a.audience AS audience, "
    "a.confidence AS confidence, coalesce(o.id, a.id) AS work, a.view_count AS views, a.helpful_count AS helpful, "
    "a.not_helpful_count AS not_helpful, a.updated_at AS updated_at, count(DISTINCT k) AS reused"
)
_EXAMPLE = {"audiences": ["public"], "states": ["validated"]}
ALL_ARTICLES = cypher("browse.all", f"MATCH (a:KnowledgeArticle) WHERE {_VISIBLE} {_ARTICLE}", example=_EXAMPLE)
PRODUCT_ARTICLES = cypher(
    "browse.product",
    f"MATCH (n:Product {{id: $node}}) WITH n MATCH (a:KnowledgeArticle)-[:APPLIES_TO]->(n) WHERE {_VISIBLE} {_ARTICLE}",
    example={**_EXAMPLE, "node": "prod-1"},
)
TOPIC_ARTICLES = cypher(
    "browse.topic",
    f"MATCH (n:Topic {{id: $node}}) WITH n MATCH (a:KnowledgeArticle)-[:ON_TOPIC]->(n) WHERE {_VISIBLE} {_ARTICLE}",
    example={**_EXAMPLE, "node": "topic-1"},
)
# Products and topics with how many articles (an article and its translations once) the reader may see.
_WORK = "OPTIONAL MATCH (a)-[:TRANSLATION_OF]->(o:KnowledgeArticle) "
_SHELF = "n.id AS id, n.name AS name, n.name_zh AS name_zh, count(DISTINCT coalesce(o.id, a.id)) AS articles"
SHELVES = cypher(
    "browse.shelves",
    f"MATCH (a:KnowledgeArticle)-[:APPLIES_TO]->(n:Product) WHERE {_VISIBLE} {_WORK}"
    f"RETURN 'product' AS kind, n.category AS category, {_SHELF} "
    f"UNION MATCH (a:KnowledgeArticle)-[:ON_TOPIC]->(n:Topic) WHERE {_VISIBLE} {_WORK}"
    f"RETURN 'topic' AS kind, NULL AS category, {_SHELF}",
    example=_EXAMPLE,
)
SHELF = {
    label: cypher(
        f"browse.shelf_{label.lower()}",
        f"MATCH (n:{label} {{id: $node}}) RETURN n.id AS id, n.name AS name, n.name_zh AS name_zh",
        example={"node": "x-1"},
    )
    for label in ("Product", "Topic")
}


class BrowseError(ValueError):
    """A browse request that cannot be answered (both a product and a topic, an unknown sort)."""


class ShelfNotFound(LookupError):
    """No product or topic of that id."""


def reader_version(languages: dict[str, str | None], work: str, language: str) -> str:
    """Which version of a work to show: the reader's language, else the original (`work`), else the last id.

    `languages` maps each version the reader may open to its language (None: English).
    """
    return max(languages, key=lambda v: ((languages[v] or "en") == language, v == work, v))


def shelves(store: GraphStore, *, principal: Principal | None) -> dict[str, list[dict[str, Any]]]:
    """Products (by category) and topics that have articles this reader may see, with how many."""
    rows = store.read(SHELVES, audiences=article_audiences(principal), states=article_states(principal))
    fields = ("id", "name", "name_zh", "category", "articles")
    products = [{k: r[k] for k in fields} for r in rows if r["kind"] == "product"]
    topics = [{k: r[k] for k in ("id", "name", "name_zh", "articles")} for r in rows if r["kind"] == "topic"]
    products.sort(key=lambda p: (p["category"] or "", p["name"] or "", p["id"]))
    topics.sort(key=lambda t: (-t["articles"], t["name"] or "", t["id"]))
    return {"products": products, "topics": topics}


def articles(
    store: GraphStore,
    *,
    principal: Principal | None,
    product: str = "",
    topic: str = "",
    sort: Sort = "popular",
    state: str = "",
    language: str = "en",
    offset: int = 0,
    limit: int = 20,
) -> dict[str, Any]:
    """One page of the articles this reader may see, on a product or topic or all (ShelfNotFound: no such node).

    `popular`: most used first (views plus the cases it was linked to, KCS reuse; then helpful votes);
    `recent`: last updated first; `title`: A–Z. `state`: only articles in this KCS confidence state
    (staff reviewing drafts; a reader who may not see the state gets none).
    """
    if product and topic:
        raise BrowseError("topic: browse by a product or by a topic, not both")
    if sort not in SORTS:
        raise BrowseError(f"sort: must be one of {', '.join(SORTS)}, not {sort!r}")
    if state and state not in ARTICLE_STATES:
        raise BrowseError(f"state: must be one of {', '.join(ARTICLE_STATES)}, not {state!r}")
    states = [s for s in article_states(principal) if not state or s == state]
    seen: dict[str, Any] = {"audiences": article_audiences(principal), "states": states}
    shelf = None
    if product or topic:
        found = store.read(SHELF["Product" if product else "Topic"], node=product or topic)
        if not found:
            raise ShelfNotFound(f"product {product!r}" if product else f"topic {topic!r}")
        shelf = {**found[0], "kind": "product" if product else "topic"}
        rows = store.read(PRODUCT_ARTICLES if product else TOPIC_ARTICLES, node=product or topic, **seen)
    else:
        rows = store.read(ALL_ARTICLES, **seen)
    listed = _listed(rows, language)
    return {"shelf": shelf, "state": state or None, **_page(listed, sort, offset, limit)}


def front_page(
    store: GraphStore, *, principal: Principal | None, language: str = "en", limit: int = 5
) -> dict[str, Any]:
    """The home page without a question: the most used and the newest articles (one read), and the shelves."""
    seen: dict[str, Any] = {"audiences": article_audiences(principal), "states": article_states(principal)}
    listed = _listed(store.read(ALL_ARTICLES, **seen), language)
    return {
        "popular": {"shelf": None, "state": None, **_page(listed, "popular", 0, limit)},
        "recent": {"shelf": None, "state": None, **_page(listed, "recent", 0, limit)},
        "shelves": shelves(store, principal=principal),
    }


def _listed(rows: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """One entry per work (an article and its translations) from the article rows."""
    works: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        works[row["work"]].append(row)
    return [_one_per_work(work, versions, language) for work, versions in works.items()]


def _page(listed: list[dict[str, Any]], sort: Sort, offset: int, limit: int) -> dict[str, Any]:
    if sort == "popular":
        ordered = sorted(listed, key=lambda a: (-(a["views"] + a["reused"]), -a["helpful"], a["title"], a["id"]))
    elif sort == "recent":
        ordered = sorted(listed, key=lambda a: (a["updated_at"] or "", a["id"]), reverse=True)
    else:
        ordered = sorted(listed, key=lambda a: (a["title"].casefold(), a["id"]))
    return {
        "sort": sort,
        "total": len(ordered),
        "offset": offset,
        "limit": limit,
        "articles": ordered[offset : offset + limit],
    }


def _one_per_work(work: str, versions: list[dict[str, Any]], language: str) -> dict[str, Any]:
    """The version to list (the reader's language, else the original, else the first id), the others named."""
    by_id = {v["id"]: v for v in versions}
    chosen = by_id[reader_version({v["id"]: v["language"] for v in versions}, work, language)]
    counters = {k: sum(int(v[k] or 0) for v in versions) for k in ("views", "reused", "helpful", "not_helpful")}
    return {
        "id": chosen["id"],
        "title": chosen["title"],
        "summary": summary(chosen["body"]),
        "language": chosen["language"] or "en",
        "audience": chosen["audience"],
        "confidence": chosen["confidence"],
        "updated_at": max((v["updated_at"] or "" for v in versions), default="") or None,
        **counters,
        "translations": sorted(
            ({"id": v["id"], "title": v["title"], "language": v["language"]} for v in versions if v is not chosen),
            key=lambda v: (v["language"] or "", v["id"]),
        ),
    }
