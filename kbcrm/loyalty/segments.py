"""Behavioural segments: k-means on standardised loyalty features, named and described from their medians."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from kbcrm.loyalty.phrases import say

COLUMNS = ("recency_days", "orders", "mean_order_value", "p_alive", "churn_risk", "clv", "tenure_days")
LOGGED = {"recency_days", "orders", "mean_order_value", "clv", "tenure_days"}


@dataclass(frozen=True)
class Segment:
    """A named, described cluster and the rows in it."""

    id: str
    name: str
    description: str
    rule: str
    members: list[int]  # row indexes


def _matrix(rows: list[dict[str, float]]) -> np.ndarray:
    X = np.array([[r[c] for c in COLUMNS] for r in rows], dtype=np.float64)
    for j, column in enumerate(COLUMNS):
        if column in LOGGED:
            X[:, j] = np.log1p(np.maximum(X[:, j], 0.0))
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


def _name(medians: dict[str, float], clv_cut: tuple[float, float]) -> str:
    value = "High" if medians["clv"] >= clv_cut[1] else ("Mid" if medians["clv"] >= clv_cut[0] else "Low")
    if medians["p_alive"] >= 0.7 and medians["churn_risk"] < 0.4:
        activity = "active"
    elif medians["p_alive"] < 0.4 or medians["churn_risk"] >= 0.6:
        activity = "lapsing"
    else:
        activity = "cooling"
    return say("cluster_name", level=value, activity=activity)


def cluster(
    rows: list[dict[str, float]], *, seed: int = 7, k_range: range = range(3, 7), horizon_months: int = 12
) -> list[Segment]:
    """Segments chosen by the best silhouette over `k_range`; deterministic for the same rows and seed.

    `horizon_months`: the CLV's horizon, as the descriptions name it.
    """
    if len(rows) < 2 * k_range.start:
        return []
    X = _matrix(rows)
    sample = np.random.default_rng(seed).permutation(len(rows))[:5000]
    best: tuple[float, np.ndarray, int] | None = None
    for k in k_range:
        if k >= len(rows):
            break
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
        if len(set(labels[sample].tolist())) < 2:
            continue
        quality = float(silhouette_score(X[sample], labels[sample]))
        if best is None or quality > best[0]:
            best = (quality, labels, k)
    if best is None:
        return []
    _, labels, k = best
    clv = np.array([r["clv"] for r in rows])
    cut = (float(np.percentile(clv, 33)), float(np.percentile(clv, 67)))
    found: list[Segment] = []
    used: dict[str, int] = {}
    order = sorted(range(k), key=lambda c: -float(np.median(clv[labels == c])))
    for c in order:
        members = np.flatnonzero(labels == c).tolist()
        medians = {col: float(np.median([rows[i][col] for i in members])) for col in COLUMNS}
        name = _name(medians, cut)
        used[name] = used.get(name, 0) + 1
        if used[name] > 1:
            name = say("cluster_name_again", segment=name, n=used[name])
        slug = name.lower().replace(",", "").replace(" ", "-").replace("(", "").replace(")", "")
        found.append(
            Segment(
                id=f"segment-{slug}",
                name=name,
                description=say(
                    "cluster_description",
                    n=len(members),
                    months=horizon_months,
                    clv=medians["clv"],
                    p=medians["p_alive"],
                    risk=medians["churn_risk"],
                    orders=medians["orders"],
                    days=medians["recency_days"],
                    years=medians["tenure_days"] / 365.25,
                ),
                rule=f"k-means (k={k}, best silhouette of {k_range.start}-{k_range.stop - 1}) on "
                + ", ".join(f"log {c}" if c in LOGGED else c for c in COLUMNS),
                members=members,
            )
        )
    return found
