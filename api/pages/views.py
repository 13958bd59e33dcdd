"""Page routes.

Each calls the same service functions as the JSON API and renders the result (or returns it
as JSON with `?format=json`); no Cypher here.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import RedirectResponse

from api.deps import (
    AppSettings,
    Calendar,
    KeptPages,
    Knowledge,
    SignedIn,
    Store,
    current_linker,
    knowledge_changed,
    usage_changed,
)
from api.errors import ApiError, not_found
from api.pages.i18n import STRINGS, language
from api.pages.render import page
from api.routers.auth import Login, checked_log_in, log_out, start_session
from api.security import MaybeUser
from kbcrm.access import invitations, users
from kbcrm.access.models import Principal, Role
from kbcrm.access.scope import ARTICLE_AUDIENCES
from kbcrm.analyst import service as analyst
from kbcrm.customers import privacy
from kbcrm.customers import service as customers
from kbcrm.graph import StoreError
from kbcrm.graph.store import utc_now
from kbcrm.loyalty import service as loyalty
from kbcrm.operations.campaigns import service as campaigns
from kbcrm.operations.cases import service as cases
from knowledge_transfer import browse, portal, recommendations
from knowledge_transfer.experts import topics as expert_topics
from knowledge_transfer.experts import who_knows
from knowledge_transfer.kcs import BODY_MAX_LENGTH, TITLE_MAX_LENGTH

router = APIRouter(include_in_schema=False)
LOGIN_CSRF = "kbcrm_login_csrf"


class LoginRequired(Exception):
    """Raised by a page that needs a login: the app answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def _need(request: Request, principal: Principal | None, *roles: Role) -> Principal:
    if principal is None:
        raise LoginRequired(request.url.path)
    if roles and principal.role not in roles:
        raise ApiError(403, "forbidden", f"this page is for {', '.join(sorted(r.value for r in roles))}")
    return principal


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# Where a login lands when it was not on its way to a page: the first page each role may open.
START_PAGES = {
    Role.customer: "/my",
    Role.admin: "/staff",
    Role.engineer: "/staff",
    Role.marketer: "/staff/campaigns",
    Role.analyst: "/analyst",
}


# ------------------------------------------------------------------ public portal
@router.get("/")
def home(request: Request, kb: Knowledge, store: Store, principal: MaybeUser, q: str = "") -> Response:
    """Search the knowledge base: every answer shows why."""
    q = q.strip()[:500]
    data: dict[str, Any]
    if q:
        data = {"q": q, "answer": portal.answer_for(kb, store, principal, q, limit=8)}
    else:  # Without a question: what is most used, what is new, and the products and topics to browse.
        lang = language(request)
        data = {"q": "", "answer": None, **browse.front_page(store, principal=principal, language=lang), "owned": []}
        if principal is not None and principal.role == Role.customer and principal.customer_id:
            owned = customers.installed_base(store, principal=principal, customer_id=principal.customer_id)
            data["owned"] = sorted({p["id"] for p in owned})
    return page(request, "search.html", data, principal=principal)


