"""What answer assist searches: knowledge articles and resolved service cases, read from the graph.

Every link kept here (article → product/symptom/error code, case → product/symptom/cause/
resolution, employee → article/case) is an edge that exists in the graph: explanations are
built from these and nothing else, so every node and edge they show resolves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kbcrm.graph import GraphStore, cypher
from knowledge_transfer.text import contains_chinese

PAGE = 5000

ARTICLES = cypher(
    "kt.articles_page",
    "MATCH (a:KnowledgeArticle) WHERE a.id > $after "
    "RETURN a.id AS id, a.title AS title, a.body AS body, a.audience AS audience, a.confidence AS confidence, "
    "a.language AS language, a.view_count AS views, a.helpful_count AS helpful, "
    "a.not_helpful_count AS not_helpful, a.customer_helpful_count AS customer_helpful, "
    "a.customer_not_helpful_count AS customer_not_helpful, a.staff_helpful_count AS staff_helpful, "
    "a.staff_not_helpful_count AS staff_not_helpful, a.updated_at AS updated_at, a.version AS version "
    "ORDER BY a.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)
ARTICLE_USAGE = cypher(
    "kt.article_usage",
    "MATCH (a:KnowledgeArticle {id: $id}) OPTIONAL MATCH (a)-[:LINKED_TO_CASE]->(k:ServiceCase) "
    "RETURN a.view_count AS views, a.helpful_count AS helpful, a.not_helpful_count AS not_helpful, "
    "a.customer_helpful_count AS customer_helpful, a.customer_not_helpful_count AS customer_not_helpful, "
    "a.staff_helpful_count AS staff_helpful, a.staff_not_helpful_count AS staff_not_helpful, count(k) AS reused",
    example={"id": "kb-1"},
)
FEEDBACK_AUDIENCES = ("customer", "staff")
# What changes when the searchable knowledge changes: articles added or removed, a new version (every edit, state
# change or re-ingested file writes one), a case resolved, a note added. Read by the server's knowledge watcher.
KNOWLEDGE_STATE = cypher(
    "kt.knowledge_state",
    "MATCH (a:KnowledgeArticle) "
    "WITH count(a) AS articles, sum(coalesce(a.version, 0)) AS versions, max(a.updated_at) AS updated "
    "OPTIONAL MATCH (c:ServiceCase)-[:RESOLVED_BY]->(:Resolution) "
    "WITH articles, versions, updated, count(c) AS resolved "
    "OPTIONAL MATCH (:ServiceCase)-[n:HAS_NOTE]->(:ServiceNote) "
    "RETURN articles, versions, updated, resolved, count(n) AS notes",
)


# The Chinese names of what evidence and article pages name: products, components, symptoms, topics.
NAMES_ZH = cypher(
    "kt.names_zh",
    "MATCH (n:Product) WHERE n.name_zh IS NOT NULL RETURN n.id AS id, n.name_zh AS name "
    "UNION MATCH (n:Component) WHERE n.name_zh IS NOT NULL RETURN n.id AS id, n.name_zh AS name "
    "UNION MATCH (n:Symptom) WHERE n.name_zh IS NOT NULL RETURN n.id AS id, n.name_zh AS name "
    "UNION MATCH (n:Topic) WHERE n.name_zh IS NOT NULL RETURN n.id AS id, n.name_zh AS name",
)


def names_zh(store: GraphStore) -> dict[str, str]:
    """Node id → Chinese name, for the catalogue nodes that have one (NAMES_ZH)."""
    return {row["id"]: row["name"] for row in store.read(NAMES_ZH) if row["name"]}


def knowledge_fingerprint(store: GraphStore) -> tuple[Any, ...]:
    """A value that changes whenever what answer assist searches changes (see KNOWLEDGE_STATE)."""
    row = store.read(KNOWLEDGE_STATE)[0]
    return (row["articles"], row["versions"], row["updated"], row["resolved"], row["notes"])


ARTICLE_LINKS = cypher(
    "kt.article_links_page",
    "MATCH (a:KnowledgeArticle)-[r:APPLIES_TO|RESOLVES]->(n) WHERE a.id IN $ids "
    "RETURN a.id AS doc, type(r) AS rel, n.id AS node, labels(n)[0] AS label, "
    "coalesce(n.name, n.code, n.id) AS name",
    example={"ids": ["x"]},
)
ARTICLE_PEOPLE = cypher(
    "kt.article_people",
    "MATCH (e:Employee)-[r:AUTHORED|VALIDATED]->(a:KnowledgeArticle) WHERE a.id IN $ids "
    "RETURN a.id AS doc, type(r) AS rel, e.id AS person, e.name AS name",
    example={"ids": ["x"]},
)
ARTICLE_TRANSLATIONS = cypher(
    "kt.article_translations",
    "MATCH (a:KnowledgeArticle)-[:TRANSLATION_OF]->(o:KnowledgeArticle) WHERE a.id IN $ids "
    "RETURN a.id AS doc, o.id AS original",
    example={"ids": ["x"]},
)
ARTICLE_REUSE = cypher(
    "kt.article_reuse",
    "MATCH (a:KnowledgeArticle)-[r:LINKED_TO_CASE]->(c:ServiceCase) WHERE a.id IN $ids "
    "RETURN a.id AS doc, count(c) AS reused",
    example={"ids": ["x"]},
)
RESOLVED_CASES = cypher(
    "kt.resolved_cases_page",
    "MATCH (c:ServiceCase)-[:RESOLVED_BY]->(r:Resolution) WHERE c.id > $after "
    "RETURN c.id AS id, c.subject AS subject, c.closed_at AS closed_at, r.id AS resolution_id, "
    "r.text AS resolution ORDER BY c.id LIMIT $limit",
    example={"after": "", "limit": 10},
    ordered=True,
)
CASE_LINKS = cypher(
    "kt.case_links",
    "MATCH (c:ServiceCase)-[r:ABOUT_PRODUCT|HAS_SYMPTOM|REPORTED_ERROR|HAS_CAUSE]->(n) "
    "WHERE c.id IN $ids "
    "RETURN c.id AS doc, type(r) AS rel, n.id AS node, labels(n)[0] AS label, "
    "coalesce(n.name, n.code, n.text, n.id) AS name",
    example={"ids": ["x"]},
)
CASE_NOTES = cypher(
    "kt.case_notes",
    "MATCH (c:ServiceCase)-[:HAS_NOTE]->(n:ServiceNote) WHERE c.id IN $ids "
    "RETURN c.id AS doc, n.text AS text, n.written_at AS written_at ORDER BY c.id, n.written_at",
    example={"ids": ["x"]},
    ordered=True,
)
CASE_PEOPLE = cypher(
    "kt.case_people",
    "MATCH (c:ServiceCase)-[:HANDLED_BY]->(e:Employee) WHERE c.id IN $ids "
    "RETURN c.id AS doc, 'HANDLED_BY' AS rel, e.id AS person, e.name AS name",
    example={"ids": ["x"]},
)


@dataclass(frozen=True)
class Link:
    """An edge from the document's node to a catalogue node, as stored in the graph."""

    rel: str
    node: str
    label: str
    name: str


