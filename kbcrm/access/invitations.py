"""Portal invitations: staff invite contact persons of a customer company to create their own logins.

A company may have several portal logins, one per contact person. An invitation is single
use and expires; only the SHA-256 hash of its token is stored (the link is shown once, to
the member of staff who sent it). Accepting it creates a customer login that acts for the
company (ACTS_FOR) and belongs to the contact (LOGIN_OF). Everything is audited.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kbcrm.access import audit, users
from kbcrm.access.models import Principal, Role
from kbcrm.access.scope import require_account_writer, require_customer
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from kbcrm.mail import MailError, Message, SmtpMailer
from ontology.terms import Label, Rel

TOKEN_PREFIX = "kbi_"
DEFAULT_DAYS = 14
MAX_DAYS = 90
MAX_CONTACTS = 50

CONTACTS_ACCESS = cypher(
    "invitations.contacts_access",
    "MATCH (c:Customer {id: $customer})-[:HAS_CONTACT]->(k:Contact) "
    "WHERE k.status IS NULL OR k.status <> 'archived' "
    "OPTIONAL MATCH (u:User)-[:LOGIN_OF]->(k) "
    "OPTIONAL MATCH (i:Invitation {status: 'pending'})-[:INVITES]->(k) "
    "RETURN k.id AS contact_id, k.name AS name, k.email AS email, u.id AS user_id, u.status AS user_status, "
    "i.id AS invitation_id, i.expires_at AS expires_at, i.created_at AS invited_at ORDER BY k.name, k.id",
    example={"customer": "c1"},
    ordered=True,
)
BY_TOKEN = cypher(
    "invitations.by_token",
    "MATCH (i:Invitation {token_hash: $hash})-[:INVITES]->(k:Contact)<-[:HAS_CONTACT]-(c:Customer) "
    "RETURN i.id AS id, i.status AS status, i.expires_at AS expires_at, k.id AS contact_id, k.name AS contact_name, "
    "k.email AS email, coalesce(k.status, 'active') AS contact_status, c.id AS customer_id, c.name AS customer_name",
    example={"hash": "x"},
)
INVITATION = cypher(
    "invitations.invitation",
    "MATCH (i:Invitation {id: $id})-[:INVITES]->(k:Contact)<-[:HAS_CONTACT]-(c:Customer) "
    "RETURN i.id AS id, i.status AS status, c.id AS customer_id, k.id AS contact_id",
    example={"id": "invitation:none"},
)
# Claiming is one statement, so two people racing with the same link cannot both win.
CLAIM = cypher(
    "invitations.claim",
    "MATCH (i:Invitation {token_hash: $hash}) WHERE i.status = 'pending' AND i.expires_at > $now "
    "SET i.status = 'accepted', i.accepted_at = $now RETURN i.id AS id",
    example={"hash": "x", "now": "2026-01-01T00:00:00+00:00"},
)
RELEASE = cypher(
    "invitations.release",
    "MATCH (i:Invitation {id: $id}) WHERE i.status = 'accepted' SET i.status = 'pending', i.accepted_at = null",
    example={"id": "invitation:none"},
)
REVOKE_PENDING = cypher(
    "invitations.revoke_pending",
    "MATCH (k:Contact {id: $contact}) WITH k MATCH (i:Invitation)-[:INVITES]->(k) WHERE i.status = 'pending' "
    "SET i.status = 'revoked', i.revoked_at = $now RETURN i.id AS id",
    example={"contact": "k-none", "now": "2026-01-01T00:00:00+00:00"},
)
REVOKE = cypher(
    "invitations.revoke",
    "MATCH (i:Invitation {id: $id}) WHERE i.status = 'pending' SET i.status = 'revoked', i.revoked_at = $now "
    "RETURN i.id AS id",
    example={"id": "invitation:none", "now": "2026-01-01T00:00:00+00:00"},
)


class InvitationError(ValueError):
    """An invitation that cannot be sent or accepted; the message says why."""


class InvitationNotFound(InvitationError):
    """No such invitation (the API answers 404)."""


class InvitationGone(InvitationError):
    """The link was used, revoked or has expired (the API answers 410)."""


@dataclass(frozen=True)
class SentInvitation:
    """An invitation just sent: `token` is shown once and never stored."""

    id: str
    contact_id: str
    contact_name: str
    email: str | None
    token: str
    expires_at: str
    customer_name: str = ""

    def link(self, base_url: str) -> str:
        """The accept page for this invitation."""
        return f"{base_url.rstrip('/')}/invite/{self.token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_access(store: GraphStore, *, principal: Principal, customer_id: str) -> list[dict[str, Any]]:
    """Each active contact of the customer with their portal login, or pending invitation, or neither."""
    require_customer(principal, customer_id)
    rows = store.read(CONTACTS_ACCESS, customer=customer_id)
    now = utc_now()
    out = []
    for row in rows:
        pending = row["invitation_id"] is not None and row["expires_at"] > now
        if row["user_id"]:
            state = "login"
        elif pending:
            state = "invited"
        elif row["invitation_id"] is not None:
            state = "expired"
        else:
            state = "none"
        out.append({**row, "state": state, "username": (row["user_id"] or "").removeprefix("user:") or None})
    return out


def invite(
    store: GraphStore,
    *,
    principal: Principal,
    customer_id: str,
    contact_ids: Sequence[str],
    days: int = DEFAULT_DAYS,
) -> list[SentInvitation]:
    """Invite contacts of one customer; a contact's earlier pending invitation is revoked (its link stops working)."""
    require_account_writer(principal)
    if not 1 <= days <= MAX_DAYS:
        raise InvitationError(f"days: 1 to {MAX_DAYS}, not {days}")
    wanted = list(dict.fromkeys(contact_ids))
    if not wanted:
        raise InvitationError("contact_ids: choose at least one contact")
    if len(wanted) > MAX_CONTACTS:
        raise InvitationError(f"contact_ids: at most {MAX_CONTACTS} at a time")
    customer = store.get_node(Label.Customer, customer_id)
    if customer is None:
        raise InvitationNotFound(f"customer {customer_id!r} not found")
    contacts = {row["contact_id"]: row for row in portal_access(store, principal=principal, customer_id=customer_id)}
    for contact_id in wanted:
        row = contacts.get(contact_id)
        if row is None:
            raise InvitationError(f"contact {contact_id!r} is not an active contact of customer {customer_id!r}")
        if row["user_id"]:
            raise InvitationError(f"contact {contact_id!r} ({row['name']}) already has the login {row['username']!r}")
    now = datetime.now(UTC).replace(microsecond=0)
    expires = (now + timedelta(days=days)).isoformat()
    sent = []
    for contact_id in wanted:
        store.run(REVOKE_PENDING, contact=contact_id, now=now.isoformat())
        token = TOKEN_PREFIX + secrets.token_urlsafe(24)
        invitation_id = f"invitation:{secrets.token_hex(6)}"
        store.upsert_nodes(
            Label.Invitation,
            [
                {
                    "id": invitation_id,
                    "token_hash": _hash(token),
                    "status": "pending",
                    "expires_at": expires,
                    "invited_by": principal.user_id,
                    "created_at": now.isoformat(),
                }
            ],
        )
        store.upsert_relationships(
            Rel.INVITES,
            [{"start": invitation_id, "end": contact_id}],
            start_label=Label.Invitation,
            end_label=Label.Contact,
        )
        audit.record(
            store,
            actor=principal.user_id,
            action="invitation_sent",
            target=invitation_id,
            detail={"customer": customer_id, "contact": contact_id, "expires_at": expires},
        )
        row = contacts[contact_id]
        sent.append(
            SentInvitation(
                invitation_id,
                contact_id,
                row["name"],
                row["email"],
                token,
                expires,
                customer.get("name") or customer_id,
            )
        )
    return sent


