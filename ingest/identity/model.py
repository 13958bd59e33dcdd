"""The identity resolver's match model: comparison levels per field, m/u probabilities fitted by EM.

Each candidate pair gets one comparison level per field (`levels`), from "differ" up to
"same"; a field missing on either side has no level and adds no evidence. The model is
Fellegi-Sunter's: for each field and level, m is its probability among pairs that are one
customer and u among pairs that are not. A pair's score is the posterior log2-odds that it is
one customer — log2(prior / (1 - prior)) plus, per field, log2(m / u) — so 0 means even odds.

`fit` estimates the prior and every m and u from the candidate pairs themselves by
expectation-maximisation (as Splink does), starting from and shrunk towards `PRIOR`, so a
data set teaches the model how much a typo in a surname or a date of birth ten years off
says about its records, while a handful of records still get sensible weights.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from ingest.identity.compare import (
    company_core,
    date_similarity,
    digits,
    fold,
    jaro_winkler,
    legal_form,
    within_one_edit,
)

Record = dict[str, Any]

# Comparison levels per field, weakest first; a level's index is what `levels` returns.
FIELDS: dict[str, tuple[str, ...]] = {
    "given": ("differ", "similar", "close", "same"),
    "family": ("differ", "similar", "close", "same"),
    "name": ("differ", "similar", "close", "same"),
    "dob": ("differ", "within about 10 years", "within a year", "within a month or one typo", "same"),
    "email": ("differ", "similar user", "same user or one typo", "same"),
    "phone": ("differ", "one typo", "same"),
    "reg_id": ("differ", "one typo", "same"),
    "postcode": ("differ", "one typo", "same"),
    "street": ("differ", "similar", "same"),
    "street_number": ("differ", "same"),
    "city": ("differ", "similar", "same"),
}
NAMES = tuple(FIELDS)


def prepare(record: Record) -> Record:
    """A record's fields in the normalised forms the comparisons use (computed once per record)."""
    given, family = fold(record.get("given")), fold(record.get("family"))
    raw_name = record.get("name")
    dob = str(record.get("dob") or "")
    email = str(record.get("email") or "").strip().lower()
    try:
        dob_day = date(int(dob[:4]), int(dob[4:6]), int(dob[6:8])).toordinal() if len(dob) == 8 else None
    except ValueError:
        dob_day = None
    return {
        "id": str(record["id"]),
        "given": given,
        "family": family,
        "name": company_core(raw_name) if raw_name else " ".join(p for p in (given, family) if p),
        "form": legal_form(raw_name) if raw_name else "",
        "dob": dob,
        "dob_day": dob_day,
        "email": email,
        "local": email.partition("@")[0],
        "phone": digits(record.get("phone"))[-8:],
        "reg_id": str(record.get("reg_id") or ""),
        "postcode": str(record.get("postcode") or "").strip().upper(),
        "street": fold(record.get("street")),
        "street_number": str(record.get("street_number") or "").strip(),
        "city": fold(record.get("city")),
    }


def _name_level(a: str, b: str) -> int:
    if not a or not b:
        return -1
    if a == b:
        return 3
    similarity = jaro_winkler(a, b)
    return 2 if similarity >= 0.92 else 1 if similarity >= 0.8 else 0


def _code_level(a: str, b: str) -> int:
    if not a or not b:
        return -1
    return 2 if a == b else 1 if within_one_edit(a, b) else 0


def _text_level(a: str, b: str) -> int:
    if not a or not b:
        return -1
    return 2 if a == b else 1 if jaro_winkler(a, b) >= 0.85 else 0


def _dob_level(a: Record, b: Record) -> int:
    if not a["dob"] or not b["dob"]:
        return -1
    if a["dob"] == b["dob"]:
        return 4
    days = abs(a["dob_day"] - b["dob_day"]) if a["dob_day"] is not None and b["dob_day"] is not None else None
    if date_similarity(a["dob"], b["dob"]) > 0 or (days is not None and days <= 31):
        return 3
    if days is None:
        return 0
    return 2 if days <= 366 else 1 if days <= 3700 else 0