@dataclass
class KnowledgeDoc:
    """One searchable item: a knowledge article or a resolved service case."""

    kind: str  # "article" | "case"
    id: str
    title: str
    text: str
    audience: str  # articles: internal | customer | public; cases are always internal
    confidence: str | None
    language: str
    updated_at: str | None = None
    version: int | None = None
    views: int = 0
    helpful: int = 0
    not_helpful: int = 0
    reused: int = 0
    # (helpful, not helpful) votes by audience ("customer" = portal readers, "staff" = employees); the
    # totals may hold older votes no audience was recorded for.
    feedback: dict[str, tuple[int, int]] = field(default_factory=dict)
    resolution_id: str | None = None
    links: list[Link] = field(default_factory=list)
    people: list[tuple[str, str, str]] = field(default_factory=list)  # (rel, employee id, name)
    translation_of: str | None = None  # the original's id when this article is a translation (TRANSLATION_OF)

    def set_usage(self, row: dict[str, Any]) -> None:
        """Views, votes (total and per audience) and, when the row has it, reuse count from a query row."""
        self.views = int(row["views"] or 0)
        self.helpful = int(row["helpful"] or 0)
        self.not_helpful = int(row["not_helpful"] or 0)
        self.feedback = {
            audience: (int(row[f"{audience}_helpful"] or 0), int(row[f"{audience}_not_helpful"] or 0))
            for audience in FEEDBACK_AUDIENCES
        }
        if "reused" in row:
            self.reused = int(row["reused"] or 0)

    @property
    def label(self) -> str:
        """The document node's graph label."""
        return "KnowledgeArticle" if self.kind == "article" else "ServiceCase"

    @property
    def work(self) -> str:
        """The work this document is a version of: the original article's id, the same for all its translations."""
        return f"{self.kind}:{self.translation_of or self.id}"

    @property
    def search_text(self) -> str:
        """What the retrievers index."""
        return f"{self.title}\n{self.text}"


