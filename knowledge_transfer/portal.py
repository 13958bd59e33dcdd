"""What the portal and staff console read of the knowledge base.

One article (audience-checked), related articles with the shared node as their reason,
feedback and case deflection.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio

from ingest.notes import NoteLinker
from kbcrm.access import audit
from kbcrm.access.models import Principal
from kbcrm.access.scope import ARTICLE_AUDIENCES, article_audiences, article_states
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from kbcrm.operations.cases.service import get_case
from knowledge_transfer.answers.service import KnowledgeBase, answer
from knowledge_transfer.kcs import (
    LANGUAGES,
    NEW_ARTICLE_BODY,
    PRODUCTS,
    Draft,
    article_duplicates,
    content_health,
    count_view_if_visible,
    count_view_if_visible_async,
    create_article,
    draft_from_case,
    edit_article,
    link_article_to_case,
    record_usage,
    set_confidence,
    workbench,
)
from knowledge_transfer.recent import Recent

# One read for the article, who wrote and validated it, and what it links to (an article page was six queries).
ARTICLE = cypher(
    "portal.article",
    "MATCH (a:KnowledgeArticle {id: $id}) OPTIONAL MATCH (w:Employee)-[:AUTHORED]->(a) "
    "OPTIONAL MATCH (v:Employee)-[:VALIDATED]->(a) "
    "OPTIONAL MATCH (a)-[r:APPLIES_TO|RESOLVES|ON_TOPIC]->(n) "
    "RETURN a.id AS id, a.title AS title, a.body AS body, a.audience AS audience, a.confidence AS confidence, "
    "a.language AS language, a.version AS version, a.updated_at AS updated_at, a.helpful_count AS helpful, "
    "a.not_helpful_count AS not_helpful, a.view_count AS views, collect(DISTINCT w.name) AS authors, "
    "collect(DISTINCT v.name) AS validators, collect(DISTINCT CASE WHEN n IS NULL THEN NULL ELSE "
    "{rel: type(r), id: n.id, label: labels(n)[0], name: coalesce(n.name, n.code, n.id)} END) AS links",
    example={"id": "KA-1"},
)
RELATED = cypher(
    "portal.related",
    "MATCH (a:KnowledgeArticle {id: $id}) WITH a MATCH (a)-[r1:APPLIES_TO|RESOLVES|ON_TOPIC]->(n)"
    "<-[r2:APPLIES_TO|RESOLVES|ON_TOPIC]-(b:KnowledgeArticle) "
    "WHERE b.id <> a.id AND NOT b.id IN $translations AND b.audience IN $audiences AND b.confidence IN $states "
    "RETURN b.id AS id, b.title AS title, collect(DISTINCT {rel: type(r2), node: n.id, "
    "label: labels(n)[0], name: coalesce(n.name, n.code, n.id)}) AS shared "
    "ORDER BY size(shared) DESC, id LIMIT $limit",
    example={"id": "KA-1", "translations": [], "audiences": ["public"], "states": ["validated"], "limit": 5},
    ordered=True,
)
_VERSION = "RETURN t.id AS id, t.title AS title, t.language AS language, t.audience AS audience, t.confidence AS state"
# The article's other versions (TRANSLATION_OF): its original, its translations, the original's other translations.
TRANSLATIONS = cypher(
    "portal.translations",
    f"MATCH (:KnowledgeArticle {{id: $id}})-[:TRANSLATION_OF]->(t:KnowledgeArticle) {_VERSION} "
    f"UNION MATCH (:KnowledgeArticle {{id: $id}})<-[:TRANSLATION_OF]-(t:KnowledgeArticle) {_VERSION} "
    "UNION MATCH (:KnowledgeArticle {id: $id})-[:TRANSLATION_OF]->(:KnowledgeArticle)<-[:TRANSLATION_OF]-"
    f"(t:KnowledgeArticle) WHERE t.id <> $id {_VERSION}",
    example={"id": "KA-1"},
)


def _reader(principal: Principal | None) -> tuple[bool, str | None]:
    """(staff?, the customer whose context ranks the answer: None for staff and anonymous visitors)."""
    staff = principal is not None and principal.is_staff
    return staff, principal.customer_id if principal is not None and not staff else None


def _answer_key(principal: Principal | None, question: str, case_id: str | None, limit: int) -> tuple[Any, ...]:
    """What an answer depends on besides the knowledge: question, audience, customer, case and limit."""
    return (question, *_reader(principal), case_id, limit)


def answer_json(
    kb: KnowledgeBase,
    store: GraphStore,
    principal: Principal | None,
    question: str,
    *,
    case_id: str | None = None,
    limit: int = 5,
) -> bytes:
    """Answer assist for the caller's audience, as UTF-8 JSON text.

    Staff see articles, cases and experts; customers and visitors validated customer/public
    articles, ranked with the customer's installed base. A repeated question is answered from
    the knowledge base's kept answers (KnowledgeBase.answers), by question, audience, customer,
    case and limit: never another reader's.
    """
    key = _answer_key(principal, question, case_id, limit)
    kept = kb.answers.get(key)
    if kept is not None:
        return kept
    staff, customer = _reader(principal)
    result = answer(
        kb,
        store,
        question,
        customer_id=customer,
        case_id=case_id,
        audience="staff" if staff else "customer",
        limit=limit,
    ).to_dict()
    # Written as starlette's JSONResponse writes it, once: a repeated question's response is these bytes.
    body = json.dumps(result, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
    kb.answers.put(key, body)
    return body


def answer_for(
    kb: KnowledgeBase,
    store: GraphStore,
    principal: Principal | None,
    question: str,
    *,
    case_id: str | None = None,
    limit: int = 5,
) -> dict[str, Any]:
    """answer_json's answer as a dict (web pages, the staff console)."""
    result: dict[str, Any] = json.loads(answer_json(kb, store, principal, question, case_id=case_id, limit=limit))
    return result


