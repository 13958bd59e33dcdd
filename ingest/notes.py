"""Link engineers' free-text service notes to the graph: products, components, error codes, symptoms.

Blank spaCy pipelines (`en`, and `zh` segmented by jieba) — no model download — with a
`span_ruler` whose phrase patterns are generated from the graph's own vocabulary (names,
aliases, Chinese names, SKUs, error codes in their `E-1234` and `E1234` spellings); each
pattern's id is the graph node id, so a match is a link. Ontology terms are added to
jieba's dictionary so Chinese segmentation keeps them whole. A stated cause and fix
("Root cause: … Resolution: …", "根本原因：…解决方法：…") become Cause and Resolution nodes.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kbcrm.demo.generator import read_jsonl
from kbcrm.graph import GraphStore, cypher
from ontology.terms import Label, Rel

LINKED_LABELS = (Label.Product, Label.Component, Label.Symptom, Label.ErrorCode)
PAGE = 2000
CAUSE_PATTERNS = (
    re.compile(
        r"(?:root cause|cause)\s*:\s*(?P<cause>[^.;]+)[.;]?\s*(?:resolution|fix|fixed by)\s*:\s*(?P<fix>[^.]+)", re.I
    ),
    re.compile(
        r"(?:根本原因|原因)[：:]\s*(?P<cause>[^。；]+)[。；]?\s*(?:解决方法|处理方法|解决办法)[：:]\s*(?P<fix>[^。]+)"
    ),
)

NOTES_PAGE = cypher(
    "notes.page",
    "MATCH (c:ServiceCase)-[:HAS_NOTE]->(n:ServiceNote) WHERE n.id > $after WITH c, n ORDER BY n.id LIMIT $limit "
    "RETURN n.id AS id, n.text AS text, n.language AS language, c.id AS case ORDER BY id",
    example={"after": "", "limit": 10},
    ordered=True,
)


_JIEBA_WORDS: set[str] = set()


def add_jieba_words(words: Iterable[str]) -> int:
    """Add words to jieba's process-wide dictionary, each once per process; returns how many were new.

    jieba's add_word re-derives a word's frequency on every call: adding each word once keeps
    segmentation independent of how many linkers or indexes were built before.
    """
    import jieba

    added = 0
    for word in words:
        if word not in _JIEBA_WORDS:
            jieba.add_word(word)
            _JIEBA_WORDS.add(word)
            added += 1
    return added


@dataclass(frozen=True)
class Mention:
    """A span of a note that names a graph node."""

    node_id: str
    label: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Outcome:
    """Cause and resolution stated in a note."""

    cause: str
    resolution: str


def _vocabulary(store: GraphStore) -> list[dict[str, Any]]:
    terms: list[dict[str, Any]] = []
    for label in LINKED_LABELS:
        rows = store.read(
            f"MATCH (n:{label}) RETURN n.id AS id, n.name AS name, n.aliases AS aliases, n.name_zh AS name_zh, "
            "n.sku AS sku, n.code AS code ORDER BY id"
        )
        terms.extend({**row, "label": label} for row in rows)
    return terms


def _surfaces(term: dict[str, Any]) -> tuple[set[str], set[str]]:
    english = {s for s in [term.get("name"), term.get("sku"), *(term.get("aliases") or [])] if s}
    if term.get("code"):
        code = str(term["code"])
        english |= {code, code.replace("-", "")}
    chinese = {s for s in [term.get("name_zh"), term.get("sku"), *english] if s}
    return english, chinese


class NoteLinker:
    """spaCy span rulers (English and Chinese) built from the graph's vocabulary."""

    def __init__(self, terms: Iterable[dict[str, Any]]) -> None:
        import jieba
        import spacy

        jieba.setLogLevel(60)
        self.english = spacy.blank("en")
        self.chinese = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        patterns_en, patterns_zh = [], []
        for term in terms:
            english, chinese = _surfaces(term)
            patterns_en += [{"label": term["label"], "pattern": s, "id": term["id"]} for s in sorted(english)]
            patterns_zh += [{"label": term["label"], "pattern": s, "id": term["id"]} for s in sorted(chinese)]
            add_jieba_words(sorted(chinese))
        config = {"spans_key": None, "annotate_ents": True, "phrase_matcher_attr": "LOWER"}
        self.english.add_pipe("span_ruler", config=config).add_patterns(patterns_en)  # type: ignore[attr-defined]
        self.chinese.add_pipe("span_ruler", config=config).add_patterns(patterns_zh)  # type: ignore[attr-defined]
        self.pattern_count = len(patterns_en) + len(patterns_zh)

    @classmethod
    def from_graph(cls, store: GraphStore) -> NoteLinker:
        """A linker for the vocabulary currently in the graph."""
        return cls(_vocabulary(store))

    def link_many(self, texts: Iterable[tuple[str, str]]) -> Iterator[list[Mention]]:
        """Mentions for (text, language) pairs, in order; language 'zh' uses the Chinese pipeline."""
        items = list(texts)
        docs: dict[int, Any] = {}
        for language, nlp in (("zh", self.chinese), ("en", self.english)):
            indexes = [i for i, (_, lang) in enumerate(items) if (lang == "zh") == (language == "zh")]
            for i, doc in zip(indexes, nlp.pipe(items[i][0] for i in indexes), strict=True):
                docs[i] = doc
        for i in range(len(items)):
            yield _mentions(docs[i])

    def link(self, text: str, language: str = "en") -> list[Mention]:
        """Mentions in one text (a note, a question): the pipeline called once, not `pipe` (0.066 against 0.091 ms)."""
        return _mentions((self.chinese if language == "zh" else self.english)(text))


