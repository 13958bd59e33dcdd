"""Identity resolution: blocking, pairwise scoring, clustering — one customer across sources.

A record is a flat dict of canonical fields (`given`, `family`, `name`, `dob` as YYYYMMDD
digits, `email`, `phone` digits, `street`, `street_number`, `city`, `postcode`, `reg_id`).
Blocking keys pick the candidate pairs; each pair gets a comparison level per field and a
score from the match model (`ingest.identity.model`) — u from record pairs drawn at random,
m and the prior by EM on the candidate pairs: the posterior log2-odds that the two records
are one customer. Records joined by pairs scoring at or above the threshold form groups;
inside a group, sub-clusters merge, strongest pair first, while the strongest pair between
them reaches the threshold and no pair between them has more evidence against than for, so
one chance resemblance cannot chain two customers together, while a record that shares
nothing but a name with one of a customer's records still joins through the others. Deterministic:
same clusters, whatever the input order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from ingest.identity import batch
from ingest.identity.batch import CHUNK
from ingest.identity.compare import company_core, fold, soundex
from ingest.identity.model import FIELDS, NAMES, PRIOR, Model, fit, levels, prepare

Record = dict[str, Any]
MAX_GROUP = 400  # records per clustering group; larger groups are split at a higher threshold first
APART = -1e6  # the score of a pair a person kept apart (unmerge)


@dataclass(frozen=True)
class Link:
    """Two records judged to be the same customer: the score, the fields that agreed, the evidence per field."""

    left: str
    right: str
    score: float
    agreed: tuple[str, ...]
    evidence: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs as indexes into `ids` (the sorted record ids), left < right, in order.

    Two int32 a pair: at 100k customers (8.1M pairs) 65 MB, where a set of id tuples took over 1 GB.
    """

    ids: list[str]
    left: np.ndarray
    right: np.ndarray

    def __len__(self) -> int:
        return len(self.left)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for start in range(0, len(self.left), CHUNK):
            lefts, rights = self.left[start : start + CHUNK].tolist(), self.right[start : start + CHUNK].tolist()
            yield from ((self.ids[a], self.ids[b]) for a, b in zip(lefts, rights, strict=True))

    def covered(self, pairs: Iterable[tuple[str, str]]) -> int:
        """How many of `pairs` (record id pairs, either order) are candidates."""
        position = {rid: i for i, rid in enumerate(self.ids)}
        wanted = [
            (min(position[a], position[b]), max(position[a], position[b]))
            for a, b in pairs
            if a in position and b in position
        ]
        if not wanted:
            return 0
        keys = np.array([a * len(self.ids) + b for a, b in wanted], dtype=np.int64)
        return int(np.isin(keys, self.left.astype(np.int64) * len(self.ids) + self.right).sum())


@dataclass
class Resolution:
    """Clusters (lists of record ids), the links behind them, the candidate pairs examined, the fitted model."""

    clusters: list[list[str]]
    links: list[Link]
    candidate_pairs: int
    pairs: Candidates = field(default_factory=lambda: Candidates([], np.empty(0, np.int32), np.empty(0, np.int32)))
    model: Model = PRIOR


def compare(a: Record, b: Record, model: Model = PRIOR) -> tuple[float, tuple[str, ...]]:
    """Score of a record pair (posterior log2-odds of one customer) and the fields that were the same."""
    pair = levels(prepare(a), prepare(b))
    return model.score(pair), _agreed(pair)


def _agreed(pair: list[int]) -> tuple[str, ...]:
    return tuple(name for name, level in zip(NAMES, pair, strict=True) if level == len(FIELDS[name]) - 1)


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
        sounds = "".join(soundex(t) for t in tokens[:2])
        keys.append(f"org:{tokens[0][:6]}")
        keys.append(f"orgsx:{sounds}")
        # Narrower keys for when the broad ones grow past max_block (common names in a large base).
        keys.append(f"orgname:{name_core.replace(' ', '')}")
        if record.get("city"):
            keys.append(f"orgcity:{sounds}:{soundex(fold(record['city']).split()[0])}")
    return keys


