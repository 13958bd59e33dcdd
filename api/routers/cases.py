"""Service cases: list, open (portal), read, notes, status, suggested answers, KCS links and drafts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from api.deps import AppSettings, Calendar, Knowledge, Store, current_linker, knowledge_changed, usage_changed
from api.errors import ApiError, not_found
from api.security import AnyUser, CaseWorker, Staff
from kbcrm.access.models import Role
from kbcrm.access.scope import require_case_writer
from kbcrm.operations.cases import service as cases
from knowledge_transfer import portal

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class NewCase(BaseModel):
    """A case opened from the portal (customer) or by staff for a customer."""

    subject: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    product_id: str | None = Field(default=None, max_length=100)
    priority: str = Field(default="P3", pattern="^P[1-4]$")
    customer_id: str | None = Field(default=None, max_length=100, description="Staff only; customers open their own.")
    suggestions_shown: list[str] = Field(default_factory=list, max_length=20, description="Articles suggested first.")


class NewNote(BaseModel):
    """A note on a case; customers always write customer-visible notes."""

    text: str = Field(min_length=1, max_length=20_000)
    visibility: str = Field(default="customer", pattern="^(internal|customer)$")


class StatusChange(BaseModel):
    """A new case status."""

    status: str = Field(pattern="^(open|in-progress|waiting-for-customer|resolved|closed)$")


class ArticleLink(BaseModel):
    """KCS: link an article to the case."""

    article_id: str = Field(min_length=1, max_length=100)
    kind: str = Field(default="reused", pattern="^(reused|created|modified)$")


@router.get("/sla-watchlist", summary="Active cases whose SLA is at risk or breached, most urgent first")
def sla_watchlist(
    store: Store,
    settings: AppSettings,
    calendar: Calendar,
    principal: Staff,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Breach prediction: a running clock past KBCRM_SLA_WARNING_SHARE of its target is at risk."""
    return cases.sla_watchlist(
        store, principal=principal, calendar=calendar, warning_share=settings.sla_warning_share, limit=limit
    )


@router.get("", summary="Cases, newest first (customers: their own)")
def list_cases(
    store: Store,
    calendar: Calendar,
    principal: AnyUser,
    customer_id: Annotated[str | None, Query(max_length=100)] = None,
    status: Annotated[str, Query(pattern="^(|active|open|in-progress|waiting-for-customer|resolved|closed)$")] = "",
    after: Annotated[str, Query(max_length=40, description="opened_at of the last case of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[dict[str, Any]]:
    """Keyset pages: pass the last row's opened_at as `after`."""
    return cases.list_cases(
        store,
        principal=principal,
        customer_id=customer_id,
        status=status,
        after=after,
        limit=limit,
        calendar=calendar,
    )


@router.post("", status_code=201, summary="Open a case")
def open_case(store: Store, principal: AnyUser, body: NewCase) -> dict[str, Any]:
    """Customers open cases for themselves; engineers and admins for any customer."""
    require_case_writer(principal)
    customer_id = principal.customer_id if principal.role == Role.customer else body.customer_id
    if not customer_id:
        raise ApiError(422, "invalid", "customer_id: required when staff open a case", "customer_id")
    case = cases.open_case(
        store,
        principal=principal,
        customer_id=customer_id,
        subject=body.subject,
        description=body.description,
        product_id=body.product_id,
        priority=body.priority,
        channel="web" if principal.role == Role.customer else "phone",
        suggestions_shown=body.suggestions_shown,
    )
    return case


@router.get("/{case_id}", summary="A case with the notes and articles the caller may read")
def get_case(case_id: str, store: Store, calendar: Calendar, principal: AnyUser) -> dict[str, Any]:
    """Internal notes and internal articles are never part of a customer's view; `sla` has both clocks."""
    case = cases.get_case(store, principal=principal, case_id=case_id, calendar=calendar)
    if case is None:
        raise not_found(f"case {case_id!r}")
    return case


@router.post("/{case_id}/notes", status_code=201, summary="Add a note")
def add_note(case_id: str, store: Store, principal: AnyUser, body: NewNote) -> dict[str, Any]:
    """Staff choose the visibility; a customer-visible staff note is the first response if there was none."""
    return cases.add_note(store, principal=principal, case_id=case_id, text=body.text, visibility=body.visibility)


@router.patch("/{case_id}", summary="Change a case's status")
def change_status(case_id: str, store: Store, principal: CaseWorker, body: StatusChange) -> dict[str, Any]:
    """open, in-progress, waiting-for-customer, resolved or closed; resolving stamps closed_at."""
    return cases.set_status(store, principal=principal, case_id=case_id, status=body.status)


@router.get("/{case_id}/suggestions", summary="Suggested answers for a case, with evidence")
def suggestions(
    case_id: str,
    kb: Knowledge,
    store: Store,
    principal: AnyUser,
    q: Annotated[str, Query(max_length=500)] = "",
) -> dict[str, Any]:
    """Uses the case's subject, product and symptoms (and `q` if given); customers get customer-visible articles."""
    case = cases.get_case(store, principal=principal, case_id=case_id)
    if case is None:
        raise not_found(f"case {case_id!r}")
    return portal.answer_for(kb, store, principal, q or case.get("subject") or "", case_id=case_id)


@router.post("/{case_id}/articles", status_code=201, summary="KCS: link an article to the case")
def link_article(
    request: Request, case_id: str, store: Store, principal: CaseWorker, body: ArticleLink
) -> dict[str, Any]:
    """Reused (it solved the case), created (written from it) or modified (improved while solving it)."""
    if not portal.link_article_on_case(
        store, principal=principal, case_id=case_id, article_id=body.article_id, kind=body.kind
    ):
        raise not_found(f"case {case_id!r}")
    usage_changed(request.app, body.article_id)
    return {"case_id": case_id, "article_id": body.article_id, "kind": body.kind}


@router.post("/{case_id}/draft-article", status_code=201, summary="KCS: draft an internal article from the case")
def draft_article(request: Request, case_id: str, store: Store, principal: CaseWorker) -> dict[str, Any]:
    """A work-in-progress article (issue, environment, cause, resolution) linked to the case as 'created'."""
    draft = portal.draft_article_from_case(
        store, principal=principal, case_id=case_id, linker=current_linker(request.app)
    )
    if draft is None:
        raise not_found(f"case {case_id!r}")
    knowledge_changed(request.app)
    return {"article_id": draft.article_id, "title": draft.title, "body": draft.body, "sections": draft.sections}
