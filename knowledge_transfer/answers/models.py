"""What answer assist returns: suggestions with their evidence, as plain data (JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PathNode:
    """A node on an evidence path."""

    id: str
    label: str
    name: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as dataclasses.asdict, without its generic recursion)."""
        return {"id": self.id, "label": self.label, "name": self.name}


@dataclass(frozen=True)
class PathEdge:
    """A directed edge on an evidence path, as stored in the graph (start -[type]-> end)."""

    type: str
    start: str
    end: str


@dataclass
class EvidencePath:
    """A chain of graph nodes and edges that connects the question's context to a suggestion."""

    nodes: list[PathNode]
    edges: list[PathEdge]

    @property
    def text(self) -> str:
        """The path in words, e.g. `Customer Acme → OWNS → Product AX-120 ← APPLIES_TO ← KnowledgeArticle …`."""
        parts = [f"{self.nodes[0].label} {self.nodes[0].name}"]
        for edge, (left, right) in zip(self.edges, zip(self.nodes, self.nodes[1:], strict=False), strict=False):
            arrow = f"→ {edge.type} →" if edge.start == left.id else f"← {edge.type} ←"
            parts.append(f"{arrow} {right.label} {right.name}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the path's text."""
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [{"type": e.type, "start": e.start, "end": e.end} for e in self.edges],
            "text": self.text,
        }


@dataclass
class Evidence:
    """Why a suggestion is shown: words, meaning, graph, usage and people.

    `matched_terms` are the index's tokens the question and the document share (stems, codes,
    Chinese words); `matched_words` are the same matches as the question wrote them, for people.
    """

    matched_terms: list[str]
    semantic_similarity: float
    lexical_rank: int | None
    dense_rank: int | None
    dense_model: str
    paths: list[EvidencePath] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    people: list[dict[str, str]] = field(default_factory=list)
    boosts: dict[str, float] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    matched_words: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: what dataclasses.asdict gives, written out (a search answer builds dozens of these)."""
        return {
            "matched_terms": list(self.matched_terms),
            "semantic_similarity": self.semantic_similarity,
            "lexical_rank": self.lexical_rank,
            "dense_rank": self.dense_rank,
            "dense_model": self.dense_model,
            "paths": [p.to_dict() for p in self.paths],
            "usage": dict(self.usage),
            "people": [dict(p) for p in self.people],
            "boosts": dict(self.boosts),
            "source": dict(self.source),  # flat: label, id, version, updated_at
            "matched_words": list(self.matched_words),
        }


@dataclass
class Suggestion:
    """One ranked suggestion: an article, a similar resolved case or an expert."""

    kind: str  # article | case | expert
    id: str
    title: str
    score: float
    summary: str
    evidence: Evidence
    confidence: str | None = None
    audience: str | None = None
    language: str | None = None  # the document's (en, zh); None for an expert
    # The same article in other languages the reader may open: id, title, language (the list shows one version).
    translations: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (paths carry their text)."""
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "score": self.score,
            "summary": self.summary,
            "evidence": self.evidence.to_dict(),
            "confidence": self.confidence,
            "audience": self.audience,
            "language": self.language,
            "translations": [dict(t) for t in self.translations],
        }


@dataclass
class Answer:
    """Suggestions for one question, best first, with what the question was linked to."""

    question: str
    audience: str
    linked: list[PathNode]
    suggestions: list[Suggestion]
    # Set when nothing matches the question well (KnowledgeBase.weak_match): why, in numbers.
    weak_match: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "question": self.question,
            "audience": self.audience,
            "linked": [n.to_dict() for n in self.linked],
            "suggestions": [s.to_dict() for s in self.suggestions],
            "weak_match": self.weak_match,
        }
