"""Customer lifetime value: purchase model (BG/NBD or Pareto/NBD) × spend model (Gamma-Gamma).

`analyse` is what `kbcrm loyalty clv` runs on any transaction file: fit on the calibration
period, compare predictions with the hold-out period when the file has one, and score CLV.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from kbcrm.loyalty import bgnbd, gamma_gamma, pareto_nbd
from kbcrm.loyalty.fitting import Fit
from kbcrm.loyalty.transactions import UNITS, Summary, Transactions, summarise

PurchaseModel = Literal["bgnbd", "pareto-nbd"]
DAYS_PER_MONTH = 365.25 / 12
MODELS = {"bgnbd": bgnbd, "pareto-nbd": pareto_nbd}


def fit_purchases(summary: Summary, model: PurchaseModel = "bgnbd") -> Fit:
    """Fit the purchase model on (x, t_x, T)."""
    return MODELS[model].fit(summary.frequency, summary.recency, summary.age)


def fit_spend(x: np.ndarray, monetary: np.ndarray) -> Fit | None:
    """Gamma-Gamma on the repeat buyers, or None when fewer than 3 have a positive mean spend."""
    if int(((x > 0) & (monetary > 0)).sum()) < 3:
        return None
    return gamma_gamma.fit(x, monetary)


def p_alive(fit: Fit, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive) under the fitted purchase model."""
    return MODELS[fit.model].p_alive(fit.vector(), x, t_x, T)  # type: ignore[no-any-return]


def expected_purchases(fit: Fit, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Expected purchases in the next `t` time units."""
    return MODELS[fit.model].expected_purchases(fit.vector(), t, x, t_x, T)  # type: ignore[no-any-return]


def lifetime_value(
    purchases: Fit,
    spend: Fit,
    x: np.ndarray,
    t_x: np.ndarray,
    T: np.ndarray,
    monetary: np.ndarray,
    *,
    unit: str,
    months: int = 12,
    annual_discount: float = 0.10,
) -> np.ndarray:
    """Discounted expected spend over `months` months: Σ_i ΔE[purchases in month i] · E[spend] / (1+d)^i."""
    per_month = DAYS_PER_MONTH / UNITS[unit]
    monthly_discount = (1 + annual_discount) ** (1 / 12) - 1
    spend_each = gamma_gamma.expected_spend(spend.vector(), x, monetary)
    value = np.zeros(len(x))
    previous = np.zeros(len(x))
    horizons = [month * per_month for month in range(1, months + 1)]
    cumulatives = MODELS[purchases.model].expected_purchases_over(purchases.vector(), horizons, x, t_x, T)
    for month, cumulative in enumerate(cumulatives, start=1):
        value += (cumulative - previous) / (1 + monthly_discount) ** month
        previous = cumulative
    return value * spend_each  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Holdout:
    """Predicted against actual repeat purchases after the calibration end."""

    length: float
    actual: float
    predicted: float
    by_frequency: list[tuple[str, int, float, float]]  # (x bucket, customers, actual mean, predicted mean)

    @property
    def error(self) -> float:
        """Relative error of the predicted total."""
        return (self.predicted - self.actual) / self.actual if self.actual else float("nan")


@dataclass(frozen=True)
class Analysis:
    """What `kbcrm loyalty clv` reports: fits, hold-out check, P(alive) and CLV per customer."""

    summary: Summary
    purchases: Fit
    spend: Fit | None
    holdout: Holdout | None
    p_alive: np.ndarray
    clv: np.ndarray | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (no per-customer arrays)."""
        out: dict[str, object] = {
            "customers": len(self.summary),
            "repeat_buyers": int((self.summary.frequency > 0).sum()),
            "unit": self.summary.unit,
            "purchases": self.purchases.as_dict(),
            "spend": self.spend.as_dict() if self.spend else None,
            "mean_p_alive": float(self.p_alive.mean()),
        }
        if self.clv is not None:
            out["clv"] = {"mean": float(self.clv.mean()), "total": float(self.clv.sum())}
        if self.holdout is not None:
            out["holdout"] = {
                "length": self.holdout.length,
                "actual": self.holdout.actual,
                "predicted": self.holdout.predicted,
                "error": self.holdout.error,
                "by_frequency": [
                    {"x": b, "customers": n, "actual": a, "predicted": p} for b, n, a, p in self.holdout.by_frequency
                ],
            }
        return out


def holdout_check(fit: Fit, summary: Summary) -> Holdout:
    """Sum and per-frequency means of predicted vs actual hold-out purchases (as Fader et al. plot them)."""
    predicted = expected_purchases(fit, summary.holdout_length, summary.frequency, summary.recency, summary.age)
    buckets: list[tuple[str, int, float, float]] = []
    top = 7
    for k in range(top + 1):
        mask = summary.frequency == k if k < top else summary.frequency >= top
        if mask.any():
            buckets.append(
                (
                    str(k) if k < top else f"{top}+",
                    int(mask.sum()),
                    float(summary.holdout_frequency[mask].mean()),
                    float(predicted[mask].mean()),
                )
            )
    return Holdout(
        length=summary.holdout_length,
        actual=float(summary.holdout_frequency.sum()),
        predicted=float(predicted.sum()),
        by_frequency=buckets,
    )


def analyse(
    tx: Transactions,
    *,
    calibration_end: date,
    model: PurchaseModel = "bgnbd",
    unit: str = "weeks",
    months: int = 12,
    annual_discount: float = 0.10,
) -> Analysis:
    """Fit purchase and spend models on the calibration period; hold-out check when data follows it."""
    summary = summarise(tx, calibration_end=calibration_end, unit=unit)
    if len(summary) == 0:
        raise ValueError(f"no customer made a first purchase on or before {calibration_end}")
    purchases = fit_purchases(summary, model)
    spend = fit_spend(summary.frequency, summary.monetary)
    holdout = holdout_check(purchases, summary) if summary.holdout_length > 0 else None
    alive = p_alive(purchases, summary.frequency, summary.recency, summary.age)
    value = (
        lifetime_value(
            purchases,
            spend,
            summary.frequency,
            summary.recency,
            summary.age,
            summary.monetary,
            unit=unit,
            months=months,
            annual_discount=annual_discount,
        )
        if spend is not None
        else None
    )
    return Analysis(summary=summary, purchases=purchases, spend=spend, holdout=holdout, p_alive=alive, clv=value)
