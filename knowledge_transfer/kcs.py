"""The KCS loop (Knowledge-Centered Service): states, versions, case links, drafts, usage, content health.

- Confidence states follow KCS v6: work-in-progress → not-validated → validated → archived,
  with the way back for revisions (validated → not-validated) and restores (archived →
  not-validated). Any other move is refused with the allowed ones named.
- Every change (edit or state) writes the new content as the next `ArticleVersion` (who,
  when, what; kbcrm.domain.article_versions, shared with article ingest); the article's
  `version` counts up, and the history's last entry is the article as it reads now.
- An article links to a case with a kind: reused (it solved the case), created (written
  from the case) or modified (improved while solving it).
- `draft_from_case` writes a work-in-progress, internal article from a resolved case:
  issue (the customer-visible notes, in the customer's words, and the error codes the case
  reported), environment (product), cause and resolution; internal notes are never copied
  into it. Its links come from its text as an ingested article's do (ingest.articles): the
  symptoms and codes of its issue become `RESOLVES`, so once validated it is found and
  recommended through the graph like any other article. An edit of the title or body
  derives them again: a symptom the text no longer names is unlinked.
- Usage (views, helpful / not helpful) is counted per audience (customer, staff) and in
  total; each answer audience ranks by its own votes first (knowledge_transfer.answers).
- Content health: articles never reused or viewed, stale, low-rated, and near-duplicate
  pairs — cosine of the embeddings, within one language (each language's vectors come from
  the model that reads it), compared block by block so memory stays block × n.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.articles import article_text, has_issue_section, relink_article
from kbcrm.access.scope import ARTICLE_AUDIENCES
from kbcrm.domain.article_versions import version_node, write_versions
from kbcrm.graph import Cypher, GraphStore, cypher
from kbcrm.graph.store import utc_now
from knowledge_transfer.answers.corpus import FEEDBACK_AUDIENCES
from ontology.terms import Label, Rel

if TYPE_CHECKING:
    from ingest.notes import NoteLinker
    from knowledge_transfer.answers.service import KnowledgeBase

STATES = ("work-in-progress", "not-validated", "validated", "archived")
TRANSITIONS: dict[str, frozenset[str]] = {
    "work-in-progress": frozenset({"not-validated", "validated", "archived"}),
    "not-validated": frozenset({"work-in-progress", "validated", "archived"}),
    "validated": frozenset({"not-validated", "archived"}),
    "archived": frozenset({"not-validated"}),
}
LINK_KINDS = ("reused", "created", "modified")
TITLE_MAX_LENGTH, BODY_MAX_LENGTH = 300, 100_000  # what the API and the console's forms accept
LANGUAGES = ("en", "zh")  # an article's language: the ones the linker and the answer models read
# The KCS article structure, the Issue first: a draft from a case fills it; a new article starts from it.
SECTIONS = ("Issue", "Environment", "Cause", "Resolution")
NEW_ARTICLE_BODY = "\n\n\n".join(f"## {name}" for name in SECTIONS) + "\n"

ARTICLE = cypher(
    "kcs.article",
    "MATCH (a:KnowledgeArticle {id: $id}) RETURN a.id AS id, a.title AS title, a.body AS body, "
    "a.audience AS audience, a.language AS language, a.confidence AS confidence, a.version AS version, "
    "a.view_count AS views, a.helpful_count AS helpful, a.not_helpful_count AS not_helpful",
    example={"id": "kb-1"},
)
HISTORY = cypher(
    "kcs.history",
    "MATCH (a:KnowledgeArticle {id: $id})-[:HAS_VERSION]->(v:ArticleVersion) "
    "RETURN v.id AS id, v.version AS version, v.title AS title, v.body AS body, v.confidence AS confidence, "
    "v.audience AS audience, v.edited_by AS edited_by, v.created_at AS created_at ORDER BY v.version",
    example={"id": "kb-1"},
    ordered=True,
)
CASE_FOR_DRAFT = cypher(
    "kcs.case_for_draft",
    "MATCH (k:ServiceCase {id: $id}) OPTIONAL MATCH (k)-[:ABOUT_PRODUCT]->(p:Product) "
    "OPTIONAL MATCH (k)-[:RESOLVED_BY]->(r:Resolution) OPTIONAL MATCH (k)-[:HAS_CAUSE]->(c:Cause) "
    "RETURN k.id AS id, k.subject AS subject, k.status AS status, p.id AS product, p.name AS product_name, "
    "r.text AS resolution, c.text AS cause",
    example={"id": "C-1"},
)
CASE_NOTES = cypher(
    "kcs.case_notes",
    "MATCH (k:ServiceCase {id: $id})-[:HAS_NOTE]->(n:ServiceNote) "
    "RETURN n.id AS id, n.text AS text, n.visibility AS visibility, n.language AS language "
    "ORDER BY n.written_at, n.id",
    example={"id": "C-1"},
    ordered=True,
)
CASE_CODES = cypher(
    "kcs.case_codes",
    "MATCH (k:ServiceCase {id: $id})-[:REPORTED_ERROR]->(e:ErrorCode) RETURN e.id AS id, e.code AS code ORDER BY id",
    example={"id": "C-1"},
    ordered=True,
)
CASE_LINKS_OF = cypher(
    "kcs.article_cases",
    "MATCH (a:KnowledgeArticle {id: $id})-[r:LINKED_TO_CASE]->(k:ServiceCase) "
    "RETURN k.id AS case, r.kind AS kind, r.linked_by AS linked_by, r.linked_at AS linked_at ORDER BY case",
    example={"id": "kb-1"},
    ordered=True,
)
# What an article links to, and whether its text gave the link (derived again on an edit) or a source declared it.
ARTICLE_LINKS = cypher(
    "kcs.article_links",
    "MATCH (a:KnowledgeArticle {id: $id})-[r:APPLIES_TO|RESOLVES|ON_TOPIC|TRANSLATION_OF]->(n) "
    "RETURN type(r) AS rel, n.id AS id, labels(n)[0] AS label, coalesce(n.name, n.code, n.title, n.id) AS name, "
    "coalesce(r.from_text, false) AS from_text ORDER BY rel, id",
    example={"id": "kb-1"},
    ordered=True,
)
KNOWN_PRODUCTS = cypher(
    "kcs.known_products",
    "MATCH (p:Product) WHERE p.id IN $ids RETURN p.id AS id",
    example={"ids": ["prod-1"]},
)
# The catalogue's products an article may apply to (the new-article form lists them).
PRODUCTS = cypher(
    "kcs.products",
    "MATCH (p:Product) RETURN p.id AS id, p.name AS name, p.name_zh AS name_zh, p.category AS category ORDER BY name",
    ordered=True,
)
MENTIONS_OF = cypher(
    "kcs.mentions_of",
    "MATCH (a:KnowledgeArticle {id: $id})-[m:MENTIONS]->(n) RETURN m.start_char AS start, m.end_char AS end, "
    "m.matched_text AS text, n.id AS id, labels(n)[0] AS label ORDER BY start",
    example={"id": "kb-1"},
    ordered=True,
)
PEOPLE = cypher(
    "kcs.people",
    "MATCH (e:Employee) WHERE e.id IN $ids RETURN e.id AS id, e.name AS name",
    example={"ids": ["emp-1"]},
)
SET_STATE = cypher(
    "kcs.set_state",
    "MATCH (a:KnowledgeArticle {id: $id}) SET a.confidence = $state, a.updated_at = $now RETURN a.id AS id",
    example={"id": "kb-1", "state": "validated", "now": "2026-01-01T00:00:00Z"},
)
HEALTH = cypher(
    "kcs.health",
    "MATCH (a:KnowledgeArticle) OPTIONAL MATCH (a)-[:LINKED_TO_CASE]->(k:ServiceCase) WITH a, count(k) AS reused "
    "OPTIONAL MATCH (a)-[:RESOLVES]->(s) WITH a, reused, count(s) AS resolves "
    "RETURN a.id AS id, a.title AS title, a.confidence AS confidence, a.updated_at AS updated_at, "
    "a.view_count AS views, a.helpful_count AS helpful, a.not_helpful_count AS not_helpful, reused, resolves, "
    # the text only where it is read: an article that resolves nothing (is there an Issue section?)
    "CASE WHEN resolves = 0 THEN a.body END AS body ORDER BY id",
    ordered=True,
)


class KcsError(ValueError):
    """A KCS action that is not allowed (unknown article, forbidden state change…)."""


def _article(store: GraphStore, article_id: str) -> dict[str, Any]:
    rows = store.read(ARTICLE, id=article_id)
    if not rows:
        raise KcsError(f"article {article_id!r} not found")
    return rows[0]


def _new_version(store: GraphStore, article: dict[str, Any], changes: dict[str, Any], *, by: str) -> int:
    """Write the changed article as its next version (who, when, what it now says); returns the number."""
    version = int(article["version"] or 1) + 1
    write_versions(store, [version_node(article["id"], version, {**article, **changes}, by=by)])
    return version


def set_confidence(store: GraphStore, article_id: str, state: str, *, by: str) -> dict[str, Any]:
    """Move an article to another confidence state (KCS); validating records who validated it and when."""
    if state not in STATES:
        raise KcsError(f"confidence state must be one of {', '.join(STATES)}, not {state!r}")
    article = _article(store, article_id)
    current = article["confidence"] or "work-in-progress"
    if state == current:
        return article
    if state not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise KcsError(f"article {article_id}: cannot go from {current} to {state} (allowed: {allowed})")
    version = _new_version(store, article, {"confidence": state}, by=by)
    store.upsert_nodes(Label.KnowledgeArticle, [{"id": article_id, "confidence": state, "version": version}])
    if state == "validated":
        store.upsert_relationships(
            Rel.VALIDATED,
            [{"start": by, "end": article_id, "validated_at": utc_now()}],
            start_label=Label.Employee,
            end_label=Label.KnowledgeArticle,
        )
    return _article(store, article_id)


def edit_article(
    store: GraphStore,
    article_id: str,
    *,
    by: str,
    title: str | None = None,
    body: str | None = None,
    audience: str | None = None,
    linker: NoteLinker | None = None,
) -> dict[str, Any]:
    """Change an article's content; the new content becomes the next version (who, when).

    A changed title or body derives the article's text links again (`linker`, or one built from the graph).
    Returns the article as it now reads, with `changed`: the fields this edit changed (none: no new version).
    """
    article = _article(store, article_id)
    if audience is not None and audience not in ARTICLE_AUDIENCES:
        raise KcsError(f"audience must be internal, customer or public, not {audience!r}")
    given = {"title": title, "body": body, "audience": audience}
    given |= {name: _text(name, value) for name, value in (("title", title), ("body", body)) if value is not None}
    changes = {k: v for k, v in given.items() if v is not None and v != article[k]}
    if not changes:
        return {**article, "changed": []}
    version = _new_version(store, article, changes, by=by)
    content = {**article, **changes}
    digest = hashlib.sha256(f"{content['title']}\n{content['body']}\n{content['audience']}".encode()).hexdigest()
    store.upsert_nodes(
        Label.KnowledgeArticle, [{"id": article_id, **changes, "version": version, "content_hash": digest}]
    )
    if "title" in changes or "body" in changes:
        relink_article(
            store,
            article_id,
            title=content["title"],
            body=content["body"],
            language=content["language"] or "en",
            linker=linker,
        )
    return {**_article(store, article_id), "changed": sorted(changes)}


def _text(name: str, value: str) -> str:
    """An article's title or text as stored: line ends as LF, no surrounding blanks; KcsError when empty."""
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise KcsError(f"{name}: must not be empty")
    return value