def candidates(records: Sequence[Record], *, max_block: int = 300) -> Candidates:
    """Record pairs that share at least one blocking key (blocks over `max_block` records are skipped)."""
    ids = sorted({str(record["id"]) for record in records})
    position = {rid: i for i, rid in enumerate(ids)}
    blocks: dict[str, list[int]] = defaultdict(list)
    for record in records:
        where = position[str(record["id"])]
        for key in blocking_keys(record):
            blocks[key].append(where)
    size = len(ids)
    found = np.empty(0, dtype=np.int64)  # pair keys left * size + right, sorted and unique
    batch: list[np.ndarray] = []
    pending = 0
    for members in blocks.values():
        if not 1 < len(members) <= max_block:
            continue
        unique = np.unique(np.asarray(members, dtype=np.int64))
        first, second = _triangle(len(unique))
        batch.append(unique[first] * size + unique[second])
        pending += len(first)
        if pending > MERGE_EVERY:
            found, batch, pending = _merge(found, batch), [], 0
    found = _merge(found, batch)
    return Candidates(ids, (found // max(size, 1)).astype(np.int32), (found % max(size, 1)).astype(np.int32))


MERGE_EVERY = 1_000_000  # pair keys gathered from blocks before they are merged into the sorted, unique set


def _merge(found: np.ndarray, batch: list[np.ndarray]) -> np.ndarray:
    """Sorted unique keys of `found` (sorted, unique) and the batch: sorted in place, no extra copies."""
    if not batch:
        return found
    keys = np.concatenate([found, *batch])
    keys.sort()
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    return keys[keep]


def _triangle(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs i < j of `size` items (the small sizes, the common ones, cached)."""
    if size > 32:
        return np.triu_indices(size, 1)
    if size not in _TRIANGLES:
        _TRIANGLES[size] = np.triu_indices(size, 1)
    return _TRIANGLES[size]


_TRIANGLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def candidate_pairs(records: Sequence[Record], *, max_block: int = 300) -> set[tuple[str, str]]:
    """`candidates` as a set of record id pairs (for small inputs and tests)."""
    return set(candidates(records, max_block=max_block))


def resolve(
    records: Sequence[Record],
    *,
    threshold: float = 0.0,
    model: Model | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep_apart: Sequence[tuple[Sequence[str], Sequence[str]]] = (),
) -> Resolution:
    """Cluster records that describe the same customer.

    Without `model`, one is fitted to this input (`model.fit`: candidate pairs and random pairs).
    `threshold` is the score (posterior log2-odds) a link needs: 0 is even odds, higher means
    fewer, surer merges. `progress(done, total)` is called as candidate pairs are compared.
    `keep_apart` lists pairs of record groups a person separated (unmerge): no cluster holds a
    record of one group and a record of the other.
    """
    prepared = {str(r["id"]): prepare(r) for r in records}
    pairs = candidates(records)
    matrix = level_matrix(pairs, prepared, progress)
    model = model or fit(matrix, list(prepared.values()))
    scores = model.scores(matrix)
    apart = _apart_pairs(keep_apart, prepared)
    kept = np.flatnonzero(scores >= threshold)
    strong = [
        ((pairs.ids[a], pairs.ids[b]), float(score))
        for a, b, score in zip(
            pairs.left[kept].tolist(), pairs.right[kept].tolist(), scores[kept].tolist(), strict=True
        )
    ]
    clusters: list[list[str]] = []
    links: list[Link] = []
    for group in _groups(sorted(prepared), strong, threshold):
        for cluster, cluster_links in _agglomerate(group, prepared, model, threshold, apart):
            clusters.append(cluster)
            links.extend(cluster_links)
    return Resolution(sorted(clusters), sorted(links, key=lambda lk: (lk.left, lk.right)), len(pairs), pairs, model)


def level_matrix(
    pairs: Candidates, prepared: dict[str, Record], progress: Callable[[int, int], None] | None = None
) -> np.ndarray:
    """The comparison levels of every candidate pair (pairs × fields, -1 where a value is missing)."""
    return batch.level_matrix([prepared[rid] for rid in pairs.ids], pairs.left, pairs.right, progress)


def _apart_pairs(
    keep_apart: Sequence[tuple[Sequence[str], Sequence[str]]], prepared: dict[str, Record]
) -> set[tuple[str, str]]:
    out = set()
    for one, other in keep_apart:
        for a in one:
            for b in other:
                if a in prepared and b in prepared and a != b:
                    out.add((min(a, b), max(a, b)))
    return out


def _groups(ids: list[str], strong: list[tuple[tuple[str, str], float]], threshold: float) -> list[list[str]]:
    """Connected groups of records joined by strong pairs; a group over MAX_GROUP is split at a higher threshold."""
    parent = {rid: rid for rid in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (left, right), _ in strong:
        a, b = find(left), find(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = defaultdict(list)
    for rid in ids:
        members[find(rid)].append(rid)
    out: list[list[str]] = []
    for group in members.values():
        if len(group) <= MAX_GROUP:
            out.append(group)
            continue
        inside = set(group)
        stricter = [(p, s) for p, s in strong if p[0] in inside and s >= threshold + 1]
        out.extend(_groups(group, stricter, threshold + 1))
    return out


def _agglomerate(
    group: list[str], prepared: dict[str, Record], model: Model, threshold: float, apart: set[tuple[str, str]]
) -> list[tuple[list[str], list[Link]]]:
    """Clusters of one group, merged greedily, strongest pair first.

    Two sub-clusters merge when the strongest pair between them scores at or above the
    threshold and no pair between them has more evidence against than for (evidence in bits,
    the prior left out, below 0). A pair with nothing in common but a name does not stop a
    merge its cluster's other records support; a pair that contradicts (another birth date,
    another registration id) does.
    """
    size = len(group)
    if size == 1:
        return [(group, [])]
    score = np.full((size, size), -np.inf)
    pair_levels: dict[tuple[int, int], list[int]] = {}
    for i, j in combinations(range(size), 2):
        pair = levels(prepared[group[i]], prepared[group[j]])
        pair_levels[i, j] = pair
        score[i, j] = score[j, i] = APART if (group[i], group[j]) in apart else model.score(pair)
    evidence = np.where(np.isfinite(score), score - model.prior_bits, 0.0)
    best, worst = score.copy(), evidence.copy()  # per pair of sub-clusters: strongest score, weakest evidence
    alive = np.ones(size, dtype=bool)
    members = {i: [i] for i in range(size)}
    while True:
        allowed = alive[:, None] & alive[None, :] & (best >= threshold) & (worst >= 0)
        if not allowed.any():
            break
        first, second = np.unravel_index(np.argmax(np.where(allowed, best, -np.inf)), best.shape)
        i, j = int(min(first, second)), int(max(first, second))
        members[i].extend(members.pop(j))
        alive[j] = False
        best[i, :] = best[:, i] = np.maximum(best[i], best[j])
        worst[i, :] = worst[:, i] = np.minimum(worst[i], worst[j])
        best[i, i], worst[i, i] = -np.inf, 0.0
    out = []
    for indexes in members.values():
        indexes.sort()
        out.append(([group[i] for i in indexes], _spanning_links(indexes, group, score, pair_levels, model)))
    return out


def _spanning_links(
    indexes: list[int], group: list[str], score: np.ndarray, pair_levels: dict[tuple[int, int], list[int]], model: Model
) -> list[Link]:
    """The strongest pairs that hold a cluster together (a maximum spanning tree): its evidence."""
    if len(indexes) == 1:
        return []
    inside, links = {indexes[0]}, []
    while len(inside) < len(indexes):
        i, j = max(
            ((i, j) for i in inside for j in indexes if j not in inside),
            key=lambda p: (score[p[0], p[1]], -min(p), -max(p)),
        )
        inside.add(j)
        a, b = min(i, j), max(i, j)
        pair = pair_levels[a, b]
        links.append(Link(group[a], group[b], round(float(score[a, b]), 3), _agreed(pair), model.evidence(pair)))
    return links


def cluster_pairs(clusters: Iterable[Sequence[str]]) -> set[tuple[str, str]]:
    """All record pairs inside the clusters."""
    return {tuple(sorted(p)) for c in clusters for p in combinations(c, 2)}  # type: ignore[misc]


def pairwise_quality(
    predicted: Iterable[Sequence[str]],
    truth: dict[str, str],
    candidates: Candidates | None = None,
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
        covered = candidates.covered(true_pairs)
        result["pair_completeness"] = covered / len(true_pairs) if true_pairs else 1.0
        result["candidate_pairs"] = float(len(candidates))
    return result
