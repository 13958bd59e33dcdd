"""Retrieval evaluation on any data set in the BEIR layout, with the production index code.

`DIR/corpus.jsonl` (`_id`, `title`, `text`), `DIR/queries.jsonl` (`_id`, `text`),
`DIR/qrels.tsv` (`query-id`, `corpus-id`, `score`, header line; score > 0 is relevant).
Every query is ranked over the whole corpus by BM25 alone, dense alone and the shipped
hybrid, and the same metrics are printed side by side: MAP (over the full ranking),
MRR, P@1, P@5, nDCG@10 and recall@100.

`weak_match_rates` measures the weak-match threshold on two such sets (see there).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from knowledge_transfer.embeddings import Embedder
from knowledge_transfer.search.fusion import FusionWeights, fuse
from knowledge_transfer.search.index import HybridIndex, top_k
from knowledge_transfer.text import tokenize

MODES = ("bm25", "dense", "hybrid")
METRICS = ("MAP", "MRR", "P@1", "P@5", "nDCG@10", "R@100")


class DatasetError(ValueError):
    """A BEIR-layout file is missing or malformed (the message names file and line)."""


@dataclass
class Dataset:
    """A corpus, its queries and the relevance judgements."""

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, float]]


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (BEIR layout needs corpus.jsonl, queries.jsonl, qrels.tsv)")
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: line {number}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict) or "_id" not in record:
                raise DatasetError(f"{path}: line {number}: field '_id' missing")
            yield number, record


def load_beir(directory: Path) -> Dataset:
    """Read a BEIR-layout directory; DatasetError naming the file and line for bad input."""
    doc_ids, doc_texts = [], []
    for _, record in _jsonl(directory / "corpus.jsonl"):
        doc_ids.append(str(record["_id"]))
        title, text = str(record.get("title") or ""), str(record.get("text") or "")
        doc_texts.append(f"{title}\n{text}".strip())
    query_ids, query_texts = [], []
    for number, record in _jsonl(directory / "queries.jsonl"):
        if not str(record.get("text") or "").strip():
            raise DatasetError(f"{directory / 'queries.jsonl'}: line {number}: field 'text' is empty")
        query_ids.append(str(record["_id"]))
        query_texts.append(str(record["text"]))
    qrels_path = directory / "qrels.tsv"
    if not qrels_path.is_file():
        raise DatasetError(f"{qrels_path}: file not found")
    qrels: dict[str, dict[str, float]] = {}
    known_docs = set(doc_ids)
    with qrels_path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts and not parts[-1].replace(".", "", 1).lstrip("-").isdigit():
                continue  # header
            if not line.strip():
                continue
            if len(parts) != 3:
                raise DatasetError(f"{qrels_path}: line {number}: expected 3 tab-separated fields, got {len(parts)}")
            try:
                score = float(parts[2])
            except ValueError:
                raise DatasetError(
                    f"{qrels_path}: line {number}: field 'score' is not a number: {parts[2]!r}"
                ) from None
            if parts[1] not in known_docs:
                raise DatasetError(f"{qrels_path}: line {number}: corpus-id {parts[1]!r} is not in corpus.jsonl")
            if score > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = score
    keep = [i for i, q in enumerate(query_ids) if q in qrels]
    return Dataset(
        name=directory.name,
        doc_ids=doc_ids,
        doc_texts=doc_texts,
        query_ids=[query_ids[i] for i in keep],
        query_texts=[query_texts[i] for i in keep],
        qrels=qrels,
    )


def query_metrics(ranking: Sequence[str], relevant: dict[str, float]) -> dict[str, float]:
    """The six metrics for one query's ranking (best first) against its relevant documents."""
    hits = [doc in relevant for doc in ranking]
    total = len(relevant)
    precision_sum, found = 0.0, 0
    for position, hit in enumerate(hits, 1):
        if hit:
            found += 1
            precision_sum += found / position
    first = next((i for i, hit in enumerate(hits, 1) if hit), None)
    dcg = sum((2 ** relevant[d] - 1) / math.log2(i + 2) for i, d in enumerate(ranking[:10]) if d in relevant)
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return {
        "MAP": precision_sum / total if total else 0.0,
        "MRR": 1.0 / first if first else 0.0,
        "P@1": float(hits[0]) if hits else 0.0,
        "P@5": sum(hits[:5]) / 5,
        "nDCG@10": dcg / idcg if idcg else 0.0,
        "R@100": sum(hits[:100]) / total if total else 0.0,
    }


def evaluate(
    dataset: Dataset,
    embedder: Embedder,
    *,
    weights: FusionWeights | None = None,
    depth: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict[str, float]]:
    """Mean metrics per mode ('bm25', 'dense', 'hybrid') over every judged query."""
    weights = weights or FusionWeights()
    index = HybridIndex(dataset.doc_texts, embedder, weights=weights)
    query_vectors = embedder.encode(dataset.query_texts)
    totals = {mode: dict.fromkeys(METRICS, 0.0) for mode in MODES}
    for n, (query_id, text) in enumerate(zip(dataset.query_ids, dataset.query_texts, strict=True)):
        lexical = index.lexical_scores(tokenize(text))
        dense = index.dense_scores(query_vectors[n])
        for mode, scores in (("bm25", lexical), ("dense", dense), ("hybrid", fuse(lexical, dense, weights))):
            ranking = [dataset.doc_ids[i] for i in top_k(scores, depth)]
            for name, value in query_metrics(ranking, dataset.qrels[query_id]).items():
                totals[mode][name] += value
        if progress:
            progress(1)
    count = max(len(dataset.query_ids), 1)
    return {mode: {name: 100 * value / count for name, value in values.items()} for mode, values in totals.items()}


PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


@dataclass
class WeakMatchReport:
    """The best cosine each question finds in a corpus, for questions on its subject and questions that are not."""

    on_topic: np.ndarray  # per question of the corpus's own set
    off_topic: np.ndarray  # per question of another set, against the same corpus
    threshold: float

    @property
    def flagged_on_topic(self) -> float:
        """Share of on-topic questions the threshold would call weak (false alarms)."""
        return float(np.mean(self.on_topic < self.threshold)) if self.on_topic.size else 0.0

    @property
    def flagged_off_topic(self) -> float:
        """Share of off-topic questions it calls weak (caught)."""
        return float(np.mean(self.off_topic < self.threshold)) if self.off_topic.size else 0.0


def weak_match_rates(
    corpus: Dataset, other: Dataset, embedder: Embedder, *, threshold: float, limit: int = 600, seed: int = 7
) -> WeakMatchReport:
    """Best cosine in `corpus` of (up to `limit` of) its own questions and of `other`'s, and what `threshold` flags.

    What answer assist calls a weak match (KnowledgeBase.weak_match) is a question naming nothing in the
    catalogue whose best cosine stays below the threshold; this measures the cosine part on judged sets
    whose subjects differ (e.g. programming FAQs against banking questions).
    """
    rng = np.random.default_rng(seed)

    def sample(texts: list[str]) -> list[str]:
        keep = sorted(rng.choice(len(texts), size=min(limit, len(texts)), replace=False).tolist())
        return [texts[i] for i in keep]

    documents = embedder.encode(corpus.doc_texts)

    def best(texts: list[str]) -> np.ndarray:
        return np.asarray((embedder.encode(texts) @ documents.T).max(axis=1), dtype=np.float64)

    return WeakMatchReport(
        on_topic=best(sample(corpus.query_texts)), off_topic=best(sample(other.query_texts)), threshold=threshold
    )