def history(store: GraphStore, article_id: str) -> list[dict[str, Any]]:
    """Every version of an article, oldest first, the current one last (who made it, when, what it said)."""
    _article(store, article_id)
    return store.read(HISTORY, id=article_id)


def next_states(state: str | None) -> list[str]:
    """The confidence states an article in `state` may move to, in KCS order."""
    return [s for s in STATES if s in TRANSITIONS[state or "work-in-progress"]]


def workbench(store: GraphStore, article_id: str) -> dict[str, Any]:
    """What a knowledge worker needs to revise an article.

    Its content and state, the states it may move to, its links (found in its text or declared),
    its text as the linker read it (`marked_text`), the cases it is linked to, every version
    (oldest first) and the names of the people these name.
    """
    article = _article(store, article_id)
    cases, versions = case_links(store, article_id), store.read(HISTORY, id=article_id)
    links, mentions = store.read(ARTICLE_LINKS, id=article_id), store.read(MENTIONS_OF, id=article_id)
    resolved = {link["id"] for link in links if link["rel"] == Rel.RESOLVES}
    ids = sorted({c["linked_by"] for c in cases} | {v["edited_by"] for v in versions} - {None})
    return {
        "article": article,
        "next_states": next_states(article["confidence"]),
        "links": links,
        "marked": marked_text(article["title"] or "", article["body"] or "", mentions, resolved),
        "cases": cases,
        "history": versions,
        # who linked and who edited, by name (a login without an employee record keeps its id)
        "people": {r["id"]: r["name"] for r in store.read(PEOPLE, ids=ids) if r["name"]},
    }


