"""`kbcrm loyalty run`: every loyalty score for every customer, written back to the graph.

Steps: read customer activity in pages → fit BG/NBD + Gamma-Gamma (CLV, P(alive)) → train the
churn model on an earlier cut-off labelled by what happened next, score today → RFM →
relationship graph (PageRank, Louvain) → loyalty score and tier with reasons → credit rating →
k-means segments → 7P profile per customer (`profile`) → write scores, Segment nodes and
MEMBER_OF edges page by page.

Idempotent for one as-of date (same inputs, same values, MERGE by id) and resumable: a
checkpoint under DATA_DIR/loyalty records the pages already written for this model version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from kbcrm.graph import GraphStore
from kbcrm.loyalty import gamma_gamma, network, rfm
from kbcrm.loyalty.churn import ChurnModel
from kbcrm.loyalty.clv import MODELS, expected_purchases, fit_spend, lifetime_value, p_alive
from kbcrm.loyalty.features import (
    CHURN_FEATURES,
    bought_between,
    churn_row,
    payment_record,
    purchase_summary,
)
from kbcrm.loyalty.fitting import Fit
from kbcrm.loyalty.phrases import say
from kbcrm.loyalty.profile import Scores, seven_p
from kbcrm.loyalty.purchasing import credit_rating
from kbcrm.loyalty.segments import cluster
from kbcrm.loyalty.service import (
    CustomerActivity,
    activity_pages,
    relationship_edges,
    write_memberships,
    write_scores,
    write_segments,
)
from kbcrm.settings import Settings

Progress = Callable[[str, int, int], None]  # (step, done, total)
MIN_CUSTOMERS = 20
TIERS = ("vip", "loyal", "regular", "at-risk", "lapsed", "prospect")
LAPSED_P_ALIVE = 0.25  # below this the customer has most likely left: win back, not retain
AT_RISK_CHURN = 0.5
WEIGHTS = {"clv": 0.35, "p_alive": 0.25, "tenure": 0.15, "network": 0.15, "retention": 0.10}


@dataclass
class RunSummary:
    """What one loyalty run computed and wrote (also saved as JSON for the report)."""

    as_of: str
    model_version: str
    customers: int
    buyers: int
    purchases: dict[str, Any] | None = None
    spend: dict[str, Any] | None = None
    churn: dict[str, Any] | None = None
    tiers: dict[str, int] = field(default_factory=dict)
    rfm: dict[str, int] = field(default_factory=dict)
    credit: dict[str, int] = field(default_factory=dict)
    segments: list[dict[str, Any]] = field(default_factory=list)
    communities: int = 0
    median_age_weeks: float = 0.0
    written: int = 0
    skipped_pages: int = 0
    notes: list[str] = field(default_factory=list)


def _weeks(summary: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return summary["x"], summary["t_x"] / 7.0, summary["T"] / 7.0


def _percentile(values: np.ndarray) -> np.ndarray:
    if len(values) == 0:
        return values
    ranks = np.argsort(np.argsort(values, kind="stable"), kind="stable")
    return (ranks + 1) / len(values)


def latest_activity(customers: list[CustomerActivity]) -> date | None:
    """The newest order or interaction date: the default as-of date of a run."""
    days = [o["day"] for c in customers for o in c.orders if o["day"]]
    days += [str(i["at"])[:10] for c in customers for i in c.interactions if i["at"]]
    return date.fromisoformat(max(days)[:10]) if days else None


def _fit_purchases(
    customers: list[CustomerActivity], as_of: date, model: str
) -> tuple[dict[str, np.ndarray], Fit | None, Fit | None]:
    summary = purchase_summary(customers, as_of)
    if len(summary["x"]) < MIN_CUSTOMERS or not (summary["x"] > 0).any():
        return summary, None, None
    purchases = MODELS[model].fit(*_weeks(summary))
    spend = fit_spend(summary["x"], summary["monetary"])
    return summary, purchases, spend


def _p_alive_all(customers: list[CustomerActivity], summary: dict[str, np.ndarray], fit: Fit | None) -> np.ndarray:
    alive = np.zeros(len(customers))
    if fit is not None and len(summary["index"]):
        alive[summary["index"]] = p_alive(fit, *_weeks(summary))
    return alive


class NothingToScore(RuntimeError):
    """The graph holds no customers yet."""


def run_loyalty(
    store: GraphStore,
    settings: Settings,
    *,
    as_of: date | None = None,
    progress: Progress | None = None,
    page_size: int = 2000,
) -> RunSummary:
    """Compute and write every loyalty score; see the module docstring for the steps."""
    tick = progress or (lambda _s, _d, _t: None)
    customers: list[CustomerActivity] = []
    for chunk in activity_pages(store, page_size=page_size):
        customers.extend(chunk)
        tick("reading customers", len(customers), 0)
    if not customers:
        raise NothingToScore(
            "the graph holds no customers: load data first (`kbcrm load-demo DIR` or `kbcrm ingest customers FILE`)"
        )
    as_of = as_of or latest_activity(customers) or date.today()
    ids = [c.id for c in customers]
    summary_run = RunSummary(as_of=as_of.isoformat(), model_version="", customers=len(customers), buyers=0)

    # CLV and P(alive) at as_of.
    tick("fitting CLV models", 0, 1)
    summary, purchases, spend = _fit_purchases(customers, as_of, settings.clv_model)
    summary_run.buyers = len(summary["index"])
    summary_run.median_age_weeks = float(np.median(summary["T"]) / 7.0) if len(summary["T"]) else 0.0
    alive = _p_alive_all(customers, summary, purchases)
    clv = np.zeros(len(customers))
    expected = np.zeros(len(customers))
    spend_each = np.zeros(len(customers))
    if purchases is not None and spend is not None:
        x, t_x, T = _weeks(summary)
        months = settings.clv_horizon_months
        clv[summary["index"]] = lifetime_value(
            purchases,
            spend,
            x,
            t_x,
            T,
            summary["monetary"],
            unit="weeks",
            months=months,
            annual_discount=settings.clv_annual_discount,
        )
        expected[summary["index"]] = expected_purchases(purchases, months * 365.25 / 12 / 7, x, t_x, T)
        spend_each[summary["index"]] = gamma_gamma.expected_spend(spend.vector(), x, summary["monetary"])
        summary_run.purchases = purchases.as_dict()
        summary_run.spend = spend.as_dict()
    else:
        summary_run.notes.append(f"CLV not fitted: fewer than {MIN_CUSTOMERS} buyers or no repeat purchases")
    tick("fitting CLV models", 1, 1)

    # Churn: train as of an earlier cut-off, labelled by whether the customer bought in the horizon after it.
    tick("training churn model", 0, 1)
    horizon = settings.churn_horizon_days
    cutoff = as_of - timedelta(days=horizon)
    train_summary, train_fit, _ = _fit_purchases(customers, cutoff, settings.clv_model)
    train_alive = _p_alive_all(customers, train_summary, train_fit)
    train_rows, labels = [], []
    for i in train_summary["index"]:
        train_rows.append(churn_row(customers[i], cutoff, train_alive[i]))
        labels.append(0 if bought_between(customers[i], cutoff, as_of) else 1)
    score_rows = [churn_row(c, as_of, alive[i]) for i, c in enumerate(customers)]
    churn = np.full(len(customers), np.nan)
    churn_reasons: list[list[str]] = [[] for _ in customers]
    model: ChurnModel | None = None
    if len(labels) >= 40 and min(sum(labels), len(labels) - sum(labels)) >= 10:
        model = ChurnModel(CHURN_FEATURES, seed=settings.demo_seed).fit(train_rows, labels)
        buyers = summary["index"]
        churn[buyers] = model.predict([score_rows[i] for i in buyers])
        for i, reasons in zip(buyers, model.reasons([score_rows[i] for i in buyers]), strict=True):
            churn_reasons[i] = [say("churn_reason", reason=r.text, contribution=r.contribution) for r in reasons]
        q = model.out_of_fold
        summary_run.churn = {
            "version": model.version,
            "trained_as_of": cutoff.isoformat(),
            "horizon_days": horizon,
            "training_customers": len(labels),
            "churned_share": float(np.mean(labels)),
            "auc_out_of_fold": q.auc if q else None,
            "calibration_error": q.calibration_error if q else None,
            "reliability": q.reliability if q else [],
            "weights": model.weights(),
        }
    else:
        summary_run.notes.append("churn model not trained: too few customers with both outcomes before the cut-off")
    tick("training churn model", 1, 1)

    # RFM among buyers.
    rfm_score: dict[int, tuple[str, str]] = {}
    if len(summary["index"]):
        rows = [score_rows[i] for i in summary["index"]]
        totals = np.array([r["orders"] * r["mean_order_value"] for r in rows])
        scores, names = rfm.score(
            np.array([r["recency_days"] for r in rows]), np.array([r["orders"] for r in rows]), totals
        )
        rfm_score = {int(i): (s, n) for i, s, n in zip(summary["index"], scores, names, strict=True)}

    # Relationship structure.
    tick("analysing relationships", 0, 1)
    relationships, shared, owners = relationship_edges(store)
    structure = network.analyse(ids, relationships, shared, owners, seed=settings.demo_seed)
    summary_run.communities = len(set(structure.community.values()))
    tick("analysing relationships", 1, 1)

    # Loyalty score and tier among buyers.
    buyers = summary["index"]
    tenure = np.array([score_rows[i]["tenure_days"] for i in range(len(customers))])
    risk = np.nan_to_num(churn, nan=0.5)
    loyalty = np.zeros(len(customers))
    if len(buyers):
        parts = {
            "clv": _percentile(clv[buyers]),
            "p_alive": alive[buyers],
            "tenure": _percentile(tenure[buyers]),
            "network": np.array([structure.centrality_rank.get(ids[i], 0.0) for i in buyers]),
            "retention": 1.0 - risk[buyers],
        }
        loyalty[buyers] = sum(WEIGHTS[k] * v for k, v in parts.items())
    order = sorted(buyers.tolist(), key=lambda i: (-loyalty[i], ids[i]))
    vip_n = round(settings.loyalty_vip_share * len(order))
    loyal_n = round(settings.loyalty_loyal_share * len(order))
    tier = ["prospect"] * len(customers)
    for position, i in enumerate(order):
        if position < vip_n:
            tier[i] = "vip"
        elif position < vip_n + loyal_n:
            tier[i] = "loyal"
        elif alive[i] < LAPSED_P_ALIVE:
            tier[i] = "lapsed"
        elif risk[i] >= AT_RISK_CHURN:
            tier[i] = "at-risk"
        else:
            tier[i] = "regular"
    clv_pct = dict(zip(buyers.tolist(), _percentile(clv[buyers]).tolist(), strict=True))

    def loyalty_reasons(i: int) -> list[str]:
        if tier[i] == "prospect":
            return [say("no_order")]
        cid = ids[i]
        top = max(1, round(100 * (1 - clv_pct[i]) + 0.5))
        reasons = [
            say("clv_top", months=settings.clv_horizon_months, clv=clv[i], top=top),
            say("p_alive", p=alive[i]),
            say("tenure", years=tenure[i] / 365.25),
        ]
        if not np.isnan(churn[i]):
            reasons.append(say("churn_risk", risk=churn[i]))
        if structure.referrals_made.get(cid):
            reasons.append(say("referred", n=structure.referrals_made[cid]))
        if structure.subsidiaries.get(cid):
            reasons.append(say("parent_of", n=structure.subsidiaries[cid]))
        if structure.parent.get(cid):
            reasons.append(say("subsidiary_of", parent=structure.parent[cid]))
        if structure.centrality_rank.get(cid, 0) >= 0.9:
            reasons.append(say("central"))
        return reasons

    # Segments.
    tick("segmenting", 0, 1)
    seg_rows = [{**score_rows[i], "churn_risk": float(risk[i]), "clv": float(clv[i])} for i in buyers]
    clusters = cluster(seg_rows, seed=settings.demo_seed, horizon_months=settings.clv_horizon_months)
    cluster_of = {int(buyers[m]): s for s in clusters for m in s.members}
    tick("segmenting", 1, 1)

    version = _version(purchases, spend, model, settings, as_of)
    summary_run.model_version = version
    segment_nodes = [
        {
            "id": s.id,
            "name": s.name,
            "description": s.description,
            "rule": s.rule,
            "segment_kind": "cluster",
            "size": len(s.members),
            "model_version": version,
            "scored_as_of": as_of.isoformat(),
        }
        for s in clusters
    ]
    for kind, segment_names in (("tier", TIERS), ("rfm", [name for name, _, _ in rfm.SEGMENTS])):
        values = tier if kind == "tier" else [rfm_score.get(i, ("", ""))[1] for i in range(len(customers))]
        for name in segment_names:
            members = sum(1 for v in values if v == name)
            rule = (
                next(r for n, r, _ in rfm.SEGMENTS if n == name)
                if kind == "rfm"
                else {
                    "vip": say("rule_top", share=settings.loyalty_vip_share),
                    "loyal": say("rule_next", share=settings.loyalty_loyal_share),
                    "at-risk": say("rule_at_risk", p=LAPSED_P_ALIVE, risk=AT_RISK_CHURN),
                    "lapsed": say("rule_lapsed", p=LAPSED_P_ALIVE),
                    "regular": say("rule_other"),
                    "prospect": say("no_order"),
                }[name]
            )
            segment_nodes.append(
                {
                    "id": f"{kind}-{name.replace(' ', '-')}",
                    "name": say("group_name_tier", tier=name) if kind == "tier" else say("group_name_rfm", rfm=name),
                    "description": f"{say('members', n=members)}; {rule}",
                    "rule": rule,
                    "segment_kind": kind,
                    "size": members,
                    "model_version": version,
                    "scored_as_of": as_of.isoformat(),
                }
            )
    write_segments(store, segment_nodes)

    credit = [credit_rating(payment_record(c, as_of), as_of) for c in customers]

    # Write back, page by page, resumable.
    checkpoint = _checkpoint_path(settings, as_of)
    done_until = ""
    if checkpoint.exists():
        state = json.loads(checkpoint.read_text())
        if state.get("model_version") == version:
            done_until = state.get("written_until", "")
    for start in range(0, len(customers), page_size):
        page = range(start, min(start + page_size, len(customers)))
        if done_until and ids[page[-1]] <= done_until:
            summary_run.skipped_pages += 1
            tick("writing scores", page[-1] + 1, len(customers))
            continue
        rows, memberships = [], []
        for i in page:
            rating, credit_reasons = credit[i]
            rfm_code, rfm_name = rfm_score.get(i, ("", ""))
            bought = tier[i] != "prospect"
            known = Scores(
                tier=tier[i],
                segment=cluster_of[i].name if i in cluster_of else None,
                rfm_segment=rfm_name or None,
                p_alive=round(float(alive[i]), 4) if bought and purchases else None,
                clv=round(float(clv[i]), 2) if bought and spend else None,
                expected_orders=round(float(expected[i]), 3) if bought and purchases else None,
                expected_spend=round(float(spend_each[i]), 2) if bought and spend else None,
                churn_risk=None if np.isnan(churn[i]) else round(float(churn[i]), 4),
                credit_rating=rating,
                horizon_months=settings.clv_horizon_months,
            )
            rows.append(
                {
                    "id": ids[i],
                    "clv": round(float(clv[i]), 2) if bought else 0.0,
                    "p_alive": round(float(alive[i]), 4) if bought else None,
                    "expected_purchases": round(float(expected[i]), 3) if bought else None,
                    "expected_spend": round(float(spend_each[i]), 2) if bought and spend else None,
                    "churn_risk": None if np.isnan(churn[i]) else round(float(churn[i]), 4),
                    "churn_reasons": churn_reasons[i],
                    "loyalty_score": round(float(loyalty[i]), 4),
                    "loyalty_tier": tier[i],
                    "loyalty_reasons": loyalty_reasons(i),
                    "rfm_score": rfm_code or None,
                    "rfm_segment": rfm_name or None,
                    "credit_rating": rating,
                    "purchasing_power_reasons": [
                        say(
                            "expected_per_order",
                            orders=expected[i],
                            spend=spend_each[i],
                            months=settings.clv_horizon_months,
                        ),
                        *credit_reasons,
                    ]
                    if bought
                    else credit_reasons,
                    "network_centrality": round(float(structure.centrality.get(ids[i], 0.0)), 6),
                    "community": structure.community.get(ids[i]),
                    "profile_7p": json.dumps(seven_p(customers[i], known, as_of), ensure_ascii=False),
                    "model_version": version,
                    "scored_as_of": as_of.isoformat(),
                }
            )
            memberships.append({"start": ids[i], "end": f"tier-{tier[i]}", "model_version": version})
            if rfm_name:
                memberships.append(
                    {"start": ids[i], "end": f"rfm-{rfm_name.replace(' ', '-')}", "model_version": version}
                )
            if i in cluster_of:
                memberships.append({"start": ids[i], "end": cluster_of[i].id, "model_version": version})
        write_scores(store, rows)
        write_memberships(store, memberships)
        summary_run.written += len(rows)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_text(json.dumps({"model_version": version, "written_until": ids[page[-1]]}))
        tick("writing scores", page[-1] + 1, len(customers))

    checkpoint.unlink(missing_ok=True)  # only an interrupted run leaves one behind
    summary_run.tiers = {t: tier.count(t) for t in TIERS}
    summary_run.rfm = {n: sum(1 for v in rfm_score.values() if v[1] == n) for n, _, _ in rfm.SEGMENTS}
    summary_run.credit = {r: sum(1 for rating, _ in credit if rating == r) for r in ("A", "B", "C", "D")}
    summary_run.segments = [
        {"id": s.id, "name": s.name, "size": len(s.members), "description": s.description} for s in clusters
    ]
    save_summary(settings, summary_run)
    return summary_run


def _version(
    purchases: Fit | None, spend: Fit | None, churn: ChurnModel | None, settings: Settings, as_of: date
) -> str:
    payload = json.dumps(
        {
            "bgnbd": purchases.params if purchases else None,
            "gg": spend.params if spend else None,
            "churn": churn.version if churn else None,
            "as_of": as_of.isoformat(),
            "model": settings.clv_model,
            "settings": [
                settings.clv_horizon_months,
                settings.clv_annual_discount,
                settings.churn_horizon_days,
                settings.loyalty_vip_share,
                settings.loyalty_loyal_share,
            ],
        },
        sort_keys=True,
        default=lambda v: round(float(v), 8),
    )
    return "loyalty-" + hashlib.sha1(payload.encode()).hexdigest()[:12]


def _checkpoint_path(settings: Settings, as_of: date) -> Path:
    return settings.data_dir / "loyalty" / f"checkpoint-{as_of.isoformat()}.json"


def save_summary(settings: Settings, summary: RunSummary) -> Path:
    """The run's models and counts, for the report: DATA_DIR/loyalty/run-AS_OF.json and latest.json."""
    folder = settings.data_dir / "loyalty"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary.__dict__, indent=2, default=float)
    path = folder / f"run-{summary.as_of}.json"
    path.write_text(text, encoding="utf-8")
    (folder / "latest.json").write_text(text, encoding="utf-8")
    return path


def load_summary(settings: Settings) -> dict[str, Any] | None:
    """The summary of the newest run, or None before the first."""
    path = settings.data_dir / "loyalty" / "latest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