def invitation_message(sent: SentInvitation, base_url: str) -> Message:
    """The e-mail that brings an invitation's link to its contact (English, then Chinese)."""
    company, link, until = sent.customer_name, sent.link(base_url), sent.expires_at[:10]
    text = (
        f"Hello {sent.contact_name},\n\n"
        f"you are invited to the customer portal for {company}: your products, orders and service cases, "
        "and our knowledge base.\n\n"
        f"Open this link to choose your user name and password (it works once, until {until}):\n\n{link}\n\n"
        "If you did not expect this e-mail, ignore it; nothing happens unless the link is used.\n\n"
        f"{sent.contact_name}，您好：\n\n我们邀请您使用 {company} 的客户门户。请打开上面的链接设置用户名和密码"
        f"（仅可使用一次，有效期至 {until}）。\n"
    )
    subject = " ".join(f"Your customer portal login for {company}".split())  # no line break reaches a header
    return Message(to=sent.email or "", subject=subject, text=text)


def email_links(
    store: GraphStore, sent: Sequence[SentInvitation], *, mailer: SmtpMailer, base_url: str, actor: str
) -> dict[str, str | None]:
    """E-mail each invitation's link to its contact: per invitation id None (sent) or why it was not. Audited.

    A link that could not be sent stays valid: staff see why and can pass it on themselves.
    """
    outcome: dict[str, str | None] = {s.id: "the contact has no e-mail address" for s in sent if not s.email}
    addressed = [s for s in sent if s.email]
    if addressed:
        try:
            results = mailer.send([invitation_message(s, base_url) for s in addressed])
        except MailError as exc:
            results = [str(exc)] * len(addressed)
        outcome.update(zip((s.id for s in addressed), results, strict=True))
    for s in sent:
        error = outcome[s.id]
        audit.record(
            store,
            actor=actor,
            action="invitation_emailed" if error is None else "invitation_email_failed",
            target=s.id,
            detail={"to": s.email, "error": error},
        )
    return outcome


