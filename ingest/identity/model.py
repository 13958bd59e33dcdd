"""The identity resolver's match model: comparison levels per field, m/u probabilities fitted by EM.

Each candidate pair gets one comparison level per field (`levels`), from "differ" up to
"same"; a field missing on either side has no level and adds no evidence. The model is
Fellegi-Sunter's: for each field and level, m is its probability among pairs that are one
customer and u among pairs that are not. A pair's score is the posterior log2-odds that it is
one customer — log2(prior / (1 - prior)) plus, per field, log2(m / u) — so 0 means even odds.

`fit` learns the model from the data set itself, the way Splink trains: u from all record
pairs (almost all of them two different customers), m and the prior by EM on candidate pairs
that agree on one identifier, shrunk towards `PRIOR`, so a data set teaches the model how
much a typo in a surname or a date of birth ten years off says about its records, while a
handful of records still get sensible weights. The prior is the probability that two records
drawn at random are one customer.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import numpy as np

from ingest.identity.compare import (
    company_core,
    date_similarity,
    digits,
    fold,
    jaro_winkler,
    legal_form,
    mailboxes,
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
# Jaro-Winkler thresholds of the name levels ("close", "similar"), and the crossed similarity above
# which a first and last name are taken as swapped; `levels` and `batch` both use them.
NAME_CLOSE, NAME_SIMILAR, NAME_SWAPPED = 0.92, 0.8, 0.9


def prepare(record: Record) -> Record:
    """A record's fields in the normalised forms the comparisons use (computed once per record)."""
    given, family = fold(record.get("given")), fold(record.get("family"))
    raw_name = record.get("name")
    dob = str(record.get("dob") or "")
    email = str(record.get("email") or "").strip().lower()
    return {
        "id": str(record["id"]),
        "given": given,
        "family": family,
        "name": company_core(raw_name) if raw_name else " ".join(p for p in (given, family) if p),
        "form": legal_form(raw_name) if raw_name else "",
        "dob": dob,
        "email": email,
        "mailboxes": mailboxes(email),
        "phone": digits(record.get("phone"))[-8:],
        "reg_id": str(record.get("reg_id") or ""),
        "postcode": str(record.get("postcode") or "").strip().upper(),
        "street": fold(record.get("street")),
        "street_number": str(record.get("street_number") or "").strip(),
        "city": fold(record.get("city")),
    }


def name_level(a: str, b: str) -> int:
    """Names: -1 missing, 3 the same, 2 Jaro-Winkler at 0.92 or more, 1 at 0.8 or more, else 0."""
    if not a or not b:
        return -1
    if a == b:
        return 3
    similarity = jaro_winkler(a, b)
    return 2 if similarity >= NAME_CLOSE else 1 if similarity >= NAME_SIMILAR else 0


def code_level(a: str, b: str) -> int:
    """Codes (phone, registration id, postcode): -1 missing, 2 the same, 1 one edit apart, else 0."""
    if not a or not b:
        return -1
    return 2 if a == b else 1 if within_one_edit(a, b) else 0


def text_level(a: str, b: str) -> int:
    """Street and city: -1 missing, 2 the same, 1 Jaro-Winkler at 0.85 or more, else 0."""
    if not a or not b:
        return -1
    return 2 if a == b else 1 if jaro_winkler(a, b) >= 0.85 else 0


def number_level(a: str, b: str) -> int:
    """House numbers: -1 missing, 1 the same, else 0."""
    return -1 if not a or not b else int(a == b)


@lru_cache(maxsize=65_536)
def _day(dob: str) -> int | None:
    """A YYYYMMDD date's day number, None when it is not a date."""
    try:
        return date(int(dob[:4]), int(dob[4:6]), int(dob[6:8])).toordinal() if len(dob) == 8 else None
    except ValueError:
        return None


def dob_level(a: str, b: str) -> int:
    """Dates of birth (YYYYMMDD): -1 missing, 4 the same, 3 a month apart or one typo, 2 a year, 1 ten years, else 0."""
    if not a or not b:
        return -1
    if a == b:
        return 4
    day_a, day_b = _day(a), _day(b)
    days = abs(day_a - day_b) if day_a is not None and day_b is not None else None
    if date_similarity(a, b) > 0 or (days is not None and days <= 31):
        return 3
    if days is None:
        return 0
    return 2 if days <= 366 else 1 if days <= 3700 else 0


