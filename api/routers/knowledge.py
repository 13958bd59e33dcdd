"""Knowledge base: search with evidence, read, rate, deflection suggestions, expert finder, KCS states."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import KeptPages, Knowledge, Store, current_linker, knowledge_changed, usage_changed
from api.errors import not_found
from api.security import CaseWorker, Customer, MaybeUser, Staff
from kbcrm.access.models import Principal
from kbcrm.graph import GraphStore
from knowledge_transfer import browse, kcs, portal
from knowledge_transfer.answers.service import KnowledgeBase
from knowledge_transfer.experts import who_knows

router = APIRouter(prefix="/api/v1/knowledge", tags=["knowledge"])


class Rating(BaseModel):
    """Whether the article was helpful."""

    helpful: bool


class Deflection(BaseModel):
    """A suggestion shown while a customer typed a case subject, and whether it solved the problem."""

    subject: str = Field(default="", max_length=500)
    solved: bool


class ArticleEdit(BaseModel):
    """New content for an article (only the fields given change)."""

    title: str | None = Field(default=None, min_length=1, max_length=kcs.TITLE_MAX_LENGTH)
    body: str | None = Field(default=None, min_length=1, max_length=kcs.BODY_MAX_LENGTH)
    audience: str | None = Field(default=None, pattern="^(internal|customer|public)$")


class ArticleNew(BaseModel):
    """A new article written in the console: work in progress until validated."""

    title: str = Field(min_length=1, max_length=kcs.TITLE_MAX_LENGTH)
    body: str = Field(min_length=1, max_length=kcs.BODY_MAX_LENGTH)
    audience: str = Field(default="internal", pattern="^(internal|customer|public)$")
    language: str = Field(default="en", pattern="^(en|zh)$")
    products: list[str] = Field(default_factory=list, max_length=50)


class ConfidenceChange(BaseModel):
    """A KCS confidence state."""

    state: str = Field(min_length=1, max_length=40)


async def _answer(
    kb: KnowledgeBase,
    store: GraphStore,
    principal: Principal | None,
    question: str,
    *,
    case_id: str | None = None,
    limit: int,
) -> Response:
    """The answer's JSON: a kept one at once, a new one on the event loop when it is computation only.

    A new answer that needs no graph read (portal.answers_without_waiting) is computed right here,
    holding the event loop for the question's encoding and ranking: about 4 ms for a portal question,
    up to about 15 ms at the 500-character limit. On a worker thread the same question cost 5.9-6.9
    against 3.8-4.8 ms of server CPU (bench/request_cost.py, two pairs): each hand-off, and the GIL passed
    between the loop and many threads running the models at once, cost more than the work itself. A
    question that reads the graph (a case's context, a customer not kept) still goes to a worker thread,
    so the loop never waits on the graph.
    """
    body = portal.kept_answer_json(kb, principal, question, case_id=case_id, limit=limit)
    if body is None:  # a new question
        if portal.answers_without_waiting(kb, principal, case_id=case_id):
            body = portal.answer_json(kb, store, principal, question, case_id=case_id, limit=limit)
        else:
            body = await run_in_threadpool(
                portal.answer_json, kb, store, principal, question, case_id=case_id, limit=limit
            )
    return Response(body, media_type="application/json")


@router.get(
    "/search",
    summary="Search the knowledge base; every suggestion carries its evidence",
    response_model=dict[str, Any],
)
async def search(
    kb: Knowledge,
    store: Store,
    principal: MaybeUser,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    case_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Response:
    """Anonymous visitors and customers get validated customer/public articles; staff get everything.

    A repeated question is answered on the event loop from the kept answer's JSON text: no worker
    thread, no serialising (server CPU per repeated search about 0.69 -> 0.43 ms, as bench/request_cost.py measures).
    """
    return await _answer(kb, store, principal, q, case_id=case_id, limit=limit)


@router.get(
    "/suggest",
    summary="Articles for a case subject being typed (case deflection)",
    response_model=dict[str, Any],
)
async def suggest(
    kb: Knowledge,
    store: Store,
    principal: Customer,
    subject: Annotated[str, Query(min_length=1, max_length=500)],
) -> Response:
    """Up to three customer-visible articles, with evidence, for the subject typed so far (as search answers)."""
    return await _answer(kb, store, principal, subject, limit=3)


@router.get("/articles", summary="Browse the articles the caller may read: by product or topic, most used, newest")
def list_articles(
    store: Store,
    principal: MaybeUser,
    product: Annotated[str, Query(max_length=100, description="Only articles that apply to this product")] = "",
    topic: Annotated[str, Query(max_length=100, description="Only articles on this topic")] = "",
    sort: Annotated[browse.Sort, Query(description="popular (views + case links), recent or title")] = "popular",
    state: Annotated[
        Literal["", "work-in-progress", "not-validated", "validated", "archived"],
        Query(description="Only articles in this KCS confidence state (customers see validated ones only)"),
    ] = "",
    language: Annotated[Literal["en", "zh"], Query(description="Which version of a translated article")] = "en",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """An article and its translations are one entry (the others in `translations`), with their counters together.

    Visitors and customers get validated customer/public articles; staff every article, with its state.
    """
    return browse.articles(
        store,
        principal=principal,
        product=product,
        topic=topic,
        sort=sort,
        state=state,
        language=language,
        offset=offset,
        limit=limit,
    )


@router.get("/shelves", summary="Products and topics that have articles the caller may read, with how many")
def list_shelves(store: Store, principal: MaybeUser) -> dict[str, list[dict[str, Any]]]:
    """Products (with their category) and topics, each with the number of articles (translations counted once)."""
    return browse.shelves(store, principal=principal)


@router.get(
    "/articles/{article_id}",
    summary="Read an article (audience-checked), with related articles",
    response_model=dict[str, Any],
)
async def read_article(article_id: str, store: Store, principal: MaybeUser, pages: KeptPages) -> JSONResponse:
    """Counts a view for the reader's audience (the counters include it); 404 when the reader may not see it.

    On the event loop: the view is counted through the store's asynchronous client, and only a page not
    kept yet is read on a worker thread (server CPU per read, README: Web application).
    """
    article = await portal.view_article_async(store, article_id=article_id, principal=principal, pages=pages)
    if article is None:
        raise not_found(f"article {article_id!r}")
    return JSONResponse(article)


@router.post("/articles/{article_id}/rating", summary="Rate an article helpful or not")
def rate(request: Request, article_id: str, store: Store, principal: MaybeUser, body: Rating) -> dict[str, int]:
    """Returns the article's new usage totals; the vote changes the article's rank at once."""
    totals = portal.rate_article(store, article_id=article_id, principal=principal, helpful=body.helpful)
    if totals is None:
        raise not_found(f"article {article_id!r}")
    usage_changed(request.app, article_id)
    return totals


@router.post("/articles/{article_id}/deflection", summary="Record whether a suggested article solved the problem")
def deflection(
    request: Request, article_id: str, store: Store, principal: Customer, body: Deflection
) -> dict[str, Any]:
    """A solved suggestion counts as helpful and as a deflected case."""
    result = portal.record_deflection(
        store, principal=principal, article_id=article_id, subject=body.subject, solved=body.solved
    )
    if result is None:
        raise not_found(f"article {article_id!r}")
    if body.solved:  # a solved suggestion counted a helpful vote
        usage_changed(request.app, article_id)
    return result


@router.get("/articles/{article_id}/history", summary="Versions of an article (KCS)")
def article_history(article_id: str, store: Store, principal: Staff) -> list[dict[str, Any]]:
    """Who changed what, when."""
    if not portal.can_read_article(store, article_id=article_id, principal=principal):
        raise not_found(f"article {article_id!r}")
    return kcs.history(store, article_id)


@router.post("/articles", status_code=201, summary="Write a new article (KCS): work in progress, linked from its text")
def new_article(request: Request, store: Store, principal: CaseWorker, body: ArticleNew) -> dict[str, Any]:
    """Authored by the caller; applies to the products named and to what its text names; audited."""
    article = portal.write_article(
        store, principal=principal, fields=body.model_dump(), linker=current_linker(request.app)
    )
    knowledge_changed(request.app)
    return article


@router.get("/articles/{article_id}/workbench", summary="KCS: an article to revise, with its links, cases and versions")
def article_workbench(article_id: str, store: Store, principal: CaseWorker) -> dict[str, Any]:
    """The console's revise page as JSON.

    Content, the states it may move to, links (`from_text`: found in its text, derived again on an
    edit), linked cases and every version.
    """
    data = portal.article_workbench(store, principal=principal, article_id=article_id)
    if data is None:
        raise not_found(f"article {article_id!r}")
    return data


@router.patch("/articles/{article_id}", summary="Edit an article (KCS): the new content becomes the next version")
def edit_article(
    request: Request, article_id: str, store: Store, principal: CaseWorker, body: ArticleEdit
) -> dict[str, Any]:
    """Who edited, when and what it said before are in the article's history; audited.

    A changed title or body derives the article's links to the catalogue again from the new text;
    `changed` lists the fields this edit changed (none: no new version).
    """
    result = portal.revise_article(
        store,
        principal=principal,
        article_id=article_id,
        changes=body.model_dump(exclude_none=True),
        linker=current_linker(request.app),
    )
    if result is None:
        raise not_found(f"article {article_id!r}")
    if result["changed"]:
        knowledge_changed(request.app)  # searchable as edited once the background rebuild is done
    return result


@router.put("/articles/{article_id}/confidence", summary="Move an article to a KCS confidence state")
def set_confidence(
    request: Request, article_id: str, store: Store, principal: CaseWorker, body: ConfidenceChange
) -> dict[str, Any]:
    """work-in-progress → not-validated → validated → archived (and back for revisions)."""
    result = portal.move_article(store, principal=principal, article_id=article_id, state=body.state)
    if result is None:
        raise not_found(f"article {article_id!r}")
    knowledge_changed(request.app)  # e.g. a validated customer article reaches the portal
    return result


@router.get("/experts", summary="Who knows about a topic (expert finder), with evidence")
def experts(
    kb: Knowledge,
    principal: Staff,
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> list[dict[str, Any]]:
    """Experts ranked by the articles and cases they wrote on the topic."""
    return [s.to_dict() for s in who_knows(kb, q, limit=limit)]


@router.get("/health", summary="KCS content health: never reused, stale, low-rated, near-duplicate articles")
def knowledge_health(
    kb: Knowledge,
    store: Store,
    principal: Staff,
    stale_days: Annotated[int, Query(ge=1, le=3650)] = 365,
    as_of: Annotated[date | None, Query(description="Judge staleness at this date (default: now).")] = None,
) -> dict[str, list[dict[str, Any]]]:
    """Near-duplicates compare embeddings within a language (cosine ≥ 0.95); archived articles are left out."""
    when = f"{as_of.isoformat()}T00:00:00Z" if as_of else None
    return portal.content_health_report(kb, store, stale_days=stale_days, as_of=when)