def marked_text(title: str, body: str, mentions: list[dict[str, Any]], resolved: set[str]) -> list[dict[str, Any]]:
    """The article's text (title, blank line, body) in segments, each `MENTIONS` span marked.

    A marked segment has the node's `id` and `label`, and `resolves` when the article resolves that
    node. The graph keeps one `MENTIONS` edge per node, so a node named twice is marked once. A
    mention whose offsets no longer match the text (links derived from an older text) is left out.
    """
    text = article_text(title, body)
    segments: list[dict[str, Any]] = []
    at = 0
    for m in mentions:
        start, end = int(m["start"] or 0), int(m["end"] or 0)
        if start < at or text[start:end] != m["text"] or not m["text"]:
            continue
        if start > at:
            segments.append({"text": text[at:start]})
        segments.append({"text": m["text"], "id": m["id"], "label": m["label"], "resolves": m["id"] in resolved})
        at = end
    if at < len(text):
        segments.append({"text": text[at:]})
    return segments


def link_article_to_case(store: GraphStore, article_id: str, case_id: str, *, kind: str, by: str) -> None:
    """Record that an article was reused on, created from or modified while solving a case."""
    if kind not in LINK_KINDS:
        raise KcsError(f"link kind must be one of {', '.join(LINK_KINDS)}, not {kind!r}")
    _article(store, article_id)
    if store.get_node(Label.ServiceCase, case_id) is None:
        raise KcsError(f"case {case_id!r} not found")
    store.upsert_relationships(
        Rel.LINKED_TO_CASE,
        [{"start": article_id, "end": case_id, "kind": kind, "linked_by": by, "linked_at": utc_now()}],
        start_label=Label.KnowledgeArticle,
        end_label=Label.ServiceCase,
    )


