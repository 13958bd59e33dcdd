"""Identity resolution: blocking, pairwise scoring, clustering — one customer across sources.

A record is a flat dict of canonical fields (`given`, `family`, `name`, `dob` as YYYYMMDD
digits, `email`, `phone` digits, `street`, `street_number`, `city`, `postcode`, `reg_id`).
Scoring is Fellegi-Sunter style: each field adds a log-odds style weight for agreement,
partial agreement or disagreement (nothing when a value is missing); pairs at or above
the threshold are linked and linked records form one cluster (union-find). Everything is
deterministic: same input, same clusters. Weights and the threshold are parameters.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from ingest.identity.compare import (
    company_core,
    date_similarity,
    digits,
    fold,
    jaro_winkler,
    legal_form,
    soundex,
    within_one_edit,
)

Record = dict[str, Any]


@dataclass(frozen=True)
class Weights:
    """Agreement / partial / disagreement weights per field, and the link threshold."""

    given: tuple[float, float, float] = (4.0, 2.0, -2.5)
    family: tuple[float, float, float] = (5.0, 2.5, -3.5)
    name: tuple[float, float, float] = (7.0, 3.0, -4.0)
    dob: tuple[float, float, float] = (6.0, 2.5, -4.0)
    email: tuple[float, float, float] = (8.0, 3.0, -1.5)
    phone: tuple[float, float, float] = (7.0, 3.0, -1.5)
    reg_id: tuple[float, float, float] = (9.0, 4.0, -4.0)
    street: tuple[float, float, float] = (3.0, 1.0, -1.0)
    street_number: tuple[float, float, float] = (1.0, 0.0, -0.5)
    city: tuple[float, float, float] = (2.0, 1.0, -2.0)
    postcode: tuple[float, float, float] = (3.0, 1.0, -1.5)
    threshold: float = 6.0


@dataclass(frozen=True)
class Link:
    """Two records judged to be the same customer, with the score and the fields that agreed."""

    left: str
    right: str
    score: float
    agreed: tuple[str, ...]


@dataclass
class Resolution:
    """Clusters (lists of record ids), the links behind them, and the candidate pairs examined."""

    clusters: list[list[str]]
    links: list[Link]
    candidate_pairs: int
    pairs: set[tuple[str, str]] = field(default_factory=set)


def _text_sim(a: str, b: str) -> float:
    return jaro_winkler(a, b) if a and b else -1.0


def _grade(sim: float, full: float = 0.95, partial: float = 0.85) -> int:
    """2 = agree, 1 = partial, 0 = disagree, -1 = missing."""
    if sim < 0:
        return -1
    return 2 if sim >= full else 1 if sim >= partial else 0


def compare(a: Record, b: Record, weights: Weights) -> tuple[float, tuple[str, ...]]:
    """Score of a record pair and the fields that agreed."""
    grades: dict[str, int] = {}
    given_a, family_a = fold(a.get("given")), fold(a.get("family"))
    given_b, family_b = fold(b.get("given")), fold(b.get("family"))
    straight = (_text_sim(given_a, given_b), _text_sim(family_a, family_b))
    swapped = (_text_sim(given_a, family_b), _text_sim(family_a, given_b))
    if min(swapped) > max(straight) and min(swapped) >= 0.9:  # first and last name swapped
        straight = swapped
    grades["given"], grades["family"] = _grade(straight[0]), _grade(straight[1], 0.95, 0.88)
    if not (given_a or family_a) or not (given_b or family_b):
        grades["name"] = _grade(_text_sim(company_core(a.get("name")), company_core(b.get("name"))), 0.95, 0.88)
        form_a, form_b = legal_form(a.get("name")), legal_form(b.get("name"))
        if form_a and form_b and form_a != form_b and grades["name"] > 0:
            grades["name"] = 0  # "Atlas Foods GmbH" and "Atlas Foods AG" are different companies
    dob = date_similarity(str(a.get("dob") or ""), str(b.get("dob") or ""))
    grades["dob"] = -1 if not a.get("dob") or not b.get("dob") else (2 if dob == 1 else 1 if dob > 0 else 0)
    email_a, email_b = str(a.get("email") or "").lower(), str(b.get("email") or "").lower()
    if not email_a or not email_b:
        grades["email"] = -1
    elif email_a == email_b:
        grades["email"] = 2
    elif digits(email_a) == digits(email_b):  # typos, but not another person's numbered address (x12 vs x40)
        grades["email"] = _grade(jaro_winkler(email_a, email_b), 2.0, 0.9)
    else:
        grades["email"] = 0
    phone_a, phone_b = str(a.get("phone") or "")[-8:], str(b.get("phone") or "")[-8:]
    grades["phone"] = (
        -1
        if not phone_a or not phone_b
        else (2 if phone_a == phone_b else 1 if within_one_edit(phone_a, phone_b) else 0)
    )
    reg_a, reg_b = str(a.get("reg_id") or ""), str(b.get("reg_id") or "")
    grades["reg_id"] = (
        -1 if not reg_a or not reg_b else (2 if reg_a == reg_b else 1 if within_one_edit(reg_a, reg_b) else 0)
    )
    grades["street"] = _grade(_text_sim(fold(a.get("street")), fold(b.get("street"))), 0.93, 0.8)
    num_a, num_b = str(a.get("street_number") or ""), str(b.get("street_number") or "")
    grades["street_number"] = -1 if not num_a or not num_b else (2 if num_a == num_b else 0)
    grades["city"] = _grade(_text_sim(fold(a.get("city")), fold(b.get("city"))), 0.93, 0.85)
    post_a, post_b = str(a.get("postcode") or ""), str(b.get("postcode") or "")
    grades["postcode"] = (
        -1 if not post_a or not post_b else (2 if post_a == post_b else 1 if within_one_edit(post_a, post_b) else 0)
    )
    score = 0.0
    agreed = []
    for name, grade in grades.items():
        if grade < 0:
            continue
        agree, partial, disagree = getattr(weights, name)
        score += (disagree, partial, agree)[grade]
        if grade == 2:
            agreed.append(name)
    return score, tuple(agreed)


def blocking_keys(record: Record) -> list[str]:
    """Keys that put likely duplicates in the same block; several passes so one typo does not hide a pair."""
    given, family = fold(record.get("given")), fold(record.get("family"))
    name_core = company_core(record.get("name")) if not (given or family) else ""
    dob = str(record.get("dob") or "")
    keys = []
    if record.get("reg_id"):
        keys.append(f"reg:{record['reg_id']}")
    if record.get("email"):
        email = str(record["email"]).lower()
        keys.append(f"email:{email}")
        local, _, domain = email.partition("@")
        keys.append(f"elocal:{local}")
        keys.append(f"edomain:{domain}")
    if record.get("phone"):
        keys.append(f"phone:{str(record['phone'])[-8:]}")
    if dob:
        keys.append(f"dob:{dob}")
    if family:
        keys.append(f"fam:{soundex(family)}:{given[:1]}")
        keys.append(f"famonly:{soundex(family)}")
        if record.get("postcode"):
            keys.append(f"post:{record['postcode']}:{family[:1]}")
        if dob:
            keys.append(f"famyear:{soundex(family)}:{dob[:4]}")
    if given:
        keys.append(f"giv:{soundex(given)}:{dob[:4] if dob else fold(record.get('city'))[:3]}")
        if given and family:
            keys.append(f"swap:{''.join(sorted([soundex(given), soundex(family)]))}")
    if record.get("city") and dob:
        keys.append(f"cityyear:{soundex(fold(record['city']).split()[0])}:{dob[:4]}")
    if name_core:
        tokens = name_core.split()
        keys.append(f"org:{tokens[0][:6]}")
        keys.append(f"orgsx:{''.join(soundex(t) for t in tokens[:2])}")
    return keys


def candidate_pairs(records: Sequence[Record], *, max_block: int = 300) -> set[tuple[str, str]]:
    """Pairs of record ids that share at least one blocking key (blocks over `max_block` are skipped)."""
    blocks: dict[str, list[str]] = defaultdict(list)
    for record in records:
        for key in blocking_keys(record):
            blocks[key].append(str(record["id"]))
    pairs: set[tuple[str, str]] = set()
    for ids in blocks.values():
        if 1 < len(ids) <= max_block:
            for left, right in combinations(sorted(set(ids)), 2):
                pairs.add((left, right))
    return pairs


def resolve(
    records: Sequence[Record],
    *,
    weights: Weights | None = None,
    progress: Callable[[int], None] | None = None,
    keep_apart: Sequence[tuple[Sequence[str], Sequence[str]]] = (),
) -> Resolution:
    """Cluster records that describe the same customer.

    `keep_apart` lists pairs of record groups a person separated (unmerge): no link may
    put a record of one group in the same cluster as a record of the other.
    """
    weights = weights or Weights()
    by_id = {str(r["id"]): r for r in records}
    pairs = candidate_pairs(records)
    links = []
    for number, (left, right) in enumerate(sorted(pairs), start=1):
        score, agreed = compare(by_id[left], by_id[right], weights)
        if score >= weights.threshold:
            links.append(Link(left, right, round(score, 3), agreed))
        if progress is not None and number % 10_000 == 0:
            progress(number)
    parent = {rid: rid for rid in by_id}
    # component root -> {constraint index: sides present}
    sides: dict[str, dict[int, set[int]]] = defaultdict(dict)
    for index, apart in enumerate(keep_apart):
        for side, group in enumerate(apart):
            for rid in group:
                if rid in parent:
                    sides[rid].setdefault(index, set()).add(side)

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    kept: list[Link] = []
    for link in sorted(links, key=lambda lk: (-lk.score, lk.left, lk.right)):  # strongest evidence first
        a, b = find(link.left), find(link.right)
        if a == b:
            kept.append(link)
            continue
        if any(sides[a].get(i, set()) | sides[b].get(i, set()) == {0, 1} for i in set(sides[a]) & set(sides[b])):
            continue  # would join records a person kept apart
        root, child = min(a, b), max(a, b)
        parent[child] = root
        for i, present in sides.pop(child, {}).items():
            sides[root].setdefault(i, set()).update(present)
        kept.append(link)
    links = sorted(kept, key=lambda lk: (lk.left, lk.right))
    groups: dict[str, list[str]] = defaultdict(list)
    for rid in sorted(by_id):
        groups[find(rid)].append(rid)
    return Resolution(sorted(groups.values()), links, len(pairs), pairs)


def cluster_pairs(clusters: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """All record pairs inside the clusters."""
    return {tuple(sorted(p)) for c in clusters for p in combinations(c, 2)}  # type: ignore[misc]


def pairwise_quality(
    predicted: Iterable[Sequence[str]], truth: dict[str, str], candidates: set[tuple[str, str]] | None = None
) -> dict[str, float]:
    """Pairwise precision, recall and F1 against true entity labels, and the pair completeness of blocking."""
    true_groups: dict[str, list[str]] = defaultdict(list)
    for rid, entity in truth.items():
        true_groups[entity].append(rid)
    true_pairs = cluster_pairs(true_groups.values())
    found = cluster_pairs(predicted)
    hits = len(found & true_pairs)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(true_pairs) if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result = {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "true_pairs": float(len(true_pairs)),
        "predicted_pairs": float(len(found)),
    }
    if candidates is not None:
        result["pair_completeness"] = len(candidates & true_pairs) / len(true_pairs) if true_pairs else 1.0
        result["candidate_pairs"] = float(len(candidates))
    return result
