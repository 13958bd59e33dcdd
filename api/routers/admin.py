"""Administration: users and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import SignedIn, Store
from api.security import Admin
from kbcrm.access import audit, users
from kbcrm.access.models import Role

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


class NewUser(BaseModel):
    """A login: customers name their Customer node, staff may name their Employee node."""

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=200)
    role: Role
    name: str | None = Field(default=None, max_length=200)
    customer_id: str | None = Field(default=None, max_length=100)
    employee_id: str | None = Field(default=None, max_length=100)


@router.get("/users", summary="Every login (no password hashes)")
def list_users(store: Store, principal: Admin) -> list[dict[str, Any]]:
    """Id, name, role, status, linked customer."""
    return users.list_users(store)


@router.post("/users", status_code=201, summary="Create or update a login")
def create_user(store: Store, signed_in: SignedIn, principal: Admin, body: NewUser) -> dict[str, Any]:
    """Idempotent by user name; audited. A changed role or customer applies to the login's next request."""
    user = users.create_user(
        store,
        username=body.username,
        password=body.password,
        role=body.role,
        name=body.name,
        customer_id=body.customer_id,
        employee_id=body.employee_id,
    )
    signed_in.drop(user.user_id)
    audit.record(store, actor=principal.user_id, action="user_saved", target=user.user_id, detail={"role": user.role})
    return {"id": user.user_id, "name": user.name, "role": user.role.value, "customer_id": user.customer_id}


@router.get("/audit", summary="The audit log, newest first")
def audit_log(
    store: Store,
    principal: Admin,
    actor: Annotated[str, Query(max_length=100)] = "",
    target: Annotated[str, Query(max_length=200)] = "",
    action: Annotated[str, Query(max_length=50)] = "",
    skip: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Who did what to which record, when."""
    return audit.events(store, actor=actor, target=target, action=action, skip=skip, limit=limit)
