"""Customers: list, 360 view, orders, installed base, consent, export and erasure (GDPR)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import SignedIn, Store
from api.errors import not_found
from api.security import Admin, AnyUser, Staff
from kbcrm.customers import privacy, service
from kbcrm.graph.store import utc_now
from knowledge_transfer import recommendations

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


class ConsentChoice(BaseModel):
    """Consent for one channel."""

    granted: bool


@router.get("", summary="Customers (staff), keyset-paged by id")
def list_customers(
    store: Store,
    principal: Staff,
    q: Annotated[str, Query(max_length=100, description="Part of the name")] = "",
    tier: Annotated[str, Query(max_length=20, description="Loyalty tier")] = "",
    after: Annotated[str, Query(max_length=100, description="Last id of the previous page")] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """Id, name, kind, country and loyalty scores."""
    return service.list_customers(store, principal=principal, q=q, tier=tier, after=after, limit=limit)


@router.get("/{customer_id}", summary="Customer 360: profile, sources, orders, products, cases, scores, neighbours")
def customer_360(customer_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Customers may read their own; staff any."""
    view = service.customer_360(store, principal=principal, customer_id=customer_id)
    if view is None:
        raise not_found(f"customer {customer_id!r}")
    return view


@router.get("/{customer_id}/orders", summary="Orders, newest first, with payment status")
def orders(
    customer_id: str,
    store: Store,
    principal: AnyUser,
    skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The customer's orders."""
    return service.orders(store, principal=principal, customer_id=customer_id, skip=skip, limit=limit)


@router.get("/{customer_id}/orders/{order_id}", summary="One order's lines")
def order_lines(customer_id: str, order_id: str, store: Store, principal: AnyUser) -> list[dict[str, Any]]:
    """404 when the order is not this customer's."""
    lines = service.order_lines(store, principal=principal, customer_id=customer_id, order_id=order_id)
    if not lines:
        raise not_found(f"order {order_id!r}")
    return lines


@router.get("/{customer_id}/products", summary="Installed base")
def products(customer_id: str, store: Store, principal: AnyUser) -> list[dict[str, Any]]:
    """Products the customer owns, with serial numbers."""
    return service.installed_base(store, principal=principal, customer_id=customer_id)


@router.get("/{customer_id}/recommendations", summary="What to recommend for the customer, each with its reason")
def recommend(
    customer_id: str,
    store: Store,
    principal: AnyUser,
    language: Annotated[Literal["en", "zh"], Query(description="Which version of a translated article")] = "en",
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """Articles about known issues of the customer's products (customers: their own record).

    Staff also get cross-sell products and next-best actions. Each item has `reason` (English),
    `why` (the same facts by name) and its evidence `paths`.
    """
    found = recommendations.for_customer(
        store, principal=principal, customer_id=customer_id, as_of=utc_now(), language=language, limit=limit
    )
    if found is None:
        raise not_found(f"customer {customer_id!r}")
    return found


@router.get("/{customer_id}/consent", summary="Consent per channel (email, phone, post)")
def get_consent(customer_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """A channel never answered counts as not granted."""
    return privacy.consents(store, principal=principal, customer_id=customer_id)


@router.put("/{customer_id}/consent/{channel}", summary="Give or withdraw consent for a channel")
def set_consent(
    customer_id: str, channel: str, store: Store, principal: AnyUser, body: ConsentChoice
) -> dict[str, Any]:
    """The customer themself (or an admin for them); audited."""
    return privacy.set_consent(
        store, principal=principal, customer_id=customer_id, channel=channel, granted=body.granted
    )


@router.get("/{customer_id}/export", summary="Everything held on the customer, as JSON (GDPR access)")
def export(customer_id: str, store: Store, principal: AnyUser) -> JSONResponse:
    """Downloads as a file; audited."""
    data = privacy.export_customer(store, principal=principal, customer_id=customer_id)
    if data is None:
        raise not_found(f"customer {customer_id!r}")
    return JSONResponse(data, headers={"Content-Disposition": f'attachment; filename="{customer_id}-export.json"'})


@router.delete("/{customer_id}/personal-data", summary="Erase the customer's personal data (GDPR erasure, admin)")
def erase(customer_id: str, store: Store, signed_in: SignedIn, principal: Admin) -> dict[str, Any]:
    """Orders and cases stay, linked to an anonymous tombstone; the audit log keeps the erasure.

    The customer's logins are disabled: their sessions end with the erasure.
    """
    erased = privacy.erase_customer(store, principal=principal, customer_id=customer_id)
    signed_in.clear()  # the erased customer's logins (which ones is not returned)
    return {"customer_id": customer_id, "erased": erased}