def _mentions(doc: Any) -> list[Mention]:
    return [Mention(e.ent_id_, e.label_, e.start_char, e.end_char, e.text) for e in doc.ents if e.ent_id_]


def stated_outcome(text: str) -> Outcome | None:
    """The cause and resolution a note states, if it states them."""
    for pattern in CAUSE_PATTERNS:
        match = pattern.search(text)
        if match:
            return Outcome(match.group("cause").strip(), match.group("fix").strip().rstrip("。."))
    return None


def _node_id(prefix: str, text: str) -> str:
    return f"{prefix}:{hashlib.sha1(text.casefold().encode()).hexdigest()[:12]}"


def link_notes(store: GraphStore, linker: NoteLinker | None = None) -> dict[str, int]:
    """Link every ServiceNote: MENTIONS edges, case → error codes / symptoms, causes and resolutions. Idempotent."""
    linker = linker or NoteLinker.from_graph(store)
    counts = {"notes": 0, "mentions": 0, "causes": 0}
    after = ""
    while rows := store.read(NOTES_PAGE, after=after, limit=PAGE):
        after = rows[-1]["id"]
        mentions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        case_links: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        causes, resolutions, has_cause, resolved_by = [], [], [], []
        for row, found in zip(
            rows, linker.link_many((r["text"] or "", r["language"] or "en") for r in rows), strict=True
        ):
            counts["notes"] += 1
            for m in found:
                counts["mentions"] += 1
                mentions[m.label].append(
                    {
                        "start": row["id"],
                        "end": m.node_id,
                        "start_char": m.start,
                        "end_char": m.end,
                        "matched_text": m.text,
                    }
                )
                if m.label in (Label.ErrorCode, Label.Symptom):
                    rel = Rel.REPORTED_ERROR if m.label == Label.ErrorCode else Rel.HAS_SYMPTOM
                    case_links[(rel, m.label)].append({"start": row["case"], "end": m.node_id})
            outcome = stated_outcome(row["text"] or "")
            if outcome is not None:
                counts["causes"] += 1
                cause_id, fix_id = _node_id("cause", outcome.cause), _node_id("resolution", outcome.resolution)
                causes.append({"id": cause_id, "name": outcome.cause[:120], "text": outcome.cause})
                resolutions.append({"id": fix_id, "text": outcome.resolution})
                has_cause.append({"start": row["case"], "end": cause_id})
                resolved_by.append({"start": row["case"], "end": fix_id})
        for label, edges in mentions.items():
            store.upsert_relationships(Rel.MENTIONS, edges, start_label=Label.ServiceNote, end_label=label)
        for (rel, label), edges in case_links.items():
            store.upsert_relationships(rel, edges, start_label=Label.ServiceCase, end_label=label)
        store.upsert_nodes(Label.Cause, causes)
        store.upsert_nodes(Label.Resolution, resolutions)
        store.upsert_relationships(Rel.HAS_CAUSE, has_cause, start_label=Label.ServiceCase, end_label=Label.Cause)
        store.upsert_relationships(
            Rel.RESOLVED_BY, resolved_by, start_label=Label.ServiceCase, end_label=Label.Resolution
        )
    return counts


def linking_quality(predicted: dict[str, list[Mention]], truth: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Precision and recall of note linking against labelled spans: exact spans, and entities per note."""
    result: dict[str, float] = {}
    for name, key in (("span", lambda note, m: (note, m[0], m[1], m[2])), ("entity", lambda note, m: (note, m[0]))):
        found = {key(note, (m.node_id, m.start, m.end)) for note, ms in predicted.items() for m in ms}
        wanted = {key(note, (t["id"], t["start"], t["end"])) for note, ts in truth.items() for t in ts}
        hits = len(found & wanted)
        precision = hits / len(found) if found else 1.0
        recall = hits / len(wanted) if wanted else 1.0
        result[f"{name}_precision"], result[f"{name}_recall"] = precision, recall
        result[f"{name}_f1"] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result["notes"] = float(len(truth))
    return result


def evaluate_demo_linking(store: GraphStore, directory: Path, linker: NoteLinker | None = None) -> dict[str, float]:
    """Precision / recall of linking on a generated demo set's notes against the generator's labels."""
    linker = linker or NoteLinker.from_graph(store)
    notes = list(read_jsonl(directory / "case_notes.jsonl"))
    truth = {r["note_id"]: r["mentions"] for r in read_jsonl(directory / "truth" / "note_mentions.jsonl")}
    found = linker.link_many((n["text"], n["language"]) for n in notes)
    predicted = {n["note_id"]: mentions for n, mentions in zip(notes, found, strict=True)}
    return linking_quality(predicted, truth)