def email_level(a: str, b: str, boxes_a: tuple[str, ...], boxes_b: tuple[str, ...]) -> int:
    """E-mail addresses and their `mailboxes`: -1 missing, 3 the same, 2 a mailbox one edit off, 1 similar, else 0."""
    if not a or not b:
        return -1
    if a == b:
        return 3
    if not boxes_a or not boxes_b:
        return 0  # info@… and sales@… say nothing about whose address it is
    if any(x == y or within_one_edit(x, y) for x in boxes_a for y in boxes_b):
        return 2
    return 1 if max(jaro_winkler(x, y) for x in boxes_a for y in boxes_b) >= 0.85 else 0


def levels(a: Record, b: Record) -> list[int]:
    """Comparison level of each field in `NAMES` order for two prepared records; -1 where a value is missing."""
    person_a, person_b = bool(a["given"] or a["family"]), bool(b["given"] or b["family"])
    given_b, family_b = b["given"], b["family"]
    if person_a and person_b:
        straight = [
            jaro_winkler(x, y) if x and y else -1.0 for x, y in ((a["given"], given_b), (a["family"], family_b))
        ]
        swapped = [jaro_winkler(x, y) if x and y else -1.0 for x, y in ((a["given"], family_b), (a["family"], given_b))]
        if max(swapped) > NAME_SWAPPED and sum(s for s in swapped if s > 0) > sum(s for s in straight if s > 0):
            given_b, family_b = family_b, given_b  # first and last name swapped
        given, family, name = name_level(a["given"], given_b), name_level(a["family"], family_b), -1
    else:
        given = family = -1
        name = name_level(a["name"], b["name"])
        if name > 0 and a["form"] and b["form"] and a["form"] != b["form"]:
            name = 0  # "Atlas Foods GmbH" and "Atlas Foods AG" are different companies
    return [
        given,
        family,
        name,
        dob_level(a["dob"], b["dob"]),
        email_level(a["email"], b["email"], a["mailboxes"], b["mailboxes"]),
        code_level(a["phone"], b["phone"]),
        code_level(a["reg_id"], b["reg_id"]),
        code_level(a["postcode"], b["postcode"]),
        text_level(a["street"], b["street"]),
        number_level(a["street_number"], b["street_number"]),
        text_level(a["city"], b["city"]),
    ]


@dataclass(frozen=True)
class Model:
    """Prior match probability among candidate pairs, and m and u per field and comparison level."""

    prior: float
    m: dict[str, tuple[float, ...]]
    u: dict[str, tuple[float, ...]]
    pairs: int = 0
    iterations: int = 0
    random_pairs: int = 0
    _bits: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def bits(self, name: str) -> np.ndarray:
        """log2(m / u) for each level of one field: the evidence that level adds.

        Capped so that no level counts for more than a closer one ("one typo" never outweighs
        "same"), whatever sampling noise did to the estimates.
        """
        if name not in self._bits:
            raw = np.log2(np.asarray(self.m[name]) / np.asarray(self.u[name]))
            self._bits[name] = np.minimum.accumulate(raw[::-1])[::-1]
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
            {
                "prior": self.prior,
                "m": self.m,
                "u": self.u,
                "pairs": self.pairs,
                "iterations": self.iterations,
                "random_pairs": self.random_pairs,
            },
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
            random_pairs=body.get("random_pairs", 0),
        )


# The model before any fit: what each level usually says among blocked candidate pairs, as (m, u)
# per field — m among pairs that are one customer, u among pairs that are not — with a prior of
# 0.2 among such candidates. It scores candidate pairs until a data set has been fitted, and
# its m is what `fit` shrinks towards.
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