@router.get("/browse")
def browse_page(
    request: Request,
    store: Store,
    principal: MaybeUser,
    product: str = "",
    topic: str = "",
    sort: str = "popular",
    state: str = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """The articles on a product or topic (or all; staff: in one KCS state), most used, newest or A–Z, 20 a page."""
    found = browse.articles(
        store,
        principal=principal,
        product=product[:100],
        topic=topic[:100],
        sort=cast(browse.Sort, sort),
        state=state[:30],
        language=language(request),
        offset=offset,
        limit=20,
    )
    return page(request, "browse.html", found, principal=principal)


@router.get("/articles/{article_id}")
def article_page(
    request: Request,
    article_id: str,
    kb: Knowledge,
    store: Store,
    principal: MaybeUser,
    pages: KeptPages,
    q: str = "",
) -> Response:
    """An article with its authors, related articles and — when reached from a search — why it was suggested."""
    article = portal.view_article(store, article_id=article_id, principal=principal, pages=pages)
    if article is None:
        raise not_found(f"article {article_id!r}")
    why = None
    if q.strip():
        result = portal.answer_for(kb, store, principal, q.strip()[:500], limit=20)
        why = next((s for s in result["suggestions"] if s["id"] == article_id), None)
    return page(request, "article.html", {"article": article, "q": q, "why": why}, principal=principal)


@router.post("/articles/{article_id}/rate")
def rate_page(
    request: Request, article_id: str, store: Store, principal: MaybeUser, helpful: Annotated[str, Form()]
) -> Response:
    """Count the vote and show the article again with a thank-you."""
    if portal.rate_article(store, article_id=article_id, principal=principal, helpful=helpful == "yes") is None:
        raise not_found(f"article {article_id!r}")
    usage_changed(request.app, article_id)
    return _redirect(f"/articles/{quote(article_id)}?rated=1")


@router.get("/login")
def login_page(request: Request, principal: MaybeUser, next: str = "/", failed: int = 0) -> Response:
    """The login form (double-submit CSRF cookie, since there is no session yet)."""
    data = {"next": next if next.startswith("/") and not next.startswith("//") else "/", "failed": bool(failed)}
    return _sessionless_form(request, "login.html", data, principal=principal)


def _sessionless_form(
    request: Request, template: str, data: dict[str, Any], *, principal: Principal | None = None, status: int = 200
) -> Response:
    """A form posted before there is a session: its CSRF token is a double-submit cookie."""
    token = secrets.token_urlsafe(16)
    response = page(request, template, data, principal=principal, status=status, extra={"login_csrf": token})
    response.set_cookie(LOGIN_CSRF, token, httponly=True, samesite="strict", max_age=3600)
    return response


def _check_sessionless_csrf(request: Request, csrf_token: str) -> None:
    expected = request.cookies.get(LOGIN_CSRF)
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise ApiError(403, "csrf", "the form expired: reload the page and try again")


@router.post("/login")
async def login_submit(
    request: Request,
    store: Store,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    """Log in and go where the user was going, else to the role's start page (START_PAGES)."""
    _check_sessionless_csrf(request, csrf_token)
    response = _redirect("/")
    try:
        principal, _ = await checked_log_in(
            request, response, store, settings, Login(username=username or "-", password=password or "-")
        )
    except ApiError as exc:
        if exc.status == 401:
            return _redirect(f"/login?failed=1&next={quote(next)}")
        raise
    target = next if next.startswith("/") and not next.startswith("//") and next != "/" else None
    response.headers["location"] = target or START_PAGES[principal.role]
    response.delete_cookie(LOGIN_CSRF)
    return response


def _invite_page(request: Request, token: str, data: dict[str, Any], status: int = 200) -> Response:
    return _sessionless_form(request, "invite.html", {"token": token, **data}, status=status)


def _offer(request: Request, store: Store, token: str) -> dict[str, Any] | Response:
    """What the invitation offers, or the page saying why the link no longer works."""
    try:
        return invitations.lookup(store, token)
    except invitations.InvitationError as exc:
        status = 410 if isinstance(exc, invitations.InvitationGone) else 404
        return _invite_page(request, "", {"offer": None, "error": str(exc)}, status)


@router.get("/invite/{token}")
def invite_page(request: Request, token: str, store: Store) -> Response:
    """An invited contact chooses a user name and password (the link says whether it is still good)."""
    offer = _offer(request, store, token[:200])
    if isinstance(offer, Response):
        return offer
    return _invite_page(request, token, {"offer": offer, "error": None, "username": offer["suggested_username"]})


@router.post("/invite/{token}")
def invite_accept(
    request: Request,
    token: str,
    store: Store,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    password_again: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Create the login and log in (to My account); a problem shows the form again, saying what is wrong."""
    _check_sessionless_csrf(request, csrf_token)
    token = token[:200]
    offer = _offer(request, store, token)
    if isinstance(offer, Response):
        return offer
    retry = {"offer": offer, "username": username}
    if password != password_again:
        return _invite_page(request, token, retry | {"error": STRINGS[language(request)]["passwords_differ"]}, 400)
    try:
        principal = invitations.accept(store, token, username=username, password=password)
    except (invitations.InvitationError, users.UserError) as exc:
        return _invite_page(request, token, retry | {"error": str(exc)}, 400)
    response = _redirect("/my")
    start_session(response, settings, principal)
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/logout")
def logout_page(store: Store, signed_in: SignedIn, principal: MaybeUser) -> Response:
    """End every session of this user."""
    response = _redirect("/")
    log_out(store, signed_in, response, principal)
    return response


# ------------------------------------------------------------------ customer account
def _own_customer(request: Request, principal: Principal | None) -> tuple[Principal, str]:
    user = _need(request, principal, Role.customer)
    if not user.customer_id:
        raise ApiError(403, "forbidden", "this login is not linked to a customer")
    return user, user.customer_id


@router.get("/my")
def my_account(request: Request, store: Store, principal: MaybeUser) -> Response:
    """My products, orders and cases."""
    user, customer_id = _own_customer(request, principal)
    data = {
        "customer": customers.profile(store, principal=user, customer_id=customer_id),
        "products": customers.installed_base(store, principal=user, customer_id=customer_id),
        "orders": customers.orders(store, principal=user, customer_id=customer_id, limit=20),
        "cases": cases.list_cases(store, principal=user, customer_id=customer_id, limit=20),
        "recommended": _recommendations(request, store, user, customer_id)["articles"],
    }
    return page(request, "my.html", data, principal=user)


def _recommendations(request: Request, store: Store, user: Principal, customer_id: str) -> dict[str, Any]:
    """What to recommend for the customer, for this reader, with articles in the page's language."""
    found = recommendations.for_customer(
        store, principal=user, customer_id=customer_id, as_of=utc_now(), language=language(request)
    )
    if found is None:
        raise not_found(f"customer {customer_id!r}")
    return found


@router.get("/my/cases/new")
def new_case_page(request: Request, store: Store, principal: MaybeUser) -> Response:
    """The new-case form: suggestions appear while the subject is typed."""
    user, customer_id = _own_customer(request, principal)
    products = customers.installed_base(store, principal=user, customer_id=customer_id)
    return page(request, "new_case.html", {"products": products}, principal=user)


@router.post("/my/cases")
def new_case_submit(
    request: Request,
    store: Store,
    principal: MaybeUser,
    subject: Annotated[str, Form(max_length=200)],
    description: Annotated[str, Form(max_length=10_000)] = "",
    product_id: Annotated[str, Form(max_length=100)] = "",
    suggestions_shown: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Open the case and show it."""
    user, customer_id = _own_customer(request, principal)
    case = cases.open_case(
        store,
        principal=user,
        customer_id=customer_id,
        subject=subject,
        description=description,
        product_id=product_id or None,
        suggestions_shown=[s for s in suggestions_shown.split(",") if s][:20],
    )
    return _redirect(f"/my/cases/{quote(case['id'])}")


@router.get("/my/cases/{case_id}")
def my_case(request: Request, case_id: str, kb: Knowledge, store: Store, principal: MaybeUser) -> Response:
    """One of my cases with its customer-visible notes; while it is active, articles that may solve it."""
    user, _ = _own_customer(request, principal)
    case = cases.get_case(store, principal=user, case_id=case_id)
    if case is None:
        raise not_found(f"case {case_id!r}")
    suggestions = None
    if case["status"] not in ("resolved", "closed"):
        found = portal.answer_for(
            kb, store, user, case.get("subject") or "", case_id=case_id, limit=3 + len(case["articles"])
        )
        linked = {a["id"] for a in case["articles"]}
        if not found.get("weak_match"):
            suggestions = [s for s in found["suggestions"] if s["id"] not in linked][:3]
    return page(request, "case.html", {"case": case, "suggestions": suggestions}, principal=user)


@router.post("/my/cases/{case_id}/notes")
def my_case_note(
    request: Request, case_id: str, store: Store, principal: MaybeUser, text: Annotated[str, Form(max_length=20_000)]
) -> Response:
    """Add a note to my case."""
    user, _ = _own_customer(request, principal)
    cases.add_note(store, principal=user, case_id=case_id, text=text)
    return _redirect(f"/my/cases/{quote(case_id)}")


@router.get("/my/data")
def my_data(request: Request, store: Store, principal: MaybeUser) -> Response:
    """Consent settings and the export link."""
    user, customer_id = _own_customer(request, principal)
    data = {"customer_id": customer_id, "consents": privacy.consents(store, principal=user, customer_id=customer_id)}
    return page(request, "my_data.html", data, principal=user)


@router.post("/my/data/consent")
async def my_consent(request: Request, store: Store, principal: MaybeUser) -> Response:
    """Save the consent checkboxes."""
    user, customer_id = _own_customer(request, principal)
    form = await request.form()
    current = privacy.consents(store, principal=user, customer_id=customer_id)
    for channel in privacy.CONSENT_CHANNELS:
        granted = form.get(channel) == "on"
        if current[channel]["granted"] != granted or current[channel]["recorded_at"] is None:
            privacy.set_consent(store, principal=user, customer_id=customer_id, channel=channel, granted=granted)
    return _redirect("/my/data?saved=1")


# ------------------------------------------------------------------ staff console
STAFF = (Role.admin, Role.engineer, Role.analyst, Role.marketer)


@router.get("/staff")
def staff_home(
    request: Request, store: Store, calendar: Calendar, principal: MaybeUser, status: str = "active"
) -> Response:
    """The case queue."""
    user = _need(request, principal, Role.admin, Role.engineer)
    rows = cases.list_cases(
        store,
        principal=user,
        status=status if status in ("active", *cases.STATUSES) else "",
        limit=100,
        calendar=calendar,
    )
    return page(request, "staff_queue.html", {"status": status, "cases": rows}, principal=user)


@router.get("/staff/cases/{case_id}")
def staff_case(
    request: Request, case_id: str, kb: Knowledge, store: Store, calendar: Calendar, principal: MaybeUser
) -> Response:
    """A case with every note, its SLA clocks, suggested answers with evidence, and the KCS actions."""
    user = _need(request, principal, Role.admin, Role.engineer)
    case = cases.get_case(store, principal=user, case_id=case_id, calendar=calendar)
    if case is None:
        raise not_found(f"case {case_id!r}")
    suggestions = portal.answer_for(kb, store, user, case.get("subject") or "", case_id=case_id)
    return page(request, "staff_case.html", {"case": case, "answer": suggestions}, principal=user)


@router.post("/staff/cases/{case_id}/notes")
def staff_note(
    request: Request,
    case_id: str,
    store: Store,
    principal: MaybeUser,
    text: Annotated[str, Form(max_length=20_000)],
    visibility: Annotated[str, Form(max_length=20)] = "internal",
) -> Response:
    """Add a note (internal by default)."""
    user = _need(request, principal, Role.admin, Role.engineer)
    cases.add_note(store, principal=user, case_id=case_id, text=text, visibility=visibility)
    return _redirect(f"/staff/cases/{quote(case_id)}")


@router.post("/staff/cases/{case_id}/status")
def staff_status(
    request: Request, case_id: str, store: Store, principal: MaybeUser, status: Annotated[str, Form(max_length=20)]
) -> Response:
    """Change the case's status."""
    user = _need(request, principal, Role.admin, Role.engineer)
    cases.set_status(store, principal=user, case_id=case_id, status=status)
    return _redirect(f"/staff/cases/{quote(case_id)}")


@router.post("/staff/cases/{case_id}/link")
def staff_link(
    request: Request,
    case_id: str,
    store: Store,
    principal: MaybeUser,
    article_id: Annotated[str, Form(max_length=100)],
    kind: Annotated[str, Form(max_length=20)] = "reused",
) -> Response:
    """KCS: link an article to the case."""
    user = _need(request, principal, Role.admin, Role.engineer)
    if not portal.link_article_on_case(store, principal=user, case_id=case_id, article_id=article_id, kind=kind):
        raise not_found(f"case {case_id!r}")
    usage_changed(request.app, article_id)
    return _redirect(f"/staff/cases/{quote(case_id)}")


@router.post("/staff/cases/{case_id}/draft")
def staff_draft(request: Request, case_id: str, store: Store, principal: MaybeUser) -> Response:
    """KCS: draft an internal article from the case and open it."""
    user = _need(request, principal, Role.admin, Role.engineer)
    draft = portal.draft_article_from_case(store, principal=user, case_id=case_id, linker=current_linker(request.app))
    if draft is None:
        raise not_found(f"case {case_id!r}")
    knowledge_changed(request.app)
    return _redirect(f"/staff/articles/{quote(draft.article_id)}")


# An article's fields in the console's forms (the API's ArticleNew / ArticleEdit accept the same).
ArticleTitle = Annotated[str, Form(min_length=1, max_length=TITLE_MAX_LENGTH)]
ArticleBody = Annotated[str, Form(min_length=1, max_length=BODY_MAX_LENGTH)]
ArticleAudience = Annotated[str, Form(max_length=20)]


@router.get("/staff/articles/new")
def staff_new_article(request: Request, store: Store, principal: MaybeUser) -> Response:
    """KCS: write a new article (work in progress; revise and validate it on its own page after)."""
    user = _need(request, principal, Role.admin, Role.engineer)
    return page(request, "staff_article_new.html", portal.new_article_form(store), principal=user)


@router.post("/staff/articles/new")
def staff_new_article_save(
    request: Request,
    store: Store,
    principal: MaybeUser,
    title: ArticleTitle,
    body: ArticleBody,
    audience: ArticleAudience,
    language: Annotated[str, Form(max_length=10)],
    products: Annotated[list[str] | None, Form(max_length=50)] = None,
) -> Response:
    """Create the article and open it for revision."""
    user = _need(request, principal, Role.admin, Role.engineer)
    fields = {"title": title, "body": body, "audience": audience, "language": language}
    article = portal.write_article(
        store, principal=user, fields={**fields, "products": products or []}, linker=current_linker(request.app)
    )
    knowledge_changed(request.app)
    return _redirect(f"/staff/articles/{quote(article['id'])}?saved=created")


@router.get("/staff/articles/{article_id}")
def staff_article(
    request: Request, article_id: str, store: Store, principal: MaybeUser, saved: str = "", case: str = ""
) -> Response:
    """KCS: revise an article — edit it as the next version, move its state, see its links, cases and versions.

    With `case` (reached from a case), saving an edit also links the article to that case as modified for it.
    """
    user = _need(request, principal, Role.admin, Role.engineer)
    data = portal.article_workbench(store, principal=user, article_id=article_id)
    if data is None:
        raise not_found(f"article {article_id!r}")
    solving = cases.get_case(store, principal=user, case_id=case) if case else None
    if case and solving is None:
        raise not_found(f"case {case!r}")
    data |= {
        "audiences": ARTICLE_AUDIENCES,
        "saved": saved if saved in ("edit", "state", "unchanged", "created") else "",
        "case": {"id": solving["id"], "subject": solving["subject"]} if solving else None,
    }
    return page(request, "staff_article.html", data, principal=user)


@router.post("/staff/articles/{article_id}/edit")
def staff_article_edit(
    request: Request,
    article_id: str,
    store: Store,
    principal: MaybeUser,
    title: ArticleTitle,
    body: ArticleBody,
    audience: ArticleAudience,
    case: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Save the form as the article's next version (nothing when unchanged); its text links are derived again.

    An edit made while solving `case` links the article to it as modified for the case (KCS "improve").
    """
    user = _need(request, principal, Role.admin, Role.engineer)
    if case and cases.get_case(store, principal=user, case_id=case) is None:
        raise not_found(f"case {case!r}")
    changes = {"title": title, "body": body, "audience": audience}
    result = portal.revise_article(
        store, principal=user, article_id=article_id, changes=changes, linker=current_linker(request.app)
    )
    if result is None:
        raise not_found(f"article {article_id!r}")
    if result["changed"]:
        if case:
            portal.link_article_on_case(store, principal=user, case_id=case, article_id=article_id, kind="modified")
        knowledge_changed(request.app)
    solving = f"&case={quote(case)}" if case else ""
    return _redirect(
        f"/staff/articles/{quote(article_id)}?saved={'edit' if result['changed'] else 'unchanged'}{solving}"
    )


@router.post("/staff/articles/{article_id}/state")
def staff_article_state(
    request: Request, article_id: str, store: Store, principal: MaybeUser, state: Annotated[str, Form(max_length=40)]
) -> Response:
    """Move the article to another KCS confidence state."""
    user = _need(request, principal, Role.admin, Role.engineer)
    if portal.move_article(store, principal=user, article_id=article_id, state=state) is None:
        raise not_found(f"article {article_id!r}")
    knowledge_changed(request.app)
    return _redirect(f"/staff/articles/{quote(article_id)}?saved=state")


@router.get("/staff/customers")
def staff_customers(request: Request, store: Store, principal: MaybeUser, q: str = "", after: str = "") -> Response:
    """Find a customer."""
    user = _need(request, principal, *STAFF)
    rows = customers.list_customers(store, principal=user, q=q[:100], after=after[:100], limit=50)
    return page(request, "staff_customers.html", {"q": q, "customers": rows}, principal=user)


@router.get("/staff/customers/{customer_id}")
def staff_customer(request: Request, customer_id: str, store: Store, principal: MaybeUser) -> Response:
    """Customer 360."""
    user = _need(request, principal, *STAFF)
    view = customers.customer_360(store, principal=user, customer_id=customer_id)
    if view is None:
        raise not_found(f"customer {customer_id!r}")
    view["portal_access"] = invitations.portal_access(store, principal=user, customer_id=customer_id)
    view["recommendations"] = _recommendations(request, store, user, customer_id)
    return page(request, "staff_customer.html", view, principal=user)


@router.get("/staff/sla")
def staff_sla(
    request: Request, store: Store, settings: AppSettings, calendar: Calendar, principal: MaybeUser
) -> Response:
    """Cases whose SLA is at risk or breached, most urgent first."""
    user = _need(request, principal, Role.admin, Role.engineer)
    rows = cases.sla_watchlist(store, principal=user, calendar=calendar, warning_share=settings.sla_warning_share)
    return page(request, "staff_sla.html", {"cases": rows}, principal=user)


@router.get("/staff/campaigns")
def staff_campaigns(request: Request, store: Store, principal: MaybeUser) -> Response:
    """Campaigns with their results."""
    user = _need(request, principal, Role.admin, Role.marketer)
    rows = campaigns.list_campaigns(store, principal=user)
    reports = [campaigns.results(store, principal=user, campaign_id=row["id"]) for row in rows]
    data = {"campaigns": [r for r in reports if r], "segments": loyalty.segments(store)}
    return page(request, "staff_campaigns.html", data, principal=user)


@router.get("/staff/campaigns/{campaign_id}")
def staff_campaign(request: Request, campaign_id: str, store: Store, principal: MaybeUser, after: str = "") -> Response:
    """One campaign: results and members with their personalised content."""
    user = _need(request, principal, Role.admin, Role.marketer)
    report = campaigns.results(store, principal=user, campaign_id=campaign_id)
    if report is None:
        raise not_found(f"campaign {campaign_id!r}")
    rows = campaigns.members(store, principal=user, campaign_id=campaign_id, after=after[:100], limit=100)
    return page(request, "staff_campaign.html", {"report": report, "members": rows}, principal=user)


@router.get("/staff/experts")
def staff_experts(request: Request, kb: Knowledge, store: Store, principal: MaybeUser, q: str = "") -> Response:
    """Who knows about this topic; without one, the topics to ask about."""
    user = _need(request, principal, *STAFF)
    found = [s.to_dict() for s in who_knows(kb, q.strip()[:500], limit=8)] if q.strip() else []
    listed = expert_topics(store) if not found else []  # what to ask about, also when nobody was found
    return page(request, "staff_experts.html", {"q": q, "experts": found, "topics": listed}, principal=user)


@router.get("/staff/knowledge-health")
def staff_knowledge_health(request: Request, kb: Knowledge, store: Store, principal: MaybeUser) -> Response:
    """KCS content health: what to reuse, review, improve or merge."""
    user = _need(request, principal, *STAFF)
    return page(request, "staff_health.html", portal.content_health_report(kb, store), principal=user)


# ------------------------------------------------------------------ analyst
@router.get("/analyst")
def analyst_page(request: Request, store: Store, principal: MaybeUser) -> Response:
    """The query form and saved queries."""
    user = _need(request, principal, Role.admin, Role.analyst)
    data: dict[str, Any] = {"saved": analyst.saved_queries(store, principal=user), "result": None, "language": "cypher"}
    data["query"] = analyst.EXAMPLE_QUERY
    return page(request, "analyst.html", data, principal=user)


@router.post("/analyst")
def analyst_run(
    request: Request,
    store: Store,
    settings: AppSettings,
    principal: MaybeUser,
    query: Annotated[str, Form(max_length=20_000)],
    language: Annotated[str, Form(pattern="^(cypher|sparql)$")] = "cypher",
    save_as: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Run (and optionally save) a query; a refused or failed query shows its error on the page."""
    from api.routers.analyst import run

    user = _need(request, principal, Role.admin, Role.analyst)
    error, result = None, None
    try:
        if save_as.strip():
            analyst.save_query(store, principal=user, name=save_as, language=language, query=query)
        result = run(request, store, settings, user, language=language, query=query, params={}).to_dict()
    except (analyst.QueryRefused, StoreError) as exc:  # shown on the page, like a console would
        error = str(exc)
    data = {
        "saved": analyst.saved_queries(store, principal=user),
        "result": result,
        "error": error,
        "query": query,
        "language": language,
    }
    return page(request, "analyst.html", data, principal=user, status=400 if error else 200)
