"""Staff console pages for business operations: new customer, contacts, touches, timeline, opportunities.

Like every page, each answers as JSON too (`?format=json`) and calls the same services as
the API; who may write is decided by the services (kbcrm.access.scope).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response

from api.deps import DuplicateCheck, Store
from api.errors import not_found
from api.pages.render import page
from api.pages.views import STAFF, _need, _redirect
from api.routers.invitations import deliver_links
from api.security import MaybeUser
from kbcrm.access import invitations
from kbcrm.access.models import Role
from kbcrm.access.scope import ACCOUNT_WRITERS, SALES_WRITERS
from kbcrm.customers.service import get_customer
from kbcrm.operations.accounts import service as accounts
from kbcrm.operations.campaigns import service as campaigns
from kbcrm.operations.opportunities import service as opportunities
from kbcrm.operations.touches import service as touches

router = APIRouter(include_in_schema=False)


def _new_customer_form(**values: Any) -> dict[str, Any]:
    return {"form": {"kind": "organization", **values}, "candidates": [], "error": None}


@router.get("/staff/customers/new")
def new_customer_page(request: Request, principal: MaybeUser) -> Response:
    """The form for a new customer."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    return page(request, "staff_customer_new.html", _new_customer_form(), principal=user)


@router.post("/staff/customers/new")
def new_customer_submit(
    request: Request,
    store: Store,
    duplicates: DuplicateCheck,
    principal: MaybeUser,
    kind: Annotated[str, Form(pattern="^(organization|person)$")],
    name: Annotated[str, Form(max_length=200)],
    email: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    city: Annotated[str, Form(max_length=100)] = "",
    country: Annotated[str, Form(max_length=2)] = "",
    registration_id: Annotated[str, Form(max_length=50)] = "",
    force: Annotated[bool, Form()] = False,
) -> Response:
    """Create; when the customer looks known, show the candidates with their evidence and ask again."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    values = {"email": email, "phone": phone, "city": city, "country": country, "registration_id": registration_id}
    draft = accounts.CustomerDraft(kind=kind, name=name, **values)
    try:
        created = accounts.create_customer(store, principal=user, draft=draft, find_duplicates=duplicates, force=force)
    except accounts.PossibleDuplicate as exc:
        data = _new_customer_form(kind=kind, name=name, **values)
        data.update(candidates=exc.candidates, error=str(exc))
        return page(request, "staff_customer_new.html", data, principal=user, status=409)
    except accounts.AccountError as exc:
        data = _new_customer_form(kind=kind, name=name, **values) | {"error": str(exc)}
        return page(request, "staff_customer_new.html", data, principal=user, status=400)
    return _redirect(f"/staff/customers/{quote(created['id'])}")


@router.post("/staff/customers/{customer_id}/invitations")
def invite_contacts(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    contact_id: Annotated[list[str] | None, Form(max_length=invitations.MAX_CONTACTS)] = None,
    days: Annotated[int, Form(ge=1, le=invitations.MAX_DAYS)] = invitations.DEFAULT_DAYS,
) -> Response:
    """Invite the ticked contacts; shows each link once, to be sent to the contact (none ticked: says so)."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    sent = invitations.invite(store, principal=user, customer_id=customer_id, contact_ids=contact_id or [], days=days)
    data = {
        "customer_id": customer_id,
        "invitations": deliver_links(request, store, user.user_id, sent),
        "mail_on": bool(request.app.state.settings.smtp_host),
    }
    return page(request, "staff_invitations.html", data, principal=user, status=201)


@router.post("/staff/customers/{customer_id}/contacts")
def add_contact(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=40)],
    email: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=40)] = "",
    job_title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a contact person."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    accounts.add_contact(
        store,
        principal=user,
        customer_id=customer_id,
        name=name,
        role=role,
        email=email,
        phone=phone,
        job_title=job_title,
    )
    return _redirect(f"/staff/customers/{quote(customer_id)}")