# What each level's share usually is among random record pairs (almost all of them two different
# customers): the target `fit` shrinks u towards when a data set has few records.
RANDOM_U: dict[str, tuple[float, ...]] = {
    "given": (0.95, 0.03, 0.01, 0.01),
    "family": (0.97, 0.02, 0.005, 0.005),
    "name": (0.97, 0.02, 0.005, 0.005),
    "dob": (0.70, 0.29, 0.008, 0.001, 0.001),
    "email": (0.995, 0.004, 0.0009, 0.0001),
    "phone": (0.998, 0.0019, 0.0001),
    "reg_id": (0.998, 0.0019, 0.0001),
    "postcode": (0.98, 0.015, 0.005),
    "street": (0.98, 0.015, 0.005),
    "street_number": (0.95, 0.05),
    "city": (0.90, 0.05, 0.05),
}
# Training sessions: the candidate pairs that agree exactly on one identifier-like field. Inside
# a session the other fields are (nearly) independent of how its pairs were picked, so EM can
# split them into matches and non-matches with u held at its random-pair value. Names and cities
# are not sessions: many different customers share them, and e-mail domains and cities go with
# company names, so EM on "same name" pairs takes "same company name" for "same customer".
SESSIONS = ("email", "phone", "reg_id", "dob", "postcode")
MIN_SESSION = 20  # pairs a session needs to count


RANDOM_PAIRS = 20_000  # record pairs drawn at random for the u of the levels below "same"


def random_pairs(size: int, count: int = RANDOM_PAIRS, seed: int = 0) -> list[tuple[int, int]]:
    """`count` index pairs drawn at random from `size` records (seeded), or all pairs if there are fewer."""
    if size * (size - 1) // 2 <= count:
        return [(a, b) for a in range(size) for b in range(a + 1, size)]
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, size, count), rng.integers(0, size, count)
    return [(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True) if a != b]


