"""Answer assist: ranked articles, similar resolved cases and experts, each with its evidence.

Retrieval is hybrid (knowledge_transfer.search): BM25 over the same tokens as everywhere,
dense similarity from the English embedder (or the multilingual one for Chinese
questions), standardised and fused, plus graph boosts in the same units — a document
linked to a product/symptom/error code the question names, about a product the customer
owns (or the case is about), validated, rated helpful, reused on cases. Audience is a mask
applied to every score before ranking, so a customer can never be shown (or be ranked
against) an internal article or another customer's case.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ingest.notes import NoteLinker
from kbcrm.access import scope
from kbcrm.graph import GraphStore, cypher
from kbcrm.settings import Settings
from knowledge_transfer.answers.corpus import (
    ARTICLE_USAGE,
    KnowledgeDoc,
    knowledge_fingerprint,
    load_documents,
    names_zh,
)
from knowledge_transfer.answers.models import Answer, Evidence, EvidencePath, PathEdge, PathNode, Suggestion
from knowledge_transfer.embeddings import BatchingEncoder, Embedder, configured_embedders
from knowledge_transfer.experts import newest_update, rank_experts
from knowledge_transfer.recent import Recent
from knowledge_transfer.search.fusion import FusionWeights, combine, standardise
from knowledge_transfer.search.index import HybridIndex, rank_of, top_k
from knowledge_transfer.text import (
    add_terms,
    contains_chinese,
    primary_language,
    question_language,
    summary,
    tokenize_with_words,
)
from knowledge_transfer.vectors import VectorCache
from ontology.terms import Label

AUDIENCES = ("staff", "customer")
QUESTION_CACHE = 4096  # question vectors kept per knowledge base (per model): 4096 × (384 + 512) floats ≈ 15 MB
CUSTOMER_AUDIENCES = frozenset(scope.CUSTOMER_AUDIENCES)  # with only validated articles (scope.article_states)
# Labels of named nodes whose boost has its own name and setting (KnowledgeBase.mention_boost); others: linked_entity.
NAMED_BOOSTS = {Label.ErrorCode: "linked_code", Label.Symptom: "linked_symptom"}

CUSTOMER_CONTEXT = cypher(
    "kt.customer_context",
    "MATCH (c:Customer {id: $customer}) OPTIONAL MATCH (c)-[:OWNS]->(p:Product) "
    "RETURN c.id AS id, c.name AS name, p.id AS product, p.name AS product_name",
    example={"customer": "cust:1"},
)
CASE_CONTEXT = cypher(
    "kt.case_context",
    "MATCH (k:ServiceCase {id: $case}) OPTIONAL MATCH (c:Customer)-[:RAISED]->(k) "
    "OPTIONAL MATCH (k)-[r:ABOUT_PRODUCT|HAS_SYMPTOM|REPORTED_ERROR]->(n) "
    "RETURN k.id AS id, k.subject AS subject, c.id AS customer, type(r) AS rel, n.id AS node, "
    "labels(n)[0] AS label, coalesce(n.name, n.code, n.id) AS name",
    example={"case": "C-1"},
)


class AnswerError(ValueError):
    """A request answer assist cannot serve (unknown customer/case, wrong audience…)."""


class AccessDenied(AnswerError):
    """The caller may not see what was asked for (another customer's case)."""


@dataclass
class Context:
    """What the question is asked about: a customer's installed base and/or a case's product and symptoms."""

    customer: PathNode | None = None
    owned: dict[str, PathNode] | None = None
    case: PathNode | None = None
    case_links: list[tuple[str, PathNode]] | None = None


class KnowledgeBase:
    """The searchable knowledge (articles + resolved cases) of one graph, ready for many questions."""

    def __init__(
        self,
        docs: Sequence[KnowledgeDoc],
        *,
        settings: Settings,
        embedder: Embedder,
        multilingual: Embedder | None = None,
        linker: NoteLinker | None = None,
        vectors_dir: Path | None = None,
    ) -> None:
        self.docs = list(docs)
        self.settings = settings
        self.fingerprint: tuple[Any, ...] | None = None  # the graph's knowledge state it was built from
        # Catalogue node id → its Chinese name: Chinese pages name what evidence and articles link to in Chinese.
        self.names_zh: dict[str, str] = {}
        self.linker = linker
        self.by_id = {(d.kind, d.id): i for i, d in enumerate(self.docs)}
        texts = [d.search_text for d in self.docs]
        add_terms(
            link.name
            for d in self.docs
            for link in d.links
            if link.label in ("Product", "Component", "Symptom", "ErrorCode", "Topic")
        )
        self.embedder = embedder
        # Portal searches repeat (popular questions, typing the same subject): a question is encoded once per
        # model and kept, read-only, for the next time (measured in bench/portal_load.py).
        self.question_vector = lru_cache(maxsize=QUESTION_CACHE)(self._encode_question)
        # Answers to repeated questions (portal.answer_json): kept per question, reader and context while nothing
        # changed here, and at most the knowledge watcher's interval, which bounds how stale a customer's context
        # may be.
        # Kept as JSON text, what the search route sends (portal.kept_answer_json); as text an answer is no
        # container the garbage collector walks (a five-suggestion answer as dicts is about 30).
        self.answers: Recent[tuple[Any, ...], bytes] = Recent(max_age_s=settings.knowledge_poll_seconds)
        # A customer's name and installed base, read for every new question they ask: kept as long as kept
        # answers may be (bench/portal_load.py: one graph read per new question less).
        self.customers: Recent[str, tuple[PathNode, dict[str, PathNode]]] = Recent(
            max_age_s=settings.knowledge_poll_seconds
        )
        # New questions asked at the same time (portal users, many threads) are encoded in one batch per model.
        self.encoders = {model.model_id: BatchingEncoder(model) for model in (embedder, multilingual) if model}
        self.cache = VectorCache(vectors_dir, embedder)
        weights = FusionWeights(lexical=settings.fusion_lexical_weight)
        self.index = HybridIndex(texts, embedder, vectors=self.cache.vectors(texts), weights=weights)
        self.multilingual = multilingual
        self.multilingual_vectors = (
            VectorCache(vectors_dir, multilingual).vectors(texts) if multilingual is not None else None
        )
        kinds = np.array([d.kind for d in self.docs])
        audience = np.array([d.audience for d in self.docs])
        confidence = np.array([d.confidence or "" for d in self.docs])
        self.is_article = kinds == "article"
        self.is_chinese = np.array([d.language == "zh" for d in self.docs], dtype=bool)
        self.masks = {
            "customer": self.is_article & np.isin(audience, list(CUSTOMER_AUDIENCES)) & (confidence == "validated"),
            "staff": (kinds == "case") | (self.is_article & (confidence != "archived")),
        }
        grouped: dict[str, list[int]] = defaultdict(list)
        for i, doc in enumerate(self.docs):
            for link in doc.links:
                grouped[link.node].append(i)
        self.entity_docs = {node: np.array(sorted(set(idx)), dtype=np.int64) for node, idx in grouped.items()}
        # The versions of every work that has more than one (an article and its translations): a list shows one.
        works: dict[str, list[int]] = defaultdict(list)
        for i, doc in enumerate(self.docs):
            works[doc.work].append(i)
        self.versions = {work: members for work, members in works.items() if len(members) > 1}
        # The same as two aligned arrays (document, work number) for one_per_work's vectorised choice.
        self.version_docs = np.array([i for members in self.versions.values() for i in members], dtype=np.int64)
        self.version_work = np.repeat(np.arange(len(self.versions)), [len(m) for m in self.versions.values()])
        self.language = np.array([primary_language(d.language) for d in self.docs])
        # The expert finder's recency reference, parsed once: every staff answer ranks experts, and parsing
        # every document's date per answer cost about 10 ms at 100k documents (bench/answer_latency.py).
        self.newest_update = newest_update(self.docs)
        self.static_boosts = {audience: np.zeros(len(self.docs), dtype=np.float32) for audience in AUDIENCES}
        for i in range(len(self.docs)):
            self._set_static_boost(i)

    @classmethod
    def from_graph(
        cls,
        store: GraphStore,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        multilingual: Embedder | None = None,
        vectors_dir: Path | None = None,
    ) -> KnowledgeBase:
        """Read the graph's articles and resolved cases; embed only what the vector cache lacks."""
        if embedder is None or (multilingual is None and settings.multilingual_embedder != "none"):
            configured_english, configured_multilingual = configured_embedders(settings)
            embedder, multilingual = embedder or configured_english, multilingual or configured_multilingual
        fingerprint = knowledge_fingerprint(store)  # read first: a change made during the build shows as a new one
        kb = cls(
            load_documents(store),
            settings=settings,
            embedder=embedder,
            multilingual=multilingual,
            linker=NoteLinker.from_graph(store),
            vectors_dir=vectors_dir if vectors_dir is not None else settings.data_dir / "vectors",
        )
        kb.fingerprint = fingerprint
        kb.names_zh = names_zh(store)
        return kb

    # ------------------------------------------------------------------ boosts
    def votes_for(self, i: int, audience: str) -> tuple[float, float]:
        """(helpful, not helpful) votes as the audience's ranking counts them.

        The audience's own votes count fully; every other vote (the other audience's, or an
        older vote recorded without audience) counts `feedback_other_audience_weight` times:
        what helped engineers is a weaker sign of what helps a customer, and vice versa.
        """
        doc, weight = self.docs[i], self.settings.feedback_other_audience_weight
        own_helpful, own_not = doc.feedback.get(audience, (0, 0))
        return (
            own_helpful + weight * max(doc.helpful - own_helpful, 0),
            own_not + weight * max(doc.not_helpful - own_not, 0),
        )

    def static_boost_parts(self, i: int, audience: str) -> dict[str, float]:
        """The question-independent boosts of one document for an audience, by name."""
        doc, s = self.docs[i], self.settings
        parts: dict[str, float] = {}
        if doc.kind == "article" and doc.confidence == "validated":
            parts["validated"] = s.boost_validated
        helpful, not_helpful = self.votes_for(i, audience)
        if helpful or not_helpful:
            parts["feedback"] = s.boost_feedback * (helpful - not_helpful) / (helpful + not_helpful + 2)
        if doc.reused:
            parts["reuse"] = s.boost_reuse * math.log1p(doc.reused)
        return parts

    def _set_static_boost(self, i: int) -> None:
        for audience, boosts in self.static_boosts.items():
            boosts[i] = sum(self.static_boost_parts(i, audience).values())

    def refresh_usage(self, store: GraphStore, article_id: str) -> None:
        """Re-read one article's views, votes and reuse (after feedback or a case link): its rank changes at once."""
        i = self.by_id.get(("article", article_id))
        rows = store.read(ARTICLE_USAGE, id=article_id) if i is not None else []
        if i is None or not rows:
            return
        self.docs[i].set_usage(rows[0])
        self._set_static_boost(i)
        self.answers.clear()  # kept answers ranked with the old usage

    # ------------------------------------------------------------------ retrieval
    def mention_boost(self, named: PathNode) -> tuple[str, float]:
        """The evidence name and weight (z units) of the boost for a node the question names.

        An error code gets its own, larger boost: a code reads the same in every language, so a
        customer who types E-1012 wants the article that resolves E-1012 before articles about
        other codes in their own language, also when the only article they may read about it is
        written in the other language. A symptom gets one too: the problem a question names
        decides the answer more than the product it names ("AX-200: pressure drop" wants what
        resolves a pressure drop before the AX-200's articles about other problems).
        """
        name = NAMED_BOOSTS.get(named.label, "linked_entity")
        weight: float = getattr(self.settings, f"boost_{name}")  # the setting KBCRM_BOOST_<NAME>
        return name, weight

    def mention_boosts(self, mentioned: dict[str, PathNode]) -> dict[str, float]:
        """The boost weight of each node the question names (ranked()'s boost_nodes)."""
        return {node: self.mention_boost(named)[1] for node, named in mentioned.items()}

    @property
    def encodes_in_place(self) -> bool:
        """True when every model encodes a question on the asking thread (the int8 ones), never waiting for a batch."""
        return all(encoder.one_at_a_time for encoder in self.encoders.values())

    def _encode_question(self, model_id: str, question: str) -> np.ndarray:
        vector = self.encoders[model_id].encode_one(question)
        vector.setflags(write=False)
        return vector

    def weak_match(self, named: bool, dense: np.ndarray) -> dict[str, float] | None:
        """Why nothing matches the question well, or None when something may.

        Weak: the question names nothing in the catalogue (`named`: no product, component, symptom or
        error code linked, nor a case's links) and no document the reader may see reaches
        `weak_match_similarity` in `dense` (ranked()'s raw cosine, of whichever model judged each).
        Measured by `kbcrm eval weak-match` (README: Retrieval).
        """
        if named:
            return None
        visible = dense[np.isfinite(dense)]
        if visible.size == 0:
            return None
        best, threshold = float(visible.max()), self.settings.weak_match_similarity
        return {"best_similarity": round(best, 4), "threshold": threshold} if best < threshold else None

    def mentions(self, question: str) -> dict[str, PathNode]:
        """Catalogue nodes (products, components, symptoms, error codes) the question names."""
        found: dict[str, PathNode] = {}
        if self.linker is not None:
            for m in self.linker.link(question, "zh" if contains_chinese(question) else "en"):
                found.setdefault(m.node_id, PathNode(m.node_id, m.label, m.text))
        return found

    def ranked(
        self,
        question: str,
        *,
        audience: str,
        boost_nodes: dict[str, float] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Fused score of every document for the question (-inf where the audience may not look)."""
        mask = self.masks[audience]
        tokens, words = tokenize_with_words(question)
        lexical = self.index.lexical_scores(tokens, mask)
        # Which model judges which documents: the English model reads English; the multilingual one reads
        # Chinese questions and, for English questions, the Chinese documents (MiniLM scores unrelated Chinese
        # pairs ~0.6). The two models' scores are not on one scale, so a Chinese document's multilingual score
        # is mapped onto the English model's scale through the English documents, which both models judge
        # (cross_model_scale): it ranks among the English documents where the multilingual model puts it, and
        # takes the English model's standardised score at that rank.
        # Which documents the multilingual model judged (a flag, not an array of model ids: filling an
        # object array of 100k names cost about 3 ms per question; only the suggestions' few are read).
        multilingual = np.zeros(len(self.docs), dtype=bool)
        chinese_question = contains_chinese(question)
        if self.multilingual is None or self.multilingual_vectors is None:
            dense = np.where(mask, self.index.vectors @ self.question_vector(self.embedder.model_id, question), -np.inf)
            dense_z = standardise(dense)
        elif chinese_question:
            dense = np.where(
                mask, self.multilingual_vectors @ self.question_vector(self.multilingual.model_id, question), -np.inf
            )
            dense_z = standardise(dense)
            multilingual[:] = True
        else:
            english, chinese = mask & ~self.is_chinese, mask & self.is_chinese
            dense = np.where(
                english, self.index.vectors @ self.question_vector(self.embedder.model_id, question), -np.inf
            )
            dense_z = standardise(dense)
            if chinese.any():
                multi = np.where(
                    mask,
                    self.multilingual_vectors @ self.question_vector(self.multilingual.model_id, question),
                    -np.inf,
                )
                dense = np.where(chinese, multi, dense)
                dense_z[chinese] = cross_model_scale(multi[chinese], multi[english], dense_z[english])
                multilingual[chinese] = True
        lexical_weight = (
            self.settings.fusion_lexical_weight_multilingual
            if chinese_question and self.multilingual is not None
            else self.settings.fusion_lexical_weight
        )
        fused = combine(dense_z, lexical, lexical_weight) + self.static_boosts[audience]
        fused[self.language == question_language(question)] += self.settings.boost_same_language
        for node, weight in (boost_nodes or {}).items():
            docs = self.entity_docs.get(node)
            if docs is not None:
                fused[docs] += weight
        fused = np.where(mask, fused, -np.inf)
        return fused, {
            "lexical": lexical,
            "dense": dense,
            "tokens": tokens,
            "words": words,  # each token with the question's word it came from (evidence's matched_words)
            "multilingual": multilingual,
        }

    def dense_model(self, judged_by_multilingual: bool) -> str:
        """The model id behind a document's dense score (ranked()'s `multilingual` flag)."""
        return self.multilingual.model_id if judged_by_multilingual and self.multilingual else self.embedder.model_id


def cross_model_scale(scores: np.ndarray, reference_scores: np.ndarray, reference_z: np.ndarray) -> np.ndarray:
    """Scores of one model put on another model's scale by rank (quantile mapping).

    `reference_scores` and `reference_z` are the two models' scores of the same documents;
    each score in `scores` gets the second model's value at the rank the first model's
    score would take among the reference documents (linear between ranks, clamped at the
    ends, so nothing scores above the best reference document).
    """
    if reference_scores.size == 0:
        return standardise(scores)
    return np.interp(scores, np.sort(reference_scores), np.sort(reference_z)).astype(np.float32)


def one_per_work(kb: KnowledgeBase, pool: np.ndarray, count: int, language: str) -> list[tuple[int, list[int]]]:
    """The `count` best documents of `pool`, one version per work, each with the work's other versions in the pool.

    An article and its translations are one work, which takes one place in a list: the version
    in the question's `language` when the reader may open one (finite in `pool`), else the
    version that ranks best. It is ranked by its own score, and the work's other versions the
    reader may open are named with it, best first.
    """
    if kb.version_docs.size == 0:
        return [(int(i), []) for i in top_k(pool, count)]
    scores = pool[kb.version_docs]
    visible = np.isfinite(scores)
    own = visible & (kb.language[kb.version_docs] == language)
    # Per work, ordered so that its chosen version comes last: visible, then in the language, then by score.
    order = np.lexsort((np.where(visible, scores, 0.0), own, visible, kb.version_work))
    last = np.r_[kb.version_work[order][1:] != kb.version_work[order][:-1], True]
    shown = pool.copy()
    shown[kb.version_docs[order[~last]]] = -np.inf
    out = []
    for i in top_k(shown, count):
        others = kb.versions.get(kb.docs[i].work, ())
        offered = [j for j in others if j != i and np.isfinite(pool[j])]
        out.append((int(i), sorted(offered, key=lambda j: -pool[j])))
    return out


def _customer(kb: KnowledgeBase, store: GraphStore, customer_id: str) -> tuple[PathNode, dict[str, PathNode]]:
    """The customer and its installed base (kept in kb.customers; an unknown customer is not kept)."""
    kept = kb.customers.get(customer_id)
    if kept is not None:
        return kept
    rows = store.read(CUSTOMER_CONTEXT, customer=customer_id)
    if not rows:
        raise AnswerError(f"customer {customer_id!r} not found")
    customer = PathNode(customer_id, "Customer", rows[0]["name"] or customer_id)
    owned = {
        r["product"]: PathNode(r["product"], "Product", r["product_name"] or r["product"]) for r in rows if r["product"]
    }
    kb.customers.put(customer_id, (customer, owned))
    return customer, owned


def _context(
    kb: KnowledgeBase, store: GraphStore, *, customer_id: str | None, case_id: str | None, audience: str
) -> Context:
    context = Context()
    if customer_id:
        context.customer, context.owned = _customer(kb, store, customer_id)  # kept: read, never changed
    if case_id:
        rows = store.read(CASE_CONTEXT, case=case_id)
        if not rows:
            raise AnswerError(f"case {case_id!r} not found")
        if audience == "customer" and rows[0]["customer"] != customer_id:
            raise AccessDenied(f"case {case_id!r} is not one of this customer's cases")
        context.case = PathNode(case_id, "ServiceCase", rows[0]["subject"] or case_id)
        context.case_links = [
            (r["rel"], PathNode(r["node"], r["label"], str(r["name"]))) for r in rows if r["node"] is not None
        ]
    return context


def _doc_node(doc: KnowledgeDoc) -> PathNode:
    return PathNode(doc.id, doc.label, doc.title)


def _paths(doc: KnowledgeDoc, mentioned: dict[str, PathNode], context: Context) -> list[EvidencePath]:
    """Graph paths joining the document to what the question names and to the customer's or case's context."""
    here = _doc_node(doc)
    paths: list[EvidencePath] = []
    by_node = {link.node: link for link in doc.links}
    for node_id, node in mentioned.items():
        link = by_node.get(node_id)
        if link:
            paths.append(EvidencePath([here, node], [PathEdge(link.rel, doc.id, node_id)]))
    if context.customer and context.owned:
        for product_id, product in context.owned.items():
            link = by_node.get(product_id)
            if link:
                paths.append(
                    EvidencePath(
                        [context.customer, product, here],
                        [PathEdge("OWNS", context.customer.id, product_id), PathEdge(link.rel, doc.id, product_id)],
                    )
                )
    if context.case and context.case_links:
        for rel, node in context.case_links:
            link = by_node.get(node.id)
            if link and not (doc.kind == "case" and doc.id == context.case.id):
                paths.append(
                    EvidencePath(
                        [context.case, node, here],
                        [PathEdge(rel, context.case.id, node.id), PathEdge(link.rel, doc.id, node.id)],
                    )
                )
    if doc.kind == "case" and doc.resolution_id:
        resolution = by_node[doc.resolution_id]
        paths.append(
            EvidencePath(
                [here, PathNode(resolution.node, resolution.label, resolution.name)],
                [PathEdge("RESOLVED_BY", doc.id, resolution.node)],
            )
        )
    return paths


def _summary(doc: KnowledgeDoc) -> str:
    if doc.kind == "case":
        cause = next((link.name for link in doc.links if link.rel == "HAS_CAUSE"), None)
        resolution = next((link.name for link in doc.links if link.rel == "RESOLVED_BY"), "")
        return f"Resolution: {resolution}" + (f" (cause: {cause})" if cause else "")
    return summary(doc.text)


def answer(
    kb: KnowledgeBase,
    store: GraphStore,
    question: str,
    *,
    customer_id: str | None = None,
    case_id: str | None = None,
    audience: str = "staff",
    limit: int = 5,
    case_limit: int = 3,
    expert_limit: int = 3,
) -> Answer:
    """Ranked suggestions for a question, each with its evidence (see module docstring).

    `audience` is 'staff' (engineers: articles, similar resolved cases, experts) or 'customer'
    (validated customer/public articles only; `customer_id` is optional — a portal visitor
    who is not logged in has none — and a `case_id` must be one of that customer's cases).
    """
    if audience not in AUDIENCES:
        raise AnswerError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    if audience == "customer" and case_id and not customer_id:
        raise AccessDenied("a question about a case needs the case's customer")
    question = question.strip()
    context = _context(kb, store, customer_id=customer_id, case_id=case_id, audience=audience)
    if not question and context.case:
        question = context.case.name
    if not question:
        raise AnswerError("the question is empty")
    mentioned = kb.mentions(question)
    language = question_language(question)
    s = kb.settings
    boost_nodes = kb.mention_boosts(mentioned)
    for product in (context.owned or {}).values():
        boost_nodes[product.id] = boost_nodes.get(product.id, 0.0) + s.boost_installed_base
    for _, node in context.case_links or []:
        boost_nodes[node.id] = boost_nodes.get(node.id, 0.0) + s.boost_installed_base
    fused, parts = kb.ranked(question, audience=audience, boost_nodes=boost_nodes)
    if context.case is not None:
        own = kb.by_id.get(("case", context.case.id))
        if own is not None:
            fused[own] = -np.inf  # the case itself is not a "similar case"
    lexical, dense = parts["lexical"], parts["dense"]
    weak = kb.weak_match(bool(mentioned or context.case_links), dense)
    query_terms = set(parts["tokens"])
    question_words: dict[str, str] = parts["words"]

    suggestions: list[Suggestion] = []
    pools = [("article", limit)] + ([("case", case_limit)] if audience == "staff" else [])
    for kind, count in pools:
        pool = np.where(kb.is_article if kind == "article" else ~kb.is_article, fused, -np.inf)
        for i, others in one_per_work(kb, pool, count, language):
            doc = kb.docs[i]
            boosts = kb.static_boost_parts(i, audience)
            if kb.language[i] == language:
                boosts["same_language"] = s.boost_same_language
            for node_id, weight in boost_nodes.items():
                if any(link.node == node_id for link in doc.links):
                    name = kb.mention_boost(mentioned[node_id])[0] if node_id in mentioned else "installed_base"
                    boosts[name] = boosts.get(name, 0.0) + weight
            people = [
                {
                    "role": {"AUTHORED": "author", "VALIDATED": "validator", "HANDLED_BY": "engineer"}[rel],
                    "id": pid,
                    "name": name,
                }
                for rel, pid, name in doc.people
            ]
            if audience == "customer":
                people = [{"role": p["role"], "name": p["name"]} for p in people if p["role"] != "engineer"]
            matched = query_terms.intersection(kb.index.doc_tokens[i])
            evidence = Evidence(
                matched_terms=sorted(matched),
                matched_words=list(dict.fromkeys(w for t, w in question_words.items() if t in matched)),
                semantic_similarity=round(float(dense[i]), 4),
                lexical_rank=rank_of(lexical, i, positive_only=True),
                dense_rank=rank_of(dense, i),
                dense_model=kb.dense_model(bool(parts["multilingual"][i])),
                paths=_paths(
                    doc, mentioned, context if audience == "staff" else Context(context.customer, context.owned)
                ),
                usage={
                    "views": doc.views,
                    "helpful": doc.helpful,
                    "not_helpful": doc.not_helpful,
                    f"{audience}_helpful": doc.feedback.get(audience, (0, 0))[0],
                    f"{audience}_not_helpful": doc.feedback.get(audience, (0, 0))[1],
                    "reused": doc.reused,
                },
                people=people,
                boosts={k: round(v, 4) for k, v in boosts.items()},
                source={"label": doc.label, "id": doc.id, "version": doc.version, "updated_at": doc.updated_at},
            )
            suggestions.append(
                Suggestion(
                    kind=kind,
                    id=doc.id,
                    title=doc.title,
                    score=round(float(fused[i]), 4),
                    summary=_summary(doc),
                    evidence=evidence,
                    confidence=doc.confidence,
                    audience=doc.audience,
                    language=doc.language,
                    translations=[
                        {"id": kb.docs[j].id, "title": kb.docs[j].title, "language": kb.docs[j].language}
                        for j in others
                    ],
                )
            )
    if audience == "staff" and expert_limit and weak is None:
        suggestions.extend(rank_experts(kb, fused, limit=expert_limit))
    return Answer(
        question=question,
        audience=audience,
        linked=list(mentioned.values()),
        suggestions=suggestions,
        weak_match=weak,
    )
