"""Opportunities (staff read; marketers and admins write): pipeline, stage moves, forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Store
from api.errors import not_found
from api.security import AnyUser
from kbcrm.operations.opportunities import service as opportunities

router = APIRouter(prefix="/api/v1/opportunities", tags=["opportunities"])
STAGE_PATTERN = "^(" + "|".join(opportunities.STAGES) + ")$"


class NewOpportunity(BaseModel):
    """A new opportunity; the owner defaults to the signed-in employee."""

    customer_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    amount: float = Field(gt=0, le=1e12)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")
    expected_close: date
    stage: str = Field(default="prospecting", pattern=STAGE_PATTERN)
    probability: float | None = Field(default=None, ge=0, le=1)
    owner_id: str = Field(default="", max_length=200)
    product_id: str = Field(default="", max_length=200)


class OpportunityChange(BaseModel):
    """Fields to change (stage moves go to /stage)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    amount: float | None = Field(default=None, gt=0, le=1e12)
    expected_close: date | None = None
    owner_id: str | None = Field(default=None, min_length=1, max_length=200)


class StageMove(BaseModel):
    """Move to a stage; won, lost and reopening need a reason."""

    stage: str = Field(pattern=STAGE_PATTERN)
    reason: str = Field(default="", max_length=300)
    probability: float | None = Field(default=None, ge=0, le=1)


@router.get("", summary="Opportunities (keyset-paged by id), filtered by stage ('open' too), owner, customer")
def list_opportunities(
    store: Store,
    principal: AnyUser,
    stage: Annotated[str, Query(pattern="^(|open|" + "|".join(opportunities.STAGES) + ")$")] = "",
    owner_id: Annotated[str, Query(max_length=200)] = "",
    customer_id: Annotated[str, Query(max_length=200)] = "",
    after: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """With weighted amount and an `overdue` flag for open ones past their expected close."""
    return opportunities.list_opportunities(
        store, principal=principal, stage=stage, owner_id=owner_id, customer_id=customer_id, after=after, limit=limit
    )


@router.post("", status_code=201, summary="Create an opportunity")
def new_opportunity(store: Store, principal: AnyUser, body: NewOpportunity) -> dict[str, Any]:
    """Its first stage change is recorded as history."""
    draft = opportunities.OpportunityDraft(**body.model_dump())
    return opportunities.create_opportunity(store, principal=principal, draft=draft)


@router.get("/forecast", summary="Weighted forecast per month, owner and currency")
def forecast(
    store: Store,
    principal: AnyUser,
    start: date | None = None,
    months: Annotated[int, Query(ge=1, le=36)] = 6,
    owner_id: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, Any]:
    """Open: amount × probability in the expected-close month; won: amount in the month closed."""
    first = start or datetime.now(UTC).date()
    return opportunities.forecast(store, principal=principal, start=first, months=months, owner_id=owner_id)


@router.get("/summary", summary="Pipeline per stage and currency, win rate, won/lost reasons")
def summary(store: Store, principal: AnyUser) -> dict[str, Any]:
    """Counts, amounts and weighted amounts."""
    return opportunities.pipeline_summary(store, principal=principal)


@router.get("/{opportunity_id}", summary="One opportunity with its stage history")
def get_opportunity(opportunity_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Customer, owner, product and every stage change (who, when, probability)."""
    found = opportunities.get_opportunity(store, principal=principal, opportunity_id=opportunity_id)
    if found is None:
        raise not_found(f"opportunity {opportunity_id!r}")
    return found


@router.patch("/{opportunity_id}", summary="Change name, amount, expected close or owner")
def change_opportunity(
    opportunity_id: str, store: Store, principal: AnyUser, body: OpportunityChange
) -> dict[str, Any]:
    """Audited."""
    return opportunities.update_opportunity(
        store, principal=principal, opportunity_id=opportunity_id, **body.model_dump(exclude_none=True)
    )


@router.post("/{opportunity_id}/stage", summary="Move to another stage (won/lost/reopen need a reason)")
def move_stage(opportunity_id: str, store: Store, principal: AnyUser, body: StageMove) -> dict[str, Any]:
    """Leaves a StageChange in the history."""
    return opportunities.move_stage(
        store,
        principal=principal,
        opportunity_id=opportunity_id,
        stage=body.stage,
        reason=body.reason,
        probability=body.probability,
    )
