"""RFM: recency, frequency and monetary quintiles (5 = best) and the usual named segments."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# (segment, rule in words, test on R and FM = mean of F and M), in order; the first match names the customer.
SEGMENTS: list[tuple[str, str, Callable[[int, float], bool]]] = [
    ("champions", "R >= 4 and FM >= 4", lambda r, fm: r >= 4 and fm >= 4),
    ("loyal", "R >= 3 and FM >= 3.5", lambda r, fm: r >= 3 and fm >= 3.5),
    ("potential loyalists", "R >= 4 and FM >= 2", lambda r, fm: r >= 4 and fm >= 2),
    ("new", "R >= 4", lambda r, fm: r >= 4),
    ("need attention", "R = 3", lambda r, fm: r == 3),
    ("cannot lose them", "R <= 2 and FM >= 4", lambda r, fm: r <= 2 and fm >= 4),
    ("at risk", "R = 2", lambda r, fm: r == 2),
    ("hibernating", "R = 1 and FM >= 2", lambda r, fm: r == 1 and fm >= 2),
    ("lost", "otherwise", lambda r, fm: True),
]


def quintiles(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """1-5 by rank (ties share the lower rank's quintile), 5 = best."""
    if len(values) == 0:
        return np.empty(0, dtype=int)
    order = values if higher_is_better else -values
    ranks = np.argsort(np.argsort(order, kind="stable"), kind="stable")
    return (ranks * 5 // len(values) + 1).astype(int)


def segment_of(r: int, f: int, m: int) -> str:
    """The first segment whose rule matches the quintiles."""
    fm = (f + m) / 2
    return next(name for name, _, test in SEGMENTS if test(r, fm))


def score(recency_days: np.ndarray, frequency: np.ndarray, monetary: np.ndarray) -> tuple[list[str], list[str]]:
    """(score string like '545', segment name) per customer."""
    r = quintiles(recency_days, higher_is_better=False)
    f = quintiles(frequency)
    m = quintiles(monetary)
    return [f"{a}{b}{c}" for a, b, c in zip(r, f, m, strict=True)], [
        segment_of(int(a), int(b), int(c)) for a, b, c in zip(r, f, m, strict=True)
    ]