def _pending(store: GraphStore, token: str) -> dict[str, Any]:
    """The invitation behind a token while it can still be accepted; InvitationGone/NotFound says why not."""
    rows = store.read(BY_TOKEN, hash=_hash(token)) if token.startswith(TOKEN_PREFIX) else []
    if not rows:
        raise InvitationNotFound("this invitation link is not valid: ask your account manager for a new one")
    row = rows[0]
    if row["status"] == "accepted":
        raise InvitationGone("this invitation was already used: log in with the user name chosen then")
    if row["status"] == "revoked":
        raise InvitationGone("this invitation was withdrawn: ask your account manager for a new one")
    if row["expires_at"] <= utc_now():
        raise InvitationGone(
            f"this invitation expired on {row['expires_at'][:10]}: ask your account manager for a new one"
        )
    if row["contact_status"] == "archived":
        raise InvitationGone("this invitation's contact is no longer active: ask your account manager")
    return row


def lookup(store: GraphStore, token: str) -> dict[str, Any]:
    """What an invitation link offers (company, contact, expiry); InvitationGone/NotFound says why not."""
    row = _pending(store, token)
    return {
        "customer_id": row["customer_id"],
        "customer_name": row["customer_name"],
        "contact_name": row["contact_name"],
        "email": row["email"],
        "expires_at": row["expires_at"],
        "suggested_username": _suggest_username(row["email"], row["contact_name"]),
    }


def _suggest_username(email: str | None, name: str | None) -> str:
    base = (email or "").split("@")[0] or (name or "").lower().replace(" ", ".")
    return "".join(ch for ch in base.lower() if ch.isalnum() or ch in "-_.")[:60]


def accept(store: GraphStore, token: str, *, username: str, password: str) -> Principal:
    """Create the contact's portal login; the invitation cannot be used again."""
    offer = _pending(store, token)
    users.check_credentials(username, password)
    reservation = users.reserve_username(store, username)
    if reservation is None:
        raise InvitationError(f"user name {username!r} is taken: choose another")
    claimed = store.run(CLAIM, hash=_hash(token), now=utc_now())
    if not claimed:
        users.release_username(store, username, reservation)
        raise InvitationGone("this invitation was already used or has expired")
    invitation_id, contact_id = claimed[0]["id"], offer["contact_id"]
    try:
        user = users.create_user(
            store,
            username=username,
            password=password,
            role=Role.customer,
            name=offer["contact_name"],
            customer_id=offer["customer_id"],
        )
    except users.UserError:
        store.run(RELEASE, id=invitation_id)
        users.release_username(store, username, reservation)
        raise
    users.confirm_username(store, username, reservation)
    store.upsert_relationships(
        Rel.LOGIN_OF, [{"start": user.user_id, "end": contact_id}], start_label=Label.User, end_label=Label.Contact
    )
    audit.record(
        store,
        actor=user.user_id,
        action="invitation_accepted",
        target=invitation_id,
        detail={"customer": offer["customer_id"], "contact": contact_id},
    )
    return user


def revoke(store: GraphStore, *, principal: Principal, invitation_id: str) -> dict[str, Any]:
    """Withdraw a pending invitation (its link stops working)."""
    require_account_writer(principal)
    rows = store.read(INVITATION, id=invitation_id)
    if not rows:
        raise InvitationNotFound(f"invitation {invitation_id!r} not found")
    if not store.run(REVOKE, id=invitation_id, now=utc_now()):
        raise InvitationError(f"invitation {invitation_id!r} is {rows[0]['status']}, not pending")
    audit.record(store, actor=principal.user_id, action="invitation_revoked", target=invitation_id)
    return {"id": invitation_id, "status": "revoked", "customer_id": rows[0]["customer_id"]}