def case_links(store: GraphStore, article_id: str) -> list[dict[str, Any]]:
    """The cases an article is linked to, with kind and who linked it."""
    return store.read(CASE_LINKS_OF, id=article_id)


# A view counted only when the reader may see the article, returning its counters and what identifies its content.
VIEW_IF_VISIBLE = {
    audience: cypher(
        f"kcs.view_if_visible_{audience}",
        "MATCH (a:KnowledgeArticle {id: $id}) WHERE a.audience IN $audiences AND a.confidence IN $states "
        f"SET a.view_count = coalesce(a.view_count, 0) + 1, "
        f"a.{audience}_view_count = coalesce(a.{audience}_view_count, 0) + 1 "
        "RETURN a.version AS version, a.updated_at AS updated_at, a.view_count AS views, "
        "a.helpful_count AS helpful, a.not_helpful_count AS not_helpful",
        example={"id": "KA-1", "audiences": ["public"], "states": ["validated"]},
    )
    for audience in FEEDBACK_AUDIENCES
}


def count_view_if_visible(
    store: GraphStore, article_id: str, *, audience: str, audiences: list[str], states: list[str]
) -> dict[str, Any] | None:
    """Count a view by `audience` when the article exists with one of `audiences` and `states`.

    Returns its counters (views, helpful, not_helpful) with its version and updated_at, or None
    (nothing counted) when it is missing or not visible so.
    """
    rows = store.run(_view_statement(audience), id=article_id, audiences=audiences, states=states)
    return _view_counters(rows)