@router.post("/staff/customers/{customer_id}/edit")
async def edit_customer(request: Request, customer_id: str, store: Store, principal: MaybeUser) -> Response:
    """Change the customer's details; only the fields that differ are changed (and marked edited)."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    form = await request.form()
    changes = {f: str(form[f])[:300] for f in accounts.EDITABLE if isinstance(form.get(f), str)}
    if changes:  # the service changes only what differs, and names a field it refuses
        accounts.update_customer(store, principal=user, customer_id=customer_id, changes=changes)
    return _redirect(f"/staff/customers/{quote(customer_id)}")


@router.post("/staff/customers/{customer_id}/parent")
def set_parent_company(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    parent_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Put a company under a parent, or make it stand alone."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    accounts.set_parent(store, principal=user, customer_id=customer_id, parent_id=parent_id.strip() or None)
    return _redirect(f"/staff/customers/{quote(customer_id)}")


@router.post("/staff/customers/{customer_id}/archive")
def archive_customer(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    reason: Annotated[str, Form(max_length=300)] = "",
    restore: Annotated[bool, Form()] = False,
) -> Response:
    """Archive (with a reason) or restore."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    accounts.set_archived(store, principal=user, customer_id=customer_id, archived=not restore, reason=reason)
    return _redirect(f"/staff/customers/{quote(customer_id)}")


@router.get("/staff/customers/{customer_id}/timeline")
def timeline_page(
    request: Request, customer_id: str, store: Store, principal: MaybeUser, kind: str = "", before: str = ""
) -> Response:
    """Everything that happened with the customer, newest first, and the form to log a touch."""
    user = _need(request, principal, *STAFF)
    kinds = (kind,) if kind in touches.KINDS else ()
    entries = touches.timeline(store, principal=user, customer_id=customer_id, kinds=kinds, before=before[:40])
    contacts = accounts.list_contacts(store, principal=user, customer_id=customer_id)
    data = {
        "customer_id": customer_id,
        "customer_name": (get_customer(store, customer_id) or {}).get("name"),
        "kind": kind if kinds else "",
        "entries": entries,
        "contacts": contacts,
        "kinds": touches.KINDS,
        "channels": touches.CHANNELS,
    }
    return page(request, "staff_timeline.html", data, principal=user)


