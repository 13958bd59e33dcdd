"""Comparison levels of many record pairs at once: `model.levels`, column by column over value codes.

Each field's values are replaced by integer codes, so missing values and equal values are
numpy comparisons, and a level that needs a string comparison is worked out once per distinct
pair of values in a chunk of pairs (names, cities, streets and e-mail domains repeat across a
customer base). The result is the same as `model.levels` on every pair; a test checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ingest.identity.compare import jaro_winkler, mailboxes
from ingest.identity.model import (
    FIELDS,
    NAME_CLOSE,
    NAME_SIMILAR,
    NAME_SWAPPED,
    NAMES,
    Record,
    code_level,
    dob_level,
    email_level,
    number_level,
    text_level,
)

CHUNK = 100_000  # pairs compared at a time (bounded temporaries, progress between chunks)
# The fields after the names, and the level of two of their values (e-mail: `Comparer`, with mailboxes cached).
_COMPARED: dict[str, Callable[[str, str], int] | None] = {
    "dob": dob_level,
    "email": None,
    "phone": code_level,
    "reg_id": code_level,
    "postcode": code_level,
    "street": text_level,
    "street_number": number_level,
    "city": text_level,
}
_COLUMN = {name: column for column, name in enumerate(NAMES)}


class _Codes:
    """One field's values as integer codes (-1 for a missing value) and the values they stand for."""

    def __init__(self, values: Sequence[str]) -> None:
        index: dict[str, int] = {}
        self.codes = np.fromiter(
            (index.setdefault(v, len(index)) if v else -1 for v in values), dtype=np.int64, count=len(values)
        )
        self.values = list(index)


def _compute(a: np.ndarray, b: np.ndarray, codes: _Codes, compute: Callable[[str, str], Any], dtype: Any) -> np.ndarray:
    """`compute(value_a, value_b)` where both values are present and differ (0 elsewhere), once per pair of values."""
    out = np.zeros(len(a), dtype=dtype)
    wanted = (a >= 0) & (b >= 0) & (a != b)
    if not wanted.any():
        return out
    size = len(codes.values)
    unique, inverse = np.unique(a[wanted] * size + b[wanted], return_inverse=True)
    values = codes.values
    out[wanted] = np.asarray([compute(values[k // size], values[k % size]) for k in unique.tolist()], dtype=dtype)[
        inverse
    ]
    return out


def _name_levels(a: np.ndarray, b: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """`model.name_level` from codes and Jaro-Winkler values: -1 missing, 3 same, 2 close, 1 similar, else 0."""
    levels = np.where(similarity >= NAME_CLOSE, 2, np.where(similarity >= NAME_SIMILAR, 1, 0)).astype(np.int8)
    levels[a == b] = 3
    levels[(a < 0) | (b < 0)] = -1
    return levels


class Comparer:
    """Comparison levels of record pairs given as index arrays into `records` (prepared records)."""

    def __init__(self, records: Sequence[Record]) -> None:
        size = len(records)
        self.person = np.fromiter((bool(r["given"] or r["family"]) for r in records), dtype=bool, count=size)
        # Given and family names share one code book, so a swapped first and last name compares by code.
        self.people = _Codes([r["given"] for r in records] + [r["family"] for r in records])
        self.given, self.family = self.people.codes[:size], self.people.codes[size:]
        self.fields = {name: _Codes([str(r[name]) for r in records]) for name in ("name", "form", *_COMPARED)}
        boxes = {email: mailboxes(email) for email in self.fields["email"].values}
        self.compared: dict[str, Callable[[str, str], int]] = {
            name: level_of or (lambda a, b: email_level(a, b, boxes[a], boxes[b]))
            for name, level_of in _COMPARED.items()
        }

    def levels(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The pairs × fields level matrix (int8, -1 where a value is missing), as `model.levels` gives it."""
        out = np.full((len(left), len(NAMES)), -1, dtype=np.int8)
        person = self.person[left] & self.person[right]
        if person.any():
            given, family = self._person_names(left[person], right[person])
            out[person, _COLUMN["given"]] = given
            out[person, _COLUMN["family"]] = family
        if not person.all():
            out[~person, _COLUMN["name"]] = self._names(left[~person], right[~person])
        for name, level_of in self.compared.items():
            codes = self.fields[name]
            a, b = codes.codes[left], codes.codes[right]
            levels = _compute(a, b, codes, level_of, np.int8)
            levels[a == b] = len(FIELDS[name]) - 1
            levels[(a < 0) | (b < 0)] = -1
            out[:, _COLUMN[name]] = levels
        return out

    def _person_names(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Given and family name levels of pairs of people, first and last name swapped where that fits better."""
        ga, fa, gb, fb = self.given[left], self.family[left], self.given[right], self.family[right]

        def similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            values = _compute(a, b, self.people, jaro_winkler, float)
            values[a == b] = 1.0
            values[(a < 0) | (b < 0)] = -1.0
            return values

        def positive_sum(first: np.ndarray, second: np.ndarray) -> np.ndarray:
            return np.where(first > 0, first, 0.0) + np.where(second > 0, second, 0.0)

        straight, crossed = (similarity(ga, gb), similarity(fa, fb)), (similarity(ga, fb), similarity(fa, gb))
        swap = (np.maximum(*crossed) > NAME_SWAPPED) & (positive_sum(*crossed) > positive_sum(*straight))
        given = _name_levels(ga, np.where(swap, fb, gb), np.where(swap, crossed[0], straight[0]))
        family = _name_levels(fa, np.where(swap, gb, fb), np.where(swap, crossed[1], straight[1]))
        return given, family

    def _names(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Name levels of pairs that are not two people; another legal form makes a similar company name differ."""
        names, forms = self.fields["name"], self.fields["form"]
        a, b = names.codes[left], names.codes[right]
        levels = _name_levels(a, b, _compute(a, b, names, jaro_winkler, float))
        form_a, form_b = forms.codes[left], forms.codes[right]
        levels[(levels > 0) & (form_a >= 0) & (form_b >= 0) & (form_a != form_b)] = 0
        return levels


def level_matrix(
    records: Sequence[Record],
    left: np.ndarray,
    right: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Levels of the pairs (records[left[i]], records[right[i]]), `CHUNK` pairs at a time."""
    comparer = Comparer(records)
    matrix = np.empty((len(left), len(NAMES)), dtype=np.int8)
    for start in range(0, len(left), CHUNK):
        stop = min(start + CHUNK, len(left))
        matrix[start:stop] = comparer.levels(np.asarray(left[start:stop]), np.asarray(right[start:stop]))
        if progress is not None:
            progress(stop, len(left))
    return matrix