def _email_level(a: str, b: str, local_a: str, local_b: str) -> int:
    if not a or not b:
        return -1
    if a == b:
        return 3
    if local_a == local_b or jaro_winkler(a, b) >= 0.9:
        return 2
    return 1 if jaro_winkler(local_a, local_b) >= 0.85 else 0


def levels(a: Record, b: Record) -> list[int]:
    """Comparison level of each field in `NAMES` order for two prepared records; -1 where a value is missing."""
    person_a, person_b = bool(a["given"] or a["family"]), bool(b["given"] or b["family"])
    given_b, family_b = b["given"], b["family"]
    if person_a and person_b:
        straight = [
            jaro_winkler(x, y) if x and y else -1.0 for x, y in ((a["given"], given_b), (a["family"], family_b))
        ]
        swapped = [jaro_winkler(x, y) if x and y else -1.0 for x, y in ((a["given"], family_b), (a["family"], given_b))]
        if max(swapped) > 0.9 and sum(s for s in swapped if s > 0) > sum(s for s in straight if s > 0):
            given_b, family_b = family_b, given_b  # first and last name swapped
        given, family, name = _name_level(a["given"], given_b), _name_level(a["family"], family_b), -1
    else:
        given = family = -1
        name = _name_level(a["name"], b["name"])
        if name > 0 and a["form"] and b["form"] and a["form"] != b["form"]:
            name = 0  # "Atlas Foods GmbH" and "Atlas Foods AG" are different companies
    return [
        given,
        family,
        name,
        _dob_level(a, b),
        _email_level(a["email"], b["email"], a["local"], b["local"]),
        _code_level(a["phone"], b["phone"]),
        _code_level(a["reg_id"], b["reg_id"]),
        _code_level(a["postcode"], b["postcode"]),
        _text_level(a["street"], b["street"]),
        -1 if not a["street_number"] or not b["street_number"] else int(a["street_number"] == b["street_number"]),
        _text_level(a["city"], b["city"]),
    ]


@dataclass(frozen=True)
class Model:
    """Prior match probability among candidate pairs, and m and u per field and comparison level."""

    prior: float
    m: dict[str, tuple[float, ...]]
    u: dict[str, tuple[float, ...]]
    pairs: int = 0
    iterations: int = 0
    _bits: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def bits(self, name: str) -> np.ndarray:
        """log2(m / u) for each level of one field: the evidence that level adds."""
        if name not in self._bits:
            self._bits[name] = np.log2(np.asarray(self.m[name]) / np.asarray(self.u[name]))
        return self._bits[name]

    @property
    def prior_bits(self) -> float:
        """log2 of the prior odds."""
        return math.log2(self.prior / (1 - self.prior))

    def score(self, pair_levels: list[int]) -> float:
        """A pair's posterior log2-odds of being one customer."""
        return self.prior_bits + sum(
            float(self.bits(name)[level]) for name, level in zip(NAMES, pair_levels, strict=True) if level >= 0
        )

    def scores(self, matrix: np.ndarray) -> np.ndarray:
        """`score` of every row of a pairs × fields level matrix."""
        total = np.full(len(matrix), self.prior_bits)
        for column, name in enumerate(NAMES):
            values = matrix[:, column]
            present = values >= 0
            total[present] += self.bits(name)[values[present]]
        return total

    def evidence(self, pair_levels: list[int]) -> dict[str, str]:
        """Each compared field's level and the bits it added, e.g. {'dob': 'same (+6.1)'}."""
        return {
            name: f"{FIELDS[name][level]} ({float(self.bits(name)[level]):+.1f})"
            for name, level in zip(NAMES, pair_levels, strict=True)
            if level >= 0
        }

    def to_json(self) -> str:
        """The parameters as JSON (stored in the graph so single-pair checks use the fitted model)."""
        return json.dumps(
            {"prior": self.prior, "m": self.m, "u": self.u, "pairs": self.pairs, "iterations": self.iterations},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Model:
        """A model from `to_json`'s output."""
        body = json.loads(text)
        return cls(
            prior=body["prior"],
            m={k: tuple(v) for k, v in body["m"].items()},
            u={k: tuple(v) for k, v in body["u"].items()},
            pairs=body.get("pairs", 0),
            iterations=body.get("iterations", 0),
        )


# Starting point and shrinkage target: what each level usually says among blocked candidate pairs,
# as (m, u) per field — m among pairs that are one customer, u among pairs that are not.
_PRIOR_LEVELS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "given": ((0.05, 0.07, 0.13, 0.75), (0.80, 0.12, 0.04, 0.04)),
    "family": ((0.05, 0.07, 0.13, 0.75), (0.80, 0.10, 0.04, 0.06)),
    "name": ((0.05, 0.08, 0.17, 0.70), (0.85, 0.10, 0.03, 0.02)),
    "dob": ((0.03, 0.03, 0.04, 0.10, 0.80), (0.60, 0.25, 0.08, 0.04, 0.03)),
    "email": ((0.10, 0.05, 0.15, 0.70), (0.95, 0.03, 0.015, 0.005)),
    "phone": ((0.15, 0.10, 0.75), (0.97, 0.02, 0.01)),
    "reg_id": ((0.05, 0.05, 0.90), (0.98, 0.015, 0.005)),
    "postcode": ((0.10, 0.10, 0.80), (0.90, 0.05, 0.05)),
    "street": ((0.15, 0.15, 0.70), (0.90, 0.05, 0.05)),
    "street_number": ((0.20, 0.80), (0.85, 0.15)),
    "city": ((0.15, 0.10, 0.75), (0.75, 0.05, 0.20)),
}
PRIOR = Model(
    prior=0.2,
    m={name: m for name, (m, _u) in _PRIOR_LEVELS.items()},
    u={name: u for name, (_m, u) in _PRIOR_LEVELS.items()},
)