def _pages(store: GraphStore, query: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(id the page starts after, rows) for every page of an id-ordered query."""
    after = ""
    while rows := store.read(query, after=after, limit=PAGE):
        yield after, rows
        after = rows[-1]["id"]


def _attach(store: GraphStore, docs: dict[str, KnowledgeDoc], *queries: Any) -> None:
    # `id IN $ids`, not an id range: FalkorDB's index scan ignores an upper bound on a string property.
    for query in queries:
        for row in store.read(query, ids=list(docs)):
            doc = docs.get(row["doc"])
            if doc is None:
                continue
            if "node" in row:
                doc.links.append(Link(row["rel"], row["node"], row["label"], str(row["name"])))
            elif "person" in row:
                doc.people.append((row["rel"], row["person"], row["name"] or row["person"]))
            elif "reused" in row:
                doc.reused = int(row["reused"])
            elif "original" in row:
                doc.translation_of = row["original"]
            elif row.get("text"):
                doc.text = f"{doc.text}\n{row['text']}".strip()


def load_documents(store: GraphStore) -> list[KnowledgeDoc]:
    """Every knowledge article and every resolved case, with the links the explanations use."""
    out: list[KnowledgeDoc] = []
    for _after, rows in _pages(store, ARTICLES):
        docs: dict[str, KnowledgeDoc] = {}
        for r in rows:
            doc = docs[r["id"]] = KnowledgeDoc(
                kind="article",
                id=r["id"],
                title=r["title"] or r["id"],
                text=r["body"] or "",
                audience=r["audience"] or "internal",
                confidence=r["confidence"],
                language=r["language"] or "en",
                updated_at=r["updated_at"],
                version=r["version"],
            )
            doc.set_usage(r)
        _attach(store, docs, ARTICLE_LINKS, ARTICLE_PEOPLE, ARTICLE_REUSE, ARTICLE_TRANSLATIONS)
        out.extend(docs.values())
    for _after, rows in _pages(store, RESOLVED_CASES):
        cases: dict[str, KnowledgeDoc] = {}
        for r in rows:
            cases[r["id"]] = KnowledgeDoc(
                kind="case",
                id=r["id"],
                title=r["subject"] or r["id"],
                text="",
                audience="internal",
                confidence=None,
                language="en",
                updated_at=r["closed_at"],
                resolution_id=r["resolution_id"],
            )
            cases[r["id"]].links.append(Link("RESOLVED_BY", r["resolution_id"], "Resolution", r["resolution"] or ""))
        _attach(store, cases, CASE_LINKS, CASE_NOTES, CASE_PEOPLE)
        for case in cases.values():
            if contains_chinese(case.title + case.text):
                case.language = "zh"
        out.extend(cases.values())
    return out
