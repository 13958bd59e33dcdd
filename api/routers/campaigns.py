"""Campaigns (marketers, admins): create from a segment or a rule, members, responses, results."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import Store
from api.errors import not_found
from api.security import AnyUser
from kbcrm.graph import GraphStore
from kbcrm.operations.campaigns import service as campaigns
from knowledge_transfer.recommendations import next_best_articles

router = APIRouter(prefix="/api/v1/campaigns", tags=["campaigns"])


class NewCampaign(BaseModel):
    """A campaign: channel, who it targets, the control share."""

    name: str = Field(min_length=1, max_length=200)
    channel: str = Field(pattern="^(email|phone|post)$")
    segment_id: str = Field(default="", max_length=200)
    tiers: list[str] = Field(default_factory=list, max_length=10)
    min_churn_risk: float | None = Field(default=None, ge=0, le=1)
    max_churn_risk: float | None = Field(default=None, ge=0, le=1)
    min_clv: float | None = Field(default=None, ge=0)
    owns_product: str = Field(default="", max_length=100)
    country: str = Field(default="", max_length=2)
    graph_query: str = Field(
        default="",
        max_length=4000,
        description="Read-only Cypher whose `id` column lists the customers to target (analyst rules apply).",
    )
    control_share: float = Field(default=0.0, ge=0, lt=1)
    starts_on: date | None = None
    attribution_days: int = Field(default=90, ge=1, le=730)
    personalise: bool = Field(default=True, description="Recommended articles with reasons for each targeted member.")


class Response(BaseModel):
    """A member's response."""

    customer_id: str = Field(min_length=1, max_length=100)
    response: str = Field(pattern="^(opened|clicked|replied|converted|unsubscribed)$")


def personaliser(store: GraphStore) -> campaigns.Personaliser:
    """Customer-safe recommendations (articles about the customer's own products, with the reason and path)."""

    def content(customer_id: str) -> list[dict[str, Any]]:
        return [r.to_dict() for r in next_best_articles(store, customer_id, limit=3)]

    return content


@router.post("", status_code=201, summary="Create a campaign: target list (consent respected) and control group")
def new_campaign(store: Store, principal: AnyUser, body: NewCampaign) -> dict[str, Any]:
    """Only customers who consented to the channel are taken; the control split is deterministic."""
    rule = campaigns.TargetRule(
        segment_id=body.segment_id,
        tiers=tuple(body.tiers),
        min_churn_risk=body.min_churn_risk,
        max_churn_risk=body.max_churn_risk,
        min_clv=body.min_clv,
        owns_product=body.owns_product,
        country=body.country,
        graph_query=body.graph_query,
    )
    plan = campaigns.create_campaign(
        store,
        principal=principal,
        name=body.name,
        channel=body.channel,
        rule=rule,
        control_share=body.control_share,
        starts_on=body.starts_on,
        attribution_days=body.attribution_days,
        personalise=personaliser(store) if body.personalise else None,
    )
    return plan.to_dict()


@router.get("", summary="Campaigns with their member counts")
def list_campaigns(store: Store, principal: AnyUser) -> list[dict[str, Any]]:
    """Newest first."""
    return campaigns.list_campaigns(store, principal=principal)


@router.get("/{campaign_id}", summary="A campaign's results: response rate, revenue, retention vs control")
def results(campaign_id: str, store: Store, principal: AnyUser) -> dict[str, Any]:
    """Over the attribution window from the start date."""
    found = campaigns.results(store, principal=principal, campaign_id=campaign_id)
    if found is None:
        raise not_found(f"campaign {campaign_id!r}")
    return found


@router.get("/{campaign_id}/members", summary="Members with status, response and personalised content")
def members(
    campaign_id: str,
    store: Store,
    principal: AnyUser,
    after: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Keyset pages by customer id."""
    return campaigns.members(store, principal=principal, campaign_id=campaign_id, after=after, limit=limit)


@router.post("/{campaign_id}/responses", summary="Record a member's response")
def respond(campaign_id: str, store: Store, principal: AnyUser, body: Response) -> dict[str, Any]:
    """opened, clicked, replied, converted or unsubscribed."""
    return campaigns.record_response(
        store, principal=principal, campaign_id=campaign_id, customer_id=body.customer_id, response=body.response
    )