def answers_without_waiting(kb: KnowledgeBase, principal: Principal | None, *, case_id: str | None = None) -> bool:
    """True when a new answer for this reader is computation only: no graph read, no wait for a batch.

    That is: no case (a case's context is read from the graph), the customer's name and installed
    base already kept (KnowledgeBase.customers), and every model encoding on the calling thread.
    The search route then answers on the event loop instead of a worker thread (see there). A kept
    customer could age out in the microseconds between this check and the answer; the answer then
    reads it, one graph statement.
    """
    if case_id is not None or not kb.encodes_in_place:
        return False
    _, customer = _reader(principal)
    return customer is None or kb.customers.get(customer) is not None


def kept_answer_json(
    kb: KnowledgeBase, principal: Principal | None, question: str, *, case_id: str | None = None, limit: int = 5
) -> bytes | None:
    """answer_json's bytes when this reader's answer to the question is kept, else None; never blocks.

    The search route answers a repeated question with these on the event loop, without a worker thread.
    """
    return kb.answers.get(_answer_key(principal, question, case_id, limit))


def _may_read(principal: Principal | None, audience: str | None, state: str | None) -> bool:
    """True when an article of this audience and confidence state is for this reader."""
    return audience in article_audiences(principal) and state in article_states(principal)


def _readable(store: GraphStore, article_id: str, principal: Principal | None) -> dict[str, Any] | None:
    rows = store.read(ARTICLE, id=article_id)
    if not rows:
        return None
    article = rows[0]
    article["links"] = [link for link in article["links"] if link]
    return article if _may_read(principal, article["audience"], article["confidence"]) else None


def can_read_article(store: GraphStore, *, article_id: str, principal: Principal | None) -> bool:
    """True when the article exists and this reader may see it (one query; no links or related articles)."""
    return _readable(store, article_id, principal) is not None


def get_article(store: GraphStore, *, article_id: str, principal: Principal | None) -> dict[str, Any] | None:
    """The article with its links, authors and related articles, or None when missing or not for this reader."""
    article = _readable(store, article_id, principal)
    if article is None:
        return None
    article["links"] = sorted(article["links"], key=lambda link: (link["rel"], link["id"]))
    versions = store.read(TRANSLATIONS, id=article_id)
    # The same article in the reader's other languages; not also a "related" article.
    article["translations"] = sorted(
        (
            {"id": v["id"], "title": v["title"], "language": v["language"]}
            for v in versions
            if _may_read(principal, v["audience"], v["state"])
        ),
        key=lambda v: (v["language"], v["id"]),
    )
    article["related"] = store.read(
        RELATED,
        id=article_id,
        translations=[v["id"] for v in versions],
        audiences=article_audiences(principal),
        states=article_states(principal),
        limit=5,
    )
    return article


def _feedback_audience(principal: Principal | None) -> str:
    return "staff" if principal is not None and principal.is_staff else "customer"


