"""Churn-model evaluation on a labelled public data set (IBM Telco Customer Churn layout).

The same `ChurnModel` that scores graph customers is fitted on 80 % of the file and measured
on the other 20 % (stratified, seeded): AUC, Brier score, calibration error.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from kbcrm.loyalty.churn import ChurnModel, Feature, Quality, Reason, quality

TELCO_NUMERIC = {
    "tenure": ("months as a customer", True),
    "MonthlyCharges": ("monthly charges", False),
    "TotalCharges": ("total charges", True),
    "SeniorCitizen": ("senior citizen", False),
}
TELCO_SKIP = {"customerID", "Churn"}


class ChurnDataError(ValueError):
    """A churn file that cannot be used: names the file, line, field and reason."""


@dataclass(frozen=True)
class ChurnEvaluation:
    """Test-split quality of the churn model, and the riskiest test customers with reasons."""

    quality: Quality
    model_version: str
    train_customers: int
    examples: list[tuple[str, float, list[Reason]]]  # (customer id, probability, reasons) of the riskiest


def telco_features(header: list[str]) -> list[Feature]:
    """Numeric columns (tenure and total charges also on a log scale) plus every other column as categorical."""
    features: list[Feature] = []
    for name in header:
        if name in TELCO_SKIP:
            continue
        if name in TELCO_NUMERIC:
            label, log = TELCO_NUMERIC[name]
            features.append(Feature(name, label, "numeric"))
            if log:
                # Risk falls fast in the first months, then slowly: a log term beside the linear one.
                features.append(Feature(f"log_{name}", label, "numeric", log=True, column=name))
        else:
            features.append(Feature(name, name, "categorical"))
    return features


def read_churn_file(
    path: Path, *, label_column: str = "Churn", id_column: str = "customerID"
) -> tuple[list[str], list[dict[str, str]], list[int]]:
    """(header, rows, 0/1 labels); the label column holds Yes/No, true/false or 1/0."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            missing = [c for c in (label_column, id_column) if c not in header]
            if missing:
                raise ChurnDataError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
            rows, labels = [], []
            for line, row in enumerate(reader, start=2):
                value = (row.get(label_column) or "").strip().lower()
                if value not in ("yes", "no", "true", "false", "1", "0"):
                    raise ChurnDataError(f"{path}: line {line}: field {label_column!r}: {value!r} is not yes/no")
                for name in TELCO_NUMERIC:
                    raw = (row.get(name) or "").strip()
                    if raw:
                        try:
                            float(raw)
                        except ValueError:
                            raise ChurnDataError(
                                f"{path}: line {line}: field {name!r}: {raw!r} is not a number"
                            ) from None
                rows.append(row)
                labels.append(1 if value in ("yes", "true", "1") else 0)
    except FileNotFoundError as exc:
        raise ChurnDataError(f"{path}: file not found") from exc
    return header, rows, labels


def evaluate_churn(path: Path, *, seed: int = 42, test_share: float = 0.2) -> ChurnEvaluation:
    """Fit on a stratified 80 % split, report quality on the held-out 20 %."""
    header, rows, labels = read_churn_file(path)
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=test_share, random_state=seed, stratify=labels
    )
    train = [rows[i] for i in train_idx]
    test = [rows[i] for i in test_idx]
    y = np.asarray(labels)
    model = ChurnModel(telco_features(header), seed=seed).fit(train, y[train_idx])
    probabilities = model.predict(test)
    riskiest = np.argsort(-probabilities)[:5]
    reasons = model.reasons([test[i] for i in riskiest])
    examples = [(test[i]["customerID"], float(probabilities[i]), r) for i, r in zip(riskiest, reasons, strict=True)]
    return ChurnEvaluation(
        quality=quality(probabilities, y[test_idx]),
        model_version=model.version,
        train_customers=len(train),
        examples=examples,
    )
