"""Churn warning: a calibrated logistic model with reason codes in words.

Logistic regression keeps the model glass-box: a customer's log-odds is a sum of per-feature
contributions, so the reasons shown are exactly what moved the score (contribution = weight ×
(the customer's standardised value − the average customer's)). Probabilities are calibrated
with Platt scaling fitted on out-of-fold scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from kbcrm.loyalty.phrases import say


@dataclass(frozen=True)
class Feature:
    """One model input: a numeric (optionally log1p-transformed) or categorical column, with words for reasons."""

    name: str
    label: str
    kind: str = "numeric"  # numeric | categorical
    log: bool = False
    column: str = ""  # the input column when it differs from `name` (e.g. a log term beside a linear one)
    label_zh: str = ""  # the label on Chinese pages (kbcrm.loyalty.phrases); empty: the reason stays English

    @property
    def source(self) -> str:
        """The input column this feature reads."""
        return self.column or self.name


@dataclass(frozen=True)
class Reason:
    """One reason for a churn score: the feature, in words, and the log-odds it added."""

    feature: str
    text: str
    contribution: float  # log-odds added compared with the average customer


@dataclass(frozen=True)
class Quality:
    """How good and how well calibrated churn probabilities are on labelled customers."""

    auc: float
    brier: float
    calibration_error: float  # expected calibration error, 10 equal-width bins
    reliability: list[tuple[float, float, int]]  # (mean predicted, observed rate, customers) per bin
    customers: int
    churn_rate: float


@dataclass
class _Encoder:
    features: Sequence[Feature]
    means: dict[str, float] = field(default_factory=dict)
    scales: dict[str, float] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)

    def _numeric(self, feature: Feature, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        values = np.array([_number(row.get(feature.source)) for row in rows], dtype=np.float64)
        return np.log1p(np.maximum(values, 0.0)) if feature.log else values

    def fit(self, rows: Sequence[Mapping[str, Any]]) -> _Encoder:
        for f in self.features:
            if f.kind == "numeric":
                values = self._numeric(f, rows)
                self.means[f.name] = float(values.mean())
                self.scales[f.name] = float(values.std()) or 1.0
            else:
                self.levels[f.name] = sorted({str(row.get(f.source, "")) for row in rows})
        return self

    def columns(self) -> list[tuple[str, str]]:
        """(feature name, level or '') per design-matrix column."""
        out: list[tuple[str, str]] = []
        for f in self.features:
            if f.kind == "numeric":
                out.append((f.name, ""))
            else:
                out.extend((f.name, level) for level in self.levels[f.name])
        return out

    def transform(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        blocks = []
        for f in self.features:
            if f.kind == "numeric":
                blocks.append(((self._numeric(f, rows) - self.means[f.name]) / self.scales[f.name])[:, None])
            else:
                values = np.array([str(row.get(f.source, "")) for row in rows])
                blocks.append((values[:, None] == np.array(self.levels[f.name])[None, :]).astype(np.float64))
        return np.hstack(blocks)


def readable(number: float) -> str:
    """A number as a reason shows it: thousands grouped, two decimals, two digits below 1 (22,303; 2.86; 0.1; 0.005)."""
    if abs(number) >= 100:
        return f"{number:,.0f}"
    if abs(number) >= 1 or number == 0:
        return f"{number:.2f}".rstrip("0").rstrip(".")
    return f"{number:.2g}"


def _number(value: Any) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return 0.0
    return float(value)


class ChurnModel:
    """Fit on rows (mappings of feature name → value) and 0/1 labels; score with reasons."""

    def __init__(self, features: Sequence[Feature], *, regularisation: float = 1.0, seed: int = 0) -> None:
        self.features = list(features)
        self.regularisation = regularisation
        self.seed = seed
        self._encoder = _Encoder(self.features)
        self._model = LogisticRegression(C=regularisation, max_iter=5000)
        self._platt = (1.0, 0.0)
        self._column_means = np.empty(0)
        self.out_of_fold: Quality | None = None

    def fit(self, rows: Sequence[Mapping[str, Any]], labels: Sequence[int]) -> ChurnModel:
        """Fit the encoder, the Platt scaling (out-of-fold) and the final model on all rows."""
        y = np.asarray(labels, dtype=int)
        if len(set(y.tolist())) < 2:
            raise ValueError("churn labels need both churned and retained customers")
        self._encoder.fit(rows)
        X = self._encoder.transform(rows)
        self._column_means = X.mean(axis=0)
        # Out-of-fold decision values for Platt scaling, then the final model on all rows.
        folds = min(5, int(np.bincount(y).min()))
        oof = np.zeros(len(y))
        if folds >= 2:
            for train, test in StratifiedKFold(folds, shuffle=True, random_state=self.seed).split(X, y):
                fold_model = LogisticRegression(C=self.regularisation, max_iter=5000).fit(X[train], y[train])
                oof[test] = fold_model.decision_function(X[test])
            platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], y)
            self._platt = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
            # Quality on rows the scoring model did not see (out of fold, calibrated).
            self.out_of_fold = quality(1.0 / (1.0 + np.exp(-(self._platt[0] * oof + self._platt[1]))), y)
        self._model.fit(X, y)
        return self

    @property
    def version(self) -> str:
        """A stable id of the fitted model (features, weights, calibration)."""
        payload = json.dumps(
            [[f.name, f.kind, f.log] for f in self.features]
            + [np.round(self._model.coef_, 8).tolist(), np.round(self._model.intercept_, 8).tolist(), self._platt]
        )
        return "churn-logit-" + hashlib.sha1(payload.encode()).hexdigest()[:10]

    def predict(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated churn probabilities."""
        score = self._model.decision_function(self._encoder.transform(rows))
        slope, intercept = self._platt
        return 1.0 / (1.0 + np.exp(-(slope * score + intercept)))

    def reasons(self, rows: Sequence[Mapping[str, Any]], *, top: int = 3) -> list[list[Reason]]:
        """Per row, the features that raise churn risk most compared with the average customer."""
        X = self._encoder.transform(rows)
        contributions = (X - self._column_means) * self._model.coef_[0] * self._platt[0]
        columns = self._encoder.columns()
        names = [f.name for f in self.features]
        by_feature = np.zeros((len(rows), len(names)))
        for j, (name, _) in enumerate(columns):
            by_feature[:, names.index(name)] += contributions[:, j]
        out: list[list[Reason]] = []
        for i, row in enumerate(rows):
            order = np.argsort(-by_feature[i])
            picked = [k for k in order[:top] if by_feature[i, k] > 0.05]
            out.append([self._reason(self.features[k], row, float(by_feature[i, k])) for k in picked])
        return out

    def _reason(self, feature: Feature, row: Mapping[str, Any], contribution: float) -> Reason:
        value = row.get(feature.source)
        if feature.kind == "categorical":
            text = say("churn_categorical", feature=feature.label, value=value)
        else:
            number = _number(value)
            mean = self._encoder.means[feature.name]
            average = float(np.expm1(mean)) if feature.log else mean
            direction = "high" if (np.log1p(max(number, 0.0)) if feature.log else number) > mean else "low"
            typical = "typical" if feature.log else "average"
            text = say(
                "churn_numeric",
                feature=feature.label,
                direction=direction,
                value=readable(number),
                typical=typical,
                average=readable(average),
            )
        return Reason(feature=feature.name, text=text, contribution=round(contribution, 3))

    def weights(self) -> list[tuple[str, str, float]]:
        """(feature, level, weight in log-odds per standard deviation or for the level) — the whole model."""
        return [
            (name, level, float(w))
            for (name, level), w in zip(self._encoder.columns(), self._model.coef_[0], strict=True)
        ]


def quality(probabilities: np.ndarray, labels: Sequence[int] | np.ndarray, *, bins: int = 10) -> Quality:
    """AUC, Brier score and expected calibration error with its reliability table."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table: list[tuple[float, float, int]] = []
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_p, rate, n = float(p[mask].mean()), float(y[mask].mean()), int(mask.sum())
            table.append((mean_p, rate, n))
            ece += n / len(p) * abs(mean_p - rate)
    return Quality(
        auc=float(roc_auc_score(y, p)),
        brier=float(brier_score_loss(y, p)),
        calibration_error=ece,
        reliability=table,
        customers=len(y),
        churn_rate=float(y.mean()),
    )