class ArticlePages(Recent[tuple[str, bool], dict[str, Any]]):
    """Article pages without their counters, by (article id, staff reader?), reused while the article is unchanged.

    A read of a kept page is one graph statement (count the view, return the counters and the
    article's version) instead of three; an article page is the portal's most frequent request.
    A page is used only while the article's version and updated_at are the ones it was read with,
    so an edit, a state change or a re-ingest shows at once, whichever process made it. Its
    related articles (which depend on other articles) are at most `max_age_s` old, the same bound
    as search's knowledge watcher (KBCRM_KNOWLEDGE_POLL_SECONDS); `clear` drops every page at once
    (the server calls it on its own knowledge changes).
    """


def view_article(
    store: GraphStore, *, article_id: str, principal: Principal | None, pages: ArticlePages | None = None
) -> dict[str, Any] | None:
    """Read an article and count the view for the reader's audience; the counters include this view.

    With `pages`, an unchanged article's page is reused (see ArticlePages) and the read is one statement.
    """
    key, kept = _kept_page(article_id, principal, pages)
    counted = count_view_if_visible(store, article_id, **_view_of(principal))
    page = _counted_page(counted, kept, key, pages)
    if page is not None or counted is None:
        return page
    return _fresh_page(store, article_id, principal, counted, key, pages)


async def view_article_async(
    store: GraphStore, *, article_id: str, principal: Principal | None, pages: ArticlePages | None = None
) -> dict[str, Any] | None:
    """view_article from an event loop: the view is counted without a worker thread (GraphStore.run_async).

    Only an article whose kept page is missing or stale is read on one.
    """
    key, kept = _kept_page(article_id, principal, pages)
    counted = await count_view_if_visible_async(store, article_id, **_view_of(principal))
    page = _counted_page(counted, kept, key, pages)
    if page is not None or counted is None:
        return page
    fresh = partial(_fresh_page, store, article_id, principal, counted, key, pages)
    return await anyio.to_thread.run_sync(fresh)


def _kept_page(
    article_id: str, principal: Principal | None, pages: ArticlePages | None
) -> tuple[tuple[str, bool], dict[str, Any] | None]:
    key = (article_id, principal is not None and principal.is_staff)
    return key, pages.get(key) if pages is not None else None


def _view_of(principal: Principal | None) -> dict[str, Any]:
    """Who counts the view and what they may see (count_view_if_visible's arguments)."""
    return {
        "audience": _feedback_audience(principal),
        "audiences": article_audiences(principal),
        "states": article_states(principal),
    }


def _counted_page(
    counted: dict[str, Any] | None,
    kept: dict[str, Any] | None,
    key: tuple[str, bool],
    pages: ArticlePages | None,
) -> dict[str, Any] | None:
    """The kept page with the counters when it is still the article's content, else None.

    Not counted (missing, or not for this reader) also drops the kept page.
    """
    if counted is None:
        if pages is not None:
            pages.drop(key)
        return None
    if kept is not None and (kept["version"], kept["updated_at"]) == (counted["version"], counted["updated_at"]):
        return {**kept, **_counters(counted)}
    return None


def _fresh_page(
    store: GraphStore,
    article_id: str,
    principal: Principal | None,
    counted: dict[str, Any],
    key: tuple[str, bool],
    pages: ArticlePages | None,
) -> dict[str, Any] | None:
    article = get_article(store, article_id=article_id, principal=principal)
    if article is None:  # changed between the two statements
        return None
    if pages is not None:
        pages.put(key, article)
    return {**article, **_counters(counted)}


def _counters(counted: dict[str, Any]) -> dict[str, Any]:
    return {k: counted[k] for k in ("views", "helpful", "not_helpful")}


def rate_article(
    store: GraphStore, *, article_id: str, principal: Principal | None, helpful: bool
) -> dict[str, int] | None:
    """Count a helpful / not-helpful vote; None when the reader may not see the article."""
    if not can_read_article(store, article_id=article_id, principal=principal):
        return None
    return record_usage(
        store, article_id, audience=_feedback_audience(principal), event="helpful" if helpful else "not_helpful"
    )