def random_levels(records: list[Record]) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
    """What u is estimated from: random pairs' levels, and per field (pairs that agree, pairs with it on both sides).

    The second is counted from value frequencies over every record, so the rare "same" level's
    u is exact, not a sampling guess.
    """
    from ingest.identity.batch import level_matrix  # batch builds on this module's level functions

    pairs = np.asarray(random_pairs(len(records)), dtype=np.int64).reshape(-1, 2)
    matrix = level_matrix(records, pairs[:, 0], pairs[:, 1])
    agree: dict[str, tuple[int, int]] = {}
    for name in NAMES:
        # The company-name field is compared only between records without a person's name.
        values = Counter(
            record[name]
            for record in records
            if record[name] and (name != "name" or not record["given"] + record["family"])
        )
        both = sum(values.values())
        agree[name] = (sum(c * (c - 1) // 2 for c in values.values()), both * (both - 1) // 2)
    return matrix, agree


def fit(
    matrix: np.ndarray,
    records: Sequence[Record],
    *,
    start: Model = PRIOR,
    strength: float = 50.0,
    rounds: int = 3,
    max_iterations: int = 100,
) -> Model:
    """The match model of one data set: u from random record pairs, m and the prior by EM on candidate pairs.

    `matrix` holds the candidate pairs' levels; `records` are the data set's prepared records.
    u is each level's share among all record pairs — "same" counted exactly from value
    frequencies, the lower levels from pairs drawn at random — less the matches expected
    among them. For each session field, EM runs on the candidate
    pairs that agree on it, with u fixed, and estimates the share of matches among them and m
    for every other field; each field's m pools the sessions that estimated it. The prior — the
    probability that two records drawn at random are one customer — follows from each session
    as P(match | agree) · P(agree) / P(agree | match); the median over sessions is kept.
    `strength` is how many pseudo-pairs `start`'s m and `RANDOM_U` count for, so a handful of
    records still get sensible weights. Deterministic.
    """
    ordered = sorted(records, key=lambda record: record["id"])  # the same sample whatever the input order
    total = len(ordered) * (len(ordered) - 1) / 2
    if len(matrix) == 0 or total == 0:
        return start
    random_matrix, agree = random_levels(ordered)
    columns = {name: column for column, name in enumerate(NAMES)}
    start_m = {name: np.asarray(start.m[name], dtype=float) for name in NAMES}
    all_pairs = {}  # per field: how many of all pairs are at each level (estimated), with the field on both sides
    for name in NAMES:
        top = len(FIELDS[name]) - 1
        same, both = agree[name]
        values = random_matrix[:, columns[name]]
        sampled = np.bincount(values[(values >= 0) & (values < top)], minlength=top)[:top].astype(float)
        usual = np.asarray(RANDOM_U[name][:top]) / sum(RANDOM_U[name][:top])
        shares = (sampled + strength * usual) / (sampled.sum() + strength)  # a level the sample missed is rare, not 0
        below = np.append(shares * (both - same), 0.0)
        below[top] = same
        all_pairs[name] = below
    present = {name: all_pairs[name].sum() / total for name in NAMES}
    m = dict(start_m)
    prior = 1 / max(len(ordered), 2)  # each record about one duplicate, until a session says otherwise
    u: dict[str, np.ndarray] = {}
    iterations = 0
    for _round in range(rounds):
        for name in NAMES:  # u: all pairs, less the matches expected among them
            counts = np.maximum(all_pairs[name] - prior * all_pairs[name].sum() * m[name], 0.0)
            u[name] = (counts + strength * np.asarray(RANDOM_U[name])) / (counts.sum() + strength)
        pooled = {name: np.zeros(len(FIELDS[name])) for name in NAMES}
        priors = []
        for session in SESSIONS:
            top = len(FIELDS[session]) - 1
            rows = matrix[matrix[:, columns[session]] == top]
            if len(rows) < MIN_SESSION:
                continue
            others = [name for name in NAMES if name != session]
            share, weight, used = _session_em(rows, others, columns, m, u, start_m, strength, max_iterations)
            iterations += used
            for name in others:
                values = rows[:, columns[name]]
                known = values >= 0
                pooled[name] += np.bincount(values[known], weights=weight[known], minlength=len(FIELDS[name]))
            agree_given_match = present[session] * m[session][top]
            if agree_given_match > 0:
                priors.append(share * len(rows) / total / agree_given_match)
        m = {name: (pooled[name] + strength * start_m[name]) / (pooled[name].sum() + strength) for name in NAMES}
        if priors:
            prior = float(min(max(np.median(priors), 1e-12), 0.5))
    return Model(
        prior=_significant(prior),
        m={name: tuple(_significant(x) for x in m[name]) for name in NAMES},
        u={name: tuple(_significant(x) for x in u[name]) for name in NAMES},
        pairs=len(matrix),
        iterations=iterations,
        random_pairs=len(random_matrix),
    )


def _significant(value: float) -> float:
    """12 significant digits: the stored JSON stays short, and a u of 1e-13 does not round to 0."""
    return float(f"{float(value):.12g}")


def _session_em(
    rows: np.ndarray,
    others: list[str],
    columns: dict[str, int],
    m: dict[str, np.ndarray],
    u: dict[str, np.ndarray],
    start_m: dict[str, np.ndarray],
    strength: float,
    max_iterations: int,
) -> tuple[float, np.ndarray, int]:
    """EM on one session's pairs with u fixed: the share of matches, each pair's match probability, iterations."""
    known = {name: rows[:, columns[name]] >= 0 for name in others}
    values = {name: rows[known[name], columns[name]] for name in others}
    session_m = {name: m[name].copy() for name in others}
    share, weight, iteration = 0.5, np.full(len(rows), 0.5), 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - the count is reported
        log_odds = np.full(len(rows), math.log(share / (1 - share)))
        for name in others:
            log_odds[known[name]] += np.log(session_m[name][values[name]] / u[name][values[name]])
        weight = 1 / (1 + np.exp(-np.clip(log_odds, -500, 500)))
        new_share = float(min(max(weight.mean(), 1e-6), 1 - 1e-6))
        change = abs(new_share - share)
        share = new_share
        for name in others:
            counts = np.bincount(values[name], weights=weight[known[name]], minlength=len(FIELDS[name]))
            new_m = (counts + strength * start_m[name]) / (counts.sum() + strength)
            change = max(change, float(np.abs(new_m - session_m[name]).max()))
            session_m[name] = new_m
        if change < 1e-7:
            break
    return share, weight, iteration
