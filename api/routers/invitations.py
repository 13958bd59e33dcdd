"""Portal invitations: staff invite a company's contact persons; each accepts with a login of their own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.deps import AppSettings, Store
from api.routers.auth import me_body, start_session
from api.security import AnyUser
from kbcrm.access import invitations, sessions
from kbcrm.graph import GraphStore
from kbcrm.mail import SmtpMailer
from kbcrm.settings import Settings

router = APIRouter(prefix="/api/v1", tags=["invitations"])


class InvitationRequest(BaseModel):
    """Contacts of the customer to invite, and how many days the links stay valid."""

    contact_ids: list[str] = Field(min_length=1, max_length=invitations.MAX_CONTACTS)
    days: int = Field(default=invitations.DEFAULT_DAYS, ge=1, le=invitations.MAX_DAYS)


class InvitationToken(BaseModel):
    """The token from an invitation link (`/invite/<token>`)."""

    token: str = Field(min_length=1, max_length=200)


class Acceptance(InvitationToken):
    """The user name and password the invited contact chooses."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=200)


def deliver_links(
    request: Request, store: GraphStore, actor: str, sent: list[invitations.SentInvitation]
) -> list[dict[str, Any]]:
    """The invitations just sent, with their links (shown this once: only the tokens' hashes are kept).

    With e-mail on (KBCRM_SMTP_HOST), each link is also e-mailed to its contact: `emailed` says
    whether it was, `email_error` why not. Links start with KBCRM_PUBLIC_URL when set.
    """
    settings: Settings = request.app.state.settings
    base = settings.public_url or str(request.base_url)
    mailer = SmtpMailer.from_settings(settings)
    errors = invitations.email_links(store, sent, mailer=mailer, base_url=base, actor=actor) if mailer else {}
    return [
        {
            "id": s.id,
            "contact_id": s.contact_id,
            "contact_name": s.contact_name,
            "email": s.email,
            "expires_at": s.expires_at,
            "link": s.link(base),
            "emailed": mailer is not None and errors.get(s.id) is None,
            "email_error": errors.get(s.id),
        }
        for s in sent
    ]


@router.get("/customers/{customer_id}/portal-access", summary="Each contact's portal login or pending invitation")
def portal_access(customer_id: str, store: Store, principal: AnyUser) -> list[dict[str, Any]]:
    """State per active contact: login, invited, expired or none."""
    return invitations.portal_access(store, principal=principal, customer_id=customer_id)


@router.post(
    "/customers/{customer_id}/invitations",
    status_code=201,
    summary="Invite contacts of a customer to create portal logins (links shown once, and e-mailed when e-mail is on)",
)
def invite(
    request: Request, customer_id: str, store: Store, principal: AnyUser, body: InvitationRequest
) -> list[dict[str, Any]]:
    """Engineers, marketers and admins; a contact's earlier pending invitation stops working."""
    sent = invitations.invite(
        store, principal=principal, customer_id=customer_id, contact_ids=body.contact_ids, days=body.days
    )
    return deliver_links(request, store, principal.user_id, sent)


@router.post("/invitations/{invitation_id}/revoke", summary="Withdraw a pending invitation")
def revoke(invitation_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Its link stops working at once."""
    return invitations.revoke(store, principal=principal, invitation_id=invitation_id)


@router.post("/invitations/lookup", summary="What an invitation link offers (no login needed)")
def lookup(store: Store, body: InvitationToken) -> dict[str, Any]:
    """Company, contact, expiry and a suggested user name; 404 unknown, 410 used, withdrawn or expired."""
    return invitations.lookup(store, body.token)


@router.post("/invitations/accept", status_code=201, summary="Accept an invitation: creates the login, logs in")
def accept(response: Response, store: Store, settings: AppSettings, body: Acceptance) -> dict[str, Any]:
    """The new customer login acts for the company and belongs to the invited contact; the link is then used up."""
    principal = invitations.accept(store, body.token, username=body.username, password=body.password)
    cookie = start_session(response, settings, principal)
    return me_body(principal, sessions.csrf_token(settings.auth_secret.get_secret_value(), cookie))