def record_deflection(
    store: GraphStore, *, principal: Principal, article_id: str, subject: str, solved: bool
) -> dict[str, Any] | None:
    """A customer opening a case saw a suggested article: record whether it solved the problem.

    A solved suggestion counts as helpful (and no case is opened); either way an audit
    event keeps which article was suggested for which subject.
    """
    if not can_read_article(store, article_id=article_id, principal=principal):
        return None
    if solved:
        record_usage(store, article_id, audience=_feedback_audience(principal), event="helpful")
    audit.record(
        store,
        actor=principal.user_id,
        action="deflection",
        target=article_id,
        detail={"subject": subject[:200], "solved": solved, "customer": principal.customer_id},
    )
    return {"article_id": article_id, "solved": solved}


def link_article_on_case(
    store: GraphStore, *, principal: Principal, case_id: str, article_id: str, kind: str = "reused"
) -> bool:
    """KCS from the console: link an article to a case the principal may work; False when the case is unknown."""
    if get_case(store, principal=principal, case_id=case_id) is None:
        return False
    link_article_to_case(store, article_id, case_id, kind=kind, by=principal.employee_id or principal.user_id)
    audit.record(
        store, actor=principal.user_id, action="article_linked", target=case_id, detail={"article": article_id}
    )
    return True


def draft_article_from_case(
    store: GraphStore, *, principal: Principal, case_id: str, linker: NoteLinker | None = None
) -> Draft | None:
    """KCS from the console: draft an internal article from a resolved case; None when the case is unknown."""
    if get_case(store, principal=principal, case_id=case_id) is None:
        return None
    draft = draft_from_case(store, case_id, by=principal.employee_id or principal.user_id, linker=linker)
    audit.record(store, actor=principal.user_id, action="article_drafted", target=draft.article_id)
    return draft


def article_workbench(store: GraphStore, *, principal: Principal, article_id: str) -> dict[str, Any] | None:
    """KCS from the console: an article to revise (kcs.workbench); None when missing or not for this reader."""
    if not can_read_article(store, article_id=article_id, principal=principal):
        return None
    return workbench(store, article_id)


def revise_article(
    store: GraphStore,
    *,
    principal: Principal,
    article_id: str,
    changes: dict[str, Any],
    linker: NoteLinker | None = None,
) -> dict[str, Any] | None:
    """KCS: edit an article's title, body or audience as the next version (audited, text links derived again).

    The article as it now reads, with `changed`: the fields this edit changed (none: no new version).
    None when the article is missing or not for this reader.
    """
    if not can_read_article(store, article_id=article_id, principal=principal):
        return None
    result = edit_article(store, article_id, by=principal.employee_id or principal.user_id, linker=linker, **changes)
    if result["changed"]:  # a form saved unchanged is no edit
        detail = {"fields": result["changed"]}
        audit.record(store, actor=principal.user_id, action="article_edited", target=article_id, detail=detail)
    return result


def new_article_form(store: GraphStore) -> dict[str, Any]:
    """What the console's new-article form offers: the catalogue's products and the KCS structure to start from."""
    return {
        "products": store.read(PRODUCTS),
        "body": NEW_ARTICLE_BODY,
        "languages": LANGUAGES,
        "audiences": ARTICLE_AUDIENCES,
    }


def write_article(
    store: GraphStore, *, principal: Principal, fields: dict[str, Any], linker: NoteLinker | None = None
) -> dict[str, Any]:
    """KCS: a new work-in-progress article written in the console (kcs.create_article), authored and audited."""
    article = create_article(store, by=principal.employee_id or principal.user_id, linker=linker, **fields)
    audit.record(store, actor=principal.user_id, action="article_created", target=article["id"])
    return article


def move_article(store: GraphStore, *, principal: Principal, article_id: str, state: str) -> dict[str, Any] | None:
    """KCS: move an article to another confidence state (audited); None when missing or not for this reader."""
    article = _readable(store, article_id, principal)
    if article is None:
        return None
    result = set_confidence(store, article_id, state, by=principal.employee_id or principal.user_id)
    if state != article["confidence"]:
        detail = {"state": state}
        audit.record(store, actor=principal.user_id, action="article_state", target=article_id, detail=detail)
    return result


def content_health_report(
    kb: KnowledgeBase, store: GraphStore, *, as_of: str | None = None, stale_days: int = 365
) -> dict[str, list[dict[str, Any]]]:
    """KCS content health for knowledge managers: never reused, stale, low-rated, near-duplicate articles."""
    return content_health(store, as_of=as_of or utc_now(), stale_days=stale_days, duplicates=article_duplicates(kb))
