"""Expert finder: who knows about a topic or question, and why.

The question is ranked against articles and resolved cases exactly as answer assist does
(staff audience). The best `depth` documents vote for the people attached to them in the
graph: an author counts 1.0, a validator 0.7, the engineer who handled a resolved case 0.5,
each times the document's rank weight 1 / (1 + position) and a recency factor
exp(-age / 365 days), age measured from the newest document in the knowledge base (so the
result depends on the data, not on the day it runs). Every vote is listed as evidence with
the graph edge behind it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from kbcrm.graph import GraphStore, cypher
from knowledge_transfer.answers.models import Evidence, EvidencePath, PathEdge, PathNode, Suggestion
from knowledge_transfer.search.index import top_k

if TYPE_CHECKING:
    from knowledge_transfer.answers.corpus import KnowledgeDoc
    from knowledge_transfer.answers.service import KnowledgeBase

ROLE_WEIGHTS = {"AUTHORED": 1.0, "VALIDATED": 0.7, "HANDLED_BY": 0.5}
ROLE_NAMES = {"AUTHORED": "authored", "VALIDATED": "validated", "HANDLED_BY": "resolved case"}


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


def newest_update(docs: Sequence[KnowledgeDoc]) -> datetime | None:
    """The latest `updated_at` of the documents (the recency factor's reference), None when none has one."""
    dates = [d for d in (_when(doc.updated_at) for doc in docs) if d]
    return max(dates) if dates else None


def rank_experts(kb: KnowledgeBase, fused: np.ndarray, *, limit: int = 5, depth: int = 30) -> list[Suggestion]:
    """Employees ranked by their weighted part in the best `depth` documents of a fused ranking."""
    newest = kb.newest_update
    scores: dict[str, float] = defaultdict(float)
    names: dict[str, str] = {}
    votes: dict[str, list[tuple[float, str, int, int]]] = defaultdict(list)
    for position, i in enumerate(top_k(fused, depth)):
        doc = kb.docs[int(i)]
        when = _when(doc.updated_at)
        recency = math.exp(-((newest - when).days) / 365) if newest and when else 1.0
        for rel, person, name in doc.people:
            weight = ROLE_WEIGHTS.get(rel)
            if weight is None or (rel == "HANDLED_BY" and doc.kind != "case"):
                continue
            value = weight * recency / (1 + position)
            scores[person] += value
            names[person] = name
            votes[person].append((value, rel, int(i), position))
    out: list[Suggestion] = []
    for person in sorted(scores, key=lambda p: (-scores[p], p))[:limit]:
        me = PathNode(person, "Employee", names[person])
        paths, lines = [], []
        for _, rel, i, position in sorted(votes[person], reverse=True)[:5]:
            doc = kb.docs[i]
            edge = PathEdge(rel, doc.id, person) if rel == "HANDLED_BY" else PathEdge(rel, person, doc.id)
            paths.append(EvidencePath([me, PathNode(doc.id, doc.label, doc.title)], [edge]))
            # Why the person ranks, in words: what they did on which document, and how well it matched.
            lines.append(f"{ROLE_NAMES[rel]} {doc.id} “{doc.title}” (match rank {position + 1})")
        out.append(
            Suggestion(
                kind="expert",
                id=person,
                title=names[person],
                score=round(scores[person], 4),
                summary="; ".join(lines),
                evidence=Evidence(
                    matched_terms=[],
                    semantic_similarity=0.0,
                    lexical_rank=None,
                    dense_rank=None,
                    dense_model="",
                    paths=paths,
                    usage={"contributions": len(votes[person])},
                ),
            )
        )
    return out


TOPICS = cypher(
    "experts.topics",
    "MATCH (t:Topic) OPTIONAL MATCH (a:KnowledgeArticle)-[:ON_TOPIC]->(t) "
    "WITH t, count(a) AS articles OPTIONAL MATCH (e:Employee)-[:HAS_EXPERTISE]->(t) "
    "RETURN t.id AS id, t.name AS name, t.name_zh AS name_zh, articles, count(e) AS declared ORDER BY name, id",
    ordered=True,
)


def topics(store: GraphStore) -> list[dict[str, Any]]:
    """The knowledge topics to ask the finder about: id, names, articles on the topic, people who declare it."""
    return store.read(TOPICS)


def who_knows(kb: KnowledgeBase, topic_or_question: str, *, limit: int = 5) -> list[Suggestion]:
    """Employees who know about the topic or question, best first, with the evidence of each.

    None when nothing in the knowledge base is on the subject (KnowledgeBase.weak_match).
    """
    mentioned = kb.mentions(topic_or_question)
    fused, parts = kb.ranked(topic_or_question, audience="staff", boost_nodes=kb.mention_boosts(mentioned))
    if kb.weak_match(bool(mentioned), parts["dense"]) is not None:
        return []  # nothing on the subject: any name would be a guess
    return rank_experts(kb, fused, limit=limit)