def fit(matrix: np.ndarray, *, start: Model = PRIOR, strength: float = 50.0, max_iterations: int = 200) -> Model:
    """Estimate the prior, m and u from candidate pairs' levels by EM, shrunk towards `start`.

    `strength` is how many pseudo-pairs of each class `start` counts for, per field: with few
    pairs the start model dominates, with thousands the data does. Deterministic.
    """
    if len(matrix) == 0:
        return start
    m = {name: np.asarray(start.m[name], dtype=float) for name in NAMES}
    u = {name: np.asarray(start.u[name], dtype=float) for name in NAMES}
    prior = start.prior
    present = {name: matrix[:, column] >= 0 for column, name in enumerate(NAMES)}
    values = {name: matrix[present[name], column] for column, name in enumerate(NAMES)}
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        log_odds = np.full(len(matrix), math.log(prior / (1 - prior)))
        for name in NAMES:
            log_odds[present[name]] += np.log(m[name][values[name]] / u[name][values[name]])
        match = 1 / (1 + np.exp(-np.clip(log_odds, -500, 500)))
        new_prior = (match.sum() + strength * start.prior) / (len(matrix) + strength)
        change = abs(new_prior - prior)
        prior = float(min(max(new_prior, 1e-6), 1 - 1e-6))
        for name in NAMES:
            size = len(FIELDS[name])
            weight = match[present[name]]
            m_counts = np.bincount(values[name], weights=weight, minlength=size) + strength * np.asarray(start.m[name])
            u_counts = np.bincount(values[name], weights=1 - weight, minlength=size) + strength * np.asarray(
                start.u[name]
            )
            new_m, new_u = m_counts / m_counts.sum(), u_counts / u_counts.sum()
            change = max(change, float(np.abs(new_m - m[name]).max()), float(np.abs(new_u - u[name]).max()))
            m[name], u[name] = new_m, new_u
        if change < 1e-7:
            break
    return Model(
        prior=round(prior, 12),
        m={name: tuple(round(float(x), 12) for x in m[name]) for name in NAMES},
        u={name: tuple(round(float(x), 12) for x in u[name]) for name in NAMES},
        pairs=len(matrix),
        iterations=iteration,
    )
