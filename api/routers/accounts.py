"""Accounts and contacts: new customers (duplicate check), updates, archive, company groups, touches, timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import DuplicateCheck, Store
from api.security import AnyUser
from kbcrm.operations.accounts import service as accounts
from kbcrm.operations.touches import service as touches

router = APIRouter(tags=["accounts"])
ROLE_PATTERN = "^(" + "|".join(accounts.CONTACT_ROLES) + ")$"


class NewCustomer(BaseModel):
    """A new organization or person; `force` creates it even when it looks like a known customer."""

    kind: str = Field(pattern="^(organization|person)$")
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(default="", max_length=2)
    registration_id: str = Field(default="", max_length=50)
    birth_date: str = Field(default="", max_length=10)
    industry: str = Field(default="", max_length=100)
    parent_id: str = Field(default="", max_length=200)
    force: bool = False


class CustomerChange(BaseModel):
    """Fields to change; an empty string clears one (the name cannot be cleared)."""

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    street: str | None = Field(default=None, max_length=200)
    city: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=2)
    registration_id: str | None = Field(default=None, max_length=50)
    birth_date: str | None = Field(default=None, max_length=10)
    industry: str | None = Field(default=None, max_length=100)
    legal_name: str | None = Field(default=None, max_length=200)


class Archive(BaseModel):
    """Why the customer is archived."""

    reason: str = Field(min_length=1, max_length=300)


class Parent(BaseModel):
    """The company group's parent (null: stand alone)."""

    parent_id: str | None = Field(default=None, max_length=200)


class NewContact(BaseModel):
    """A contact person acting for the customer."""

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern=ROLE_PATTERN)
    email: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    job_title: str = Field(default="", max_length=200)


class ContactChange(BaseModel):
    """Contact fields to change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: str | None = Field(default=None, pattern=ROLE_PATTERN)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    job_title: str | None = Field(default=None, max_length=200)


class NewTouch(BaseModel):
    """A touch on any channel."""

    channel: str = Field(pattern="^(" + "|".join(touches.CHANNELS) + ")$")
    direction: str = Field(pattern="^(inbound|outbound)$")
    subject: str = Field(min_length=1, max_length=500)
    outcome: str = Field(default="", max_length=500)
    next_step: str = Field(default="", max_length=500)
    contact_id: str = Field(default="", max_length=200)
    occurred_at: datetime | None = Field(default=None, description="With a time zone; default: now")


@router.post(
    "/api/v1/customers",
    status_code=201,
    summary="Create a customer; 409 with the candidates when it looks like a known one",
)
def new_customer(store: Store, duplicates: DuplicateCheck, principal: AnyUser, body: NewCustomer) -> dict[str, Any]:
    """The identity resolver's scoring decides what is a possible duplicate; repeat with force=true to create."""
    fields = body.model_dump(exclude={"kind", "name", "parent_id", "force"})
    draft = accounts.CustomerDraft(kind=body.kind, name=body.name, **fields)
    return accounts.create_customer(
        store, principal=principal, draft=draft, find_duplicates=duplicates, force=body.force, parent_id=body.parent_id
    )


@router.patch("/api/v1/customers/{customer_id}", summary="Change a customer's fields")
def change_customer(customer_id: str, store: Store, principal: AnyUser, body: CustomerChange) -> dict[str, Any]:
    """Edited fields are kept when identity resolution runs again."""
    changes = body.model_dump(exclude_unset=True)
    return accounts.update_customer(store, principal=principal, customer_id=customer_id, changes=changes)


@router.post("/api/v1/customers/{customer_id}/archive", summary="Archive a customer (nothing is deleted)")
def archive_customer(customer_id: str, store: Store, principal: AnyUser, body: Archive) -> dict[str, Any]:
    """Archived customers leave target lists and new opportunities; restore brings them back."""
    return accounts.set_archived(store, principal=principal, customer_id=customer_id, archived=True, reason=body.reason)


@router.post("/api/v1/customers/{customer_id}/restore", summary="Restore an archived customer")
def restore_customer(customer_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Back to active."""
    return accounts.set_archived(store, principal=principal, customer_id=customer_id, archived=False)


@router.put("/api/v1/customers/{customer_id}/parent", summary="Set or clear the company group's parent")
def set_parent(customer_id: str, store: Store, principal: AnyUser, body: Parent) -> dict[str, Any]:
    """Cycles are refused."""
    return accounts.set_parent(store, principal=principal, customer_id=customer_id, parent_id=body.parent_id)


@router.get("/api/v1/customers/{customer_id}/group", summary="The company group: parents and subsidiaries")
def group(customer_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Staff only."""
    return accounts.hierarchy(store, principal=principal, customer_id=customer_id)


@router.get("/api/v1/customers/{customer_id}/contacts", summary="Contact persons with their roles")
def contacts(
    customer_id: str, store: Store, principal: AnyUser, include_archived: bool = False
) -> list[dict[str, Any]]:
    """A customer reads their own company's contacts."""
    return accounts.list_contacts(
        store, principal=principal, customer_id=customer_id, include_archived=include_archived
    )


@router.post("/api/v1/customers/{customer_id}/contacts", status_code=201, summary="Add a contact person")
def new_contact(customer_id: str, store: Store, principal: AnyUser, body: NewContact) -> dict[str, Any]:
    """409 when another active contact of the customer has the same e-mail."""
    return accounts.add_contact(store, principal=principal, customer_id=customer_id, **body.model_dump())


@router.patch("/api/v1/contacts/{contact_id}", summary="Change a contact")
def change_contact(contact_id: str, store: Store, principal: AnyUser, body: ContactChange) -> dict[str, Any]:
    """Name, role, e-mail, phone, job title."""
    changes = body.model_dump(exclude_unset=True)
    return accounts.update_contact(store, principal=principal, contact_id=contact_id, changes=changes)


@router.post("/api/v1/contacts/{contact_id}/archive", summary="Archive a contact")
def archive_contact(contact_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Their touches stay on the timeline."""
    return accounts.set_contact_archived(store, principal=principal, contact_id=contact_id, archived=True)


@router.post("/api/v1/contacts/{contact_id}/restore", summary="Restore an archived contact")
def restore_contact(contact_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Back to active."""
    return accounts.set_contact_archived(store, principal=principal, contact_id=contact_id, archived=False)


@router.get("/api/v1/customers/{customer_id}/timeline", summary="Everything that happened with a customer")
def timeline(
    customer_id: str,
    store: Store,
    principal: AnyUser,
    kinds: Annotated[list[str], Query(max_length=6)] = [],  # noqa: B006 - FastAPI reads the default
    before: Annotated[str, Query(max_length=40)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Touches, cases, orders, opportunity moves, campaign responses, consent; newest first, paged by `before`."""
    return touches.timeline(
        store, principal=principal, customer_id=customer_id, kinds=tuple(kinds), before=before, limit=limit
    )


@router.post("/api/v1/customers/{customer_id}/touches", status_code=201, summary="Log a touch on any channel")
def new_touch(customer_id: str, store: Store, principal: AnyUser, body: NewTouch) -> dict[str, Any]:
    """Direction, outcome and next step; optionally with one of the customer's contacts."""
    return touches.log_touch(store, principal=principal, customer_id=customer_id, **body.model_dump())