@router.post("/staff/customers/{customer_id}/touches")
def log_touch(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    channel: Annotated[str, Form(max_length=20)],
    direction: Annotated[str, Form(max_length=20)],
    subject: Annotated[str, Form(max_length=500)],
    outcome: Annotated[str, Form(max_length=500)] = "",
    next_step: Annotated[str, Form(max_length=500)] = "",
    contact_id: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Log a touch and go back to the timeline."""
    user = _need(request, principal, *ACCOUNT_WRITERS)
    touches.log_touch(
        store,
        principal=user,
        customer_id=customer_id,
        channel=channel,
        direction=direction,
        subject=subject,
        outcome=outcome,
        next_step=next_step,
        contact_id=contact_id,
    )
    return _redirect(f"/staff/customers/{quote(customer_id)}/timeline")


@router.get("/staff/opportunities")
def pipeline_page(
    request: Request, store: Store, principal: MaybeUser, stage: str = "open", owner: str = ""
) -> Response:
    """The pipeline: open opportunities by stage, the summary per stage and why deals were won or lost."""
    user = _need(request, principal, *STAFF)
    chosen = stage if stage in ("open", *opportunities.STAGES) else ""
    rows = opportunities.list_opportunities(store, principal=user, stage=chosen, owner_id=owner[:200], limit=500)
    data = {
        "stage": chosen,
        "owner": owner,
        "stages": opportunities.STAGES,
        "opportunities": rows,
        "summary": opportunities.pipeline_summary(store, principal=user),
    }
    return page(request, "staff_pipeline.html", data, principal=user)


@router.get("/staff/opportunities/forecast")
def forecast_page(
    request: Request, store: Store, principal: MaybeUser, start: str = "", months: int = 6, owner: str = ""
) -> Response:
    """Weighted forecast per month and owner."""
    user = _need(request, principal, *STAFF)
    try:
        first = date.fromisoformat(start) if start else datetime.now(UTC).date()
    except ValueError:
        first = datetime.now(UTC).date()
    result = opportunities.forecast(
        store, principal=user, start=first, months=min(max(months, 1), 24), owner_id=owner[:200]
    )
    return page(request, "staff_forecast.html", result, principal=user)


@router.get("/staff/opportunities/{opportunity_id}")
def opportunity_page(request: Request, opportunity_id: str, store: Store, principal: MaybeUser) -> Response:
    """One opportunity: its history and the stage move form."""
    user = _need(request, principal, *STAFF)
    found = opportunities.get_opportunity(store, principal=user, opportunity_id=opportunity_id)
    if found is None:
        raise not_found(f"opportunity {opportunity_id!r}")
    return page(
        request,
        "staff_opportunity.html",
        {"opportunity": found, "stages": opportunities.STAGES, "can_move": user.role in SALES_WRITERS},
        principal=user,
    )


@router.post("/staff/opportunities/{opportunity_id}/stage")
def move_stage(
    request: Request,
    opportunity_id: str,
    store: Store,
    principal: MaybeUser,
    stage: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    """Move to a stage (won, lost and reopening need a reason)."""
    user = _need(request, principal, *SALES_WRITERS)
    opportunities.move_stage(store, principal=user, opportunity_id=opportunity_id, stage=stage, reason=reason)
    return _redirect(f"/staff/opportunities/{quote(opportunity_id)}")


@router.post("/staff/customers/{customer_id}/opportunities")
def new_opportunity(
    request: Request,
    customer_id: str,
    store: Store,
    principal: MaybeUser,
    name: Annotated[str, Form(max_length=200)],
    amount: Annotated[float, Form(gt=0, le=1e12)],
    expected_close: Annotated[date, Form()],
    currency: Annotated[str, Form(max_length=3)] = "EUR",
) -> Response:
    """Open an opportunity for the customer (owner: the signed-in employee) and show it."""
    user = _need(request, principal, *SALES_WRITERS)
    draft = opportunities.OpportunityDraft(
        customer_id=customer_id, name=name, amount=amount, currency=currency, expected_close=expected_close
    )
    created = opportunities.create_opportunity(store, principal=user, draft=draft)
    return _redirect(f"/staff/opportunities/{quote(created['id'])}")


@router.post("/staff/campaigns")
def new_campaign(
    request: Request,
    store: Store,
    principal: MaybeUser,
    name: Annotated[str, Form(max_length=200)],
    channel: Annotated[str, Form(pattern="^(email|phone|post)$")],
    segment_id: Annotated[str, Form(max_length=200)] = "",
    min_churn_risk: Annotated[str, Form(max_length=10)] = "",
    owns_product: Annotated[str, Form(max_length=100)] = "",
    graph_query: Annotated[str, Form(max_length=4000)] = "",
    control_share: Annotated[float, Form(ge=0, lt=1)] = 0.1,
) -> Response:
    """Create a campaign from a segment, a rule and/or a read-only graph query, with personalised content."""
    from api.routers.campaigns import personaliser

    user = _need(request, principal, Role.admin, Role.marketer)
    try:
        risk = float(min_churn_risk) if min_churn_risk.strip() else None
    except ValueError:
        raise campaigns.CampaignError(f"min_churn_risk: {min_churn_risk!r} is not a number") from None
    rule = campaigns.TargetRule(
        segment_id=segment_id, min_churn_risk=risk, owns_product=owns_product.strip(), graph_query=graph_query.strip()
    )
    plan = campaigns.create_campaign(
        store,
        principal=user,
        name=name,
        channel=channel,
        rule=rule,
        control_share=control_share,
        personalise=personaliser(store),
    )
    return _redirect(f"/staff/campaigns/{quote(plan.id)}")