async def count_view_if_visible_async(
    store: GraphStore, article_id: str, *, audience: str, audiences: list[str], states: list[str]
) -> dict[str, Any] | None:
    """count_view_if_visible from an event loop (GraphStore.run_async: no worker thread on FalkorDB)."""
    rows = await store.run_async(_view_statement(audience), id=article_id, audiences=audiences, states=states)
    return _view_counters(rows)


def _view_statement(audience: str) -> Cypher:
    if audience not in FEEDBACK_AUDIENCES:
        raise KcsError(f"audience must be one of {', '.join(FEEDBACK_AUDIENCES)}, not {audience!r}")
    return VIEW_IF_VISIBLE[audience]


def _view_counters(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    row = rows[0]
    return {**row, **{k: int(row[k] or 0) for k in ("views", "helpful", "not_helpful")}}


def record_usage(store: GraphStore, article_id: str, *, audience: str, event: str) -> dict[str, int]:
    """Count a helpful or a not-helpful vote by an audience; returns the article's new totals.

    Views are counted by count_view_if_visible (the article read checks the reader in the same statement).
    """
    if audience not in FEEDBACK_AUDIENCES:
        raise KcsError(f"audience must be one of {', '.join(FEEDBACK_AUDIENCES)}, not {audience!r}")
    if event not in ("helpful", "not_helpful"):
        raise KcsError(f"event must be helpful or not_helpful, not {event!r}")
    total, per_audience = f"{event}_count", f"{audience}_{event}_count"
    # Both names come from the fixed tuples above, never from input. One statement counts and reads back.
    result = store.execute(
        f"MATCH (a:KnowledgeArticle {{id: $id}}) "
        f"SET a.{total} = coalesce(a.{total}, 0) + 1, a.{per_audience} = coalesce(a.{per_audience}, 0) + 1 "
        "WITH a OPTIONAL MATCH (a)-[:LINKED_TO_CASE]->(k:ServiceCase) "
        "RETURN a.view_count AS views, a.helpful_count AS helpful, a.not_helpful_count AS not_helpful, "
        "count(k) AS reused",
        {"id": article_id},
    )
    if not result.rows:
        raise KcsError(f"article {article_id!r} not found")
    row = result.rows[0]
    return {k: int(row[k] or 0) for k in ("views", "helpful", "not_helpful", "reused")}


@dataclass
class Draft:
    """What draft_from_case wrote."""

    article_id: str
    title: str
    body: str
    sections: dict[str, str] = field(default_factory=dict)


# A draft's headings and fixed words in the language of the case's notes (a Chinese case drafts a Chinese
# article; its 问题 section is the issue, ingest.articles.ISSUE_HEADINGS).
DRAFT_WORDS = {
    "en": {
        "Issue": "Issue",
        "Environment": "Environment",
        "Cause": "Cause",
        "Resolution": "Resolution",
        "error": "Error %s",
        "not_stated": "not stated",
        "stop": ".",
        "title": "%(subject)s (draft from %(case)s)",
    },
    "zh": {
        "Issue": "问题",
        "Environment": "环境",
        "Cause": "原因",
        "Resolution": "解决方法",
        "error": "故障码 %s",
        "not_stated": "未说明",
        "stop": "。",
        "title": "%(subject)s（由工单 %(case)s 起草）",
    },
}


def draft_from_case(store: GraphStore, case_id: str, *, by: str, linker: NoteLinker | None = None) -> Draft:
    """A work-in-progress, internal article from a resolved case, linked to it (kind 'created').

    Its text links are derived as an ingested article's (`linker`, or one built from the graph).
    """
    rows = store.read(CASE_FOR_DRAFT, id=case_id)
    if not rows:
        raise KcsError(f"case {case_id!r} not found")
    case = rows[0]
    if not case["resolution"]:
        raise KcsError(f"case {case_id} has no resolution yet: resolve it (a note stating cause and fix) first")
    notes = store.read(CASE_NOTES, id=case_id)
    customer_words = [n["text"] for n in notes if n["visibility"] == "customer" and n["text"] != _outcome_note(case, n)]
    codes = [r["code"] for r in store.read(CASE_CODES, id=case_id)]
    language = next((n["language"] for n in notes if n["language"]), "en")
    words = DRAFT_WORDS["zh" if language == "zh" else "en"]
    issue = [f"> {text}" for text in customer_words] or [case["subject"] or ""]
    sections = {
        "Issue": "\n".join([*issue, *(words["error"] % c for c in codes)]),
        "Environment": case["product_name"] or "",
        "Cause": _sentence(case["cause"] or words["not_stated"], words["stop"]),
        "Resolution": _sentence(case["resolution"], words["stop"]),
    }
    title = words["title"] % {"subject": case["subject"] or case_id, "case": case_id}
    body = "\n\n".join(f"## {words[name]}\n{text}" for name, text in sections.items())
    article_id = f"kb-draft-{case_id.lower()}"
    content = {
        "title": title,
        "body": body,
        "audience": "internal",
        "language": language,
        "confidence": "work-in-progress",
    }
    _write_new_article(
        store, article_id, content, by=by, products=[case["product"]] if case["product"] else [], linker=linker
    )
    link_article_to_case(store, article_id, case_id, kind="created", by=by)
    return Draft(article_id=article_id, title=title, body=body, sections=sections)


def create_article(
    store: GraphStore,
    *,
    by: str,
    title: str,
    body: str,
    audience: str,
    language: str,
    products: Sequence[str] = (),
    linker: NoteLinker | None = None,
) -> dict[str, Any]:
    """A new work-in-progress article written in the console by `by` (its author).

    It applies to `products` (declared) and links to what its text names, as an ingested article
    does (`linker`, or one built from the graph). KcsError names the field for bad input.
    """
    title, body = _text("title", title), _text("body", body)
    if audience not in ARTICLE_AUDIENCES:
        raise KcsError(f"audience: must be one of {', '.join(ARTICLE_AUDIENCES)}, not {audience!r}")
    if language not in LANGUAGES:
        raise KcsError(f"language: must be one of {', '.join(LANGUAGES)}, not {language!r}")
    unknown = sorted(set(products) - {r["id"] for r in store.read(KNOWN_PRODUCTS, ids=sorted(set(products)))})
    if unknown:
        raise KcsError(f"products: no product {', '.join(unknown)} in the graph")
    article_id = f"kb-{uuid.uuid4().hex[:10]}"
    content = {"title": title, "body": body, "audience": audience, "language": language}
    content["confidence"] = "work-in-progress"
    _write_new_article(store, article_id, content, by=by, products=sorted(set(products)), linker=linker)
    return _article(store, article_id)


def _write_new_article(
    store: GraphStore,
    article_id: str,
    content: dict[str, Any],
    *,
    by: str,
    products: Sequence[str],
    linker: NoteLinker | None,
) -> None:
    """Version 1 of an article written in the console.

    The node, its author, the products it declares, the version and the links its text gives it.
    """
    store.upsert_nodes(Label.KnowledgeArticle, [{"id": article_id, **content, "version": 1}])
    store.upsert_relationships(
        Rel.AUTHORED, [{"start": by, "end": article_id}], start_label=Label.Employee, end_label=Label.KnowledgeArticle
    )
    store.upsert_relationships(
        Rel.APPLIES_TO,
        [{"start": article_id, "end": product} for product in products],
        start_label=Label.KnowledgeArticle,
        end_label=Label.Product,
    )
    write_versions(store, [version_node(article_id, 1, content, by=by)])
    relink_article(
        store, article_id, title=content["title"], body=content["body"], language=content["language"], linker=linker
    )


def _sentence(text: str, stop: str) -> str:
    """The text ending as a sentence: as it is when it already ends with a stop (either script's), else with `stop`."""
    text = text.strip()
    return text if text.endswith((".", "。", "!", "！", "?", "？")) else text + stop


def _outcome_note(case: dict[str, Any], note: dict[str, Any]) -> str | None:
    """The note that states the resolution (it goes to Cause/Resolution, not to Issue)."""
    text = note["text"] or ""
    return text if case["resolution"] and case["resolution"] in text else None


def near_duplicates(
    vectors: np.ndarray, ids: Sequence[str], *, threshold: float, block: int = 512
) -> list[dict[str, Any]]:
    """Pairs of unit vectors with cosine >= threshold, most similar first.

    Exact (every pair is compared, in BLAS), one block of rows against the rows after it at
    a time, so memory is block × n floats rather than n × n.
    """
    found: list[tuple[float, int, int]] = []
    for start in range(0, len(ids), block):
        similarity = vectors[start : start + block] @ vectors[start:].T
        for r, c in zip(*np.nonzero(similarity >= threshold), strict=True):
            if c > r:  # the block's own rows: each pair once, no self-pairs
                found.append((float(similarity[r, c]), start + int(r), start + int(c)))
    found.sort(key=lambda t: (-t[0], t[1], t[2]))
    return [{"ids": [ids[i], ids[j]], "cosine": round(cosine, 4)} for cosine, i, j in found]


def article_duplicates(kb: KnowledgeBase, *, threshold: float = 0.95) -> list[dict[str, Any]]:
    """Near-duplicate pairs among the knowledge base's articles that are not archived, language by language.

    English articles are compared on the English model's vectors, Chinese ones on the
    multilingual model's (the English model scores unrelated Chinese texts alike); a
    translation is not a duplicate, so languages are not compared with each other.
    """
    pairs: list[dict[str, Any]] = []
    live = kb.is_article & np.array([d.confidence != "archived" for d in kb.docs], dtype=bool)
    for chinese in (False, True):
        rows = np.flatnonzero(live & (kb.is_chinese == chinese))
        matrix = kb.multilingual_vectors if chinese and kb.multilingual_vectors is not None else kb.index.vectors
        if rows.size > 1:
            pairs += near_duplicates(matrix[rows], [kb.docs[i].id for i in rows], threshold=threshold)
    return sorted(pairs, key=lambda p: -p["cosine"])


def content_health(
    store: GraphStore,
    *,
    as_of: str,
    stale_days: int = 365,
    low_rating: float = 0.4,
    min_votes: int = 3,
    duplicates: list[dict[str, Any]] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Articles needing attention: never reused, stale, low-rated; `duplicates` from article_duplicates.

    `unlinked_issue`: articles with an Issue section that resolve nothing in the graph — the issue
    names no symptom or error code the catalogue knows, so no customer's case or product leads to
    them (name the symptom, or teach the catalogue the customers' word).
    """
    from datetime import datetime

    rows = store.read(HEALTH)
    cutoff = datetime.fromisoformat(as_of.replace("Z", "+00:00")).replace(tzinfo=None)
    report: dict[str, list[dict[str, Any]]] = {
        "never_reused": [],
        "stale": [],
        "low_rated": [],
        "unlinked_issue": [],
        "duplicates": [],
    }
    titles = {}
    for r in rows:
        titles[r["id"]] = r["title"]
        if r["confidence"] == "archived":
            continue
        if not r["reused"] and not r["views"]:
            report["never_reused"].append({"id": r["id"], "title": r["title"]})
        if r["updated_at"]:
            age = (cutoff - datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")).replace(tzinfo=None)).days
            if age > stale_days:
                report["stale"].append({"id": r["id"], "title": r["title"], "days_since_update": age})
        if not r["resolves"] and has_issue_section(r["body"] or ""):
            report["unlinked_issue"].append({"id": r["id"], "title": r["title"]})
        votes = int(r["helpful"] or 0) + int(r["not_helpful"] or 0)
        if votes >= min_votes and int(r["helpful"] or 0) / votes < low_rating:
            report["low_rated"].append(
                {"id": r["id"], "title": r["title"], "helpful": int(r["helpful"] or 0), "votes": votes}
            )
    for pair in duplicates or []:
        report["duplicates"].append({**pair, "titles": [titles.get(i) for i in pair["ids"]]})
    return report
