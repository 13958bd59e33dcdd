"""Expert know-how: Markdown files with YAML front matter → KnowledgeArticle, Expert, Topic, links.

Front matter (`---` … `---`): `id`, `title`, `author` (an Employee id), `audience`
(internal | customer | public), `language`, `confidence` (work-in-progress | not-validated
| validated | archived), optional `products` (Product ids), `topics` (Topic ids; new
topics are created) and `translation_of` (the id of the article this one translates: an
original in another language, in the graph or in the same directory; it becomes
`TRANSLATION_OF`, schema.org's translationOfWork). The text is linked with the same span rulers as service notes:
every span becomes a `MENTIONS` edge with offsets, products and components it names
`APPLIES_TO`, and the symptoms and error codes named where the article states its problem
`RESOLVES`: its title and the sections under an issue heading (Issue, Problem, Symptoms,
Error…, 问题, 症状, 故障…), or anywhere in an article without headings. A checklist's
"check for unusual noise" is a mention, not a resolution. Links found in the text carry
`from_text` (`text_links`, `relink_article`: the console's edits and KCS drafts derive them
the same way). An edit of an existing article
(changed content) keeps the previous text as an `ArticleVersion`, and its links are derived
again from the new file: a product, topic, translation or mention the file no longer names
is unlinked. An article edited in the console keeps its edit while its file is unchanged; a
changed file replaces it (the edit stays in the history, and the run names the article).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from ingest.notes import Mention, NoteLinker
from ingest.readers import SourceFileError
from ingest.runner import RunCounts
from ingest.validate import Rejection, write_quarantine
from kbcrm.domain.article_versions import version_node, write_versions
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology import load_vocabulary
from ontology.terms import Label, Rel

REQUIRED = ("id", "title", "author", "audience", "language", "confidence")
EXISTING = cypher(
    "articles.existing",
    "UNWIND $ids AS id OPTIONAL MATCH (a:KnowledgeArticle {id: id}) "
    "RETURN id, a.content_hash AS hash, a.file_hash AS file_hash, a.version AS version, a.title AS title, "
    "a.body AS body",
    example={"ids": ["kb-1"]},
)
KNOWN_IDS = cypher(
    "articles.known_ids",
    "MATCH (e:Employee) RETURN 'Employee' AS label, e.id AS id "
    "UNION MATCH (p:Product) RETURN 'Product' AS label, p.id AS id",
)
# The articles already in the graph, as a translation_of check needs them: language, and the original of a translation.
KNOWN_ARTICLES = cypher(
    "articles.known_articles",
    "MATCH (a:KnowledgeArticle) OPTIONAL MATCH (a)-[:TRANSLATION_OF]->(o:KnowledgeArticle) "
    "RETURN a.id AS id, a.language AS language, o.id AS original",
)
# What an article's file says about its links; an edited file's links are derived again, so these go first.
DROP_DERIVED_LINKS = cypher(
    "articles.drop_derived_links",
    "MATCH (a:KnowledgeArticle)-[r:APPLIES_TO|RESOLVES|ON_TOPIC|MENTIONS|TRANSLATION_OF]->() "
    "WHERE a.id IN $ids DELETE r",
    example={"ids": ["kb-1"]},
)
# The links an article's text gave it; a console edit or a KCS draft derives them again (declared ones stay).
DROP_TEXT_LINKS = cypher(
    "articles.drop_text_links",
    "MATCH (a:KnowledgeArticle {id: $id})-[r:APPLIES_TO|RESOLVES|MENTIONS]->() "
    "WHERE type(r) = 'MENTIONS' OR r.from_text = true DELETE r",
    example={"id": "kb-1"},
)
DECLARED_LINKS = cypher(
    "articles.declared_links",
    "MATCH (a:KnowledgeArticle {id: $id})-[r:APPLIES_TO|RESOLVES]->(n) WHERE r.from_text IS NULL "
    "RETURN type(r) AS rel, n.id AS id",
    example={"id": "kb-1"},
)
# Headings under which an article states the problem it solves (a heading containing one of these, lower-case).
ISSUE_HEADINGS = ("issue", "problem", "symptom", "error", "fault", "问题", "症状", "故障", "现象", "错误")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


def article_text(title: str, body: str) -> str:
    """The text the linker reads for an article; spans' offsets count in it."""
    return f"{title}\n\n{body}"


def issue_ranges(title: str, body: str) -> list[tuple[int, int]]:
    """Where in `article_text(title, body)` the article states the problem it solves.

    The title, and each section under an issue heading up to the next heading; an article with no
    headings states it anywhere.
    """
    text = article_text(title, body)
    headings = list(HEADING.finditer(text, len(title)))
    if not headings:
        return [(0, len(text))]
    ranges = [(0, len(title))]
    for i, heading in enumerate(headings):
        if _is_issue_heading(heading):
            ranges.append((heading.end(), headings[i + 1].start() if i + 1 < len(headings) else len(text)))
    return ranges


def has_issue_section(body: str) -> bool:
    """True when the body has a section under an issue heading (the article says what problem it solves)."""
    return any(_is_issue_heading(heading) for heading in HEADING.finditer(body))


def _is_issue_heading(heading: re.Match[str]) -> bool:
    return any(word in heading.group(1).lower() for word in ISSUE_HEADINGS)


@dataclass
class TextLinks:
    """The edges an article's text gives it, by relationship: (edge row, end label) pairs."""

    applies: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    resolves: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    mentions: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def extend(self, other: TextLinks) -> None:
        """Add another article's links."""
        self.applies += other.applies
        self.resolves += other.resolves
        self.mentions += other.mentions


def text_links(
    article_id: str, title: str, body: str, spans: list[Mention], *, declared: Iterable[tuple[str, str]] = ()
) -> TextLinks:
    """The links `spans` (found in `article_text(title, body)`) give an article.

    Every span is a MENTIONS edge; symptoms and error codes inside an issue range RESOLVES, products
    and components APPLIES_TO (once each, marked `from_text`); links in `declared`, as (relationship,
    node id), belong to their source and are not repeated.
    """
    ranges = issue_ranges(title, body)
    links = TextLinks()
    seen: set[tuple[str, str]] = set(declared)
    for m in spans:
        edge = {"start": article_id, "end": m.node_id}
        links.mentions.append(({**edge, "start_char": m.start, "end_char": m.end, "matched_text": m.text}, m.label))
        if m.label in (Label.Symptom, Label.ErrorCode):
            if not any(start <= m.start < end for start, end in ranges):
                continue
            key, target = (Rel.RESOLVES, m.node_id), links.resolves
        else:
            key, target = (Rel.APPLIES_TO, m.node_id), links.applies
        if key not in seen:
            seen.add(key)
            target.append(({**edge, "from_text": True}, m.label))
    return links


def write_links(store: GraphStore, links: TextLinks) -> None:
    """Write articles' links, by relationship and end label."""
    for rel, items in ((Rel.APPLIES_TO, links.applies), (Rel.RESOLVES, links.resolves), (Rel.MENTIONS, links.mentions)):
        by_label: dict[str, list[dict[str, Any]]] = {}
        for edge, label in items:
            by_label.setdefault(label, []).append(edge)
        for label, edges in by_label.items():
            store.upsert_relationships(rel, edges, start_label=Label.KnowledgeArticle, end_label=label)


def relink_article(
    store: GraphStore, article_id: str, *, title: str, body: str, language: str, linker: NoteLinker | None = None
) -> TextLinks:
    """Derive an article's text links again after its text changed (a console edit, a KCS draft)."""
    linker = linker or NoteLinker.from_graph(store)
    declared = {(r["rel"], r["id"]) for r in store.read(DECLARED_LINKS, id=article_id)}
    spans = linker.link(article_text(title, body), "zh" if language == "zh" else "en")
    links = text_links(article_id, title, body, spans, declared=declared)
    store.run(DROP_TEXT_LINKS, id=article_id)
    write_links(store, links)
    return links


@dataclass
class ArticleReport(RunCounts):
    """What one articles run did."""

    run_id: str = ""
    quarantine_file: str = ""
    rejections: list[Rejection] = field(default_factory=list)
    # Articles whose changed file replaced an edit made in the console since their last ingest (the edit is
    # kept in their version history).
    replaced_edits: list[str] = field(default_factory=list)
    # Unchanged articles whose links a `relink` run derived again.
    relinked: list[str] = field(default_factory=list)


def parse_article(path: Path) -> tuple[dict[str, Any], str]:
    """Front matter and body; SourceFileError naming the file (and line) for bad files."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise SourceFileError(f"{path}: not UTF-8 text") from None
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise SourceFileError(f"{path}: line 1: no YAML front matter (the file must start with '---')")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise SourceFileError(f"{path}: front matter is not closed by a '---' line") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}: " if mark is not None else ""
        raise SourceFileError(f"{path}: {where}front matter is not valid YAML") from None
    if not isinstance(meta, dict):
        raise SourceFileError(f"{path}: front matter must be a mapping of fields")
    return meta, "\n".join(lines[end + 1 :]).strip()


def _problems(path: Path, meta: dict[str, Any], known: dict[str, set[str]]) -> list[Rejection]:
    vocabulary = load_vocabulary()
    found: list[Rejection] = []

    def bad(field_name: str, value: Any, message: str) -> None:
        found.append(Rejection(str(path), 1, field_name, str(value), message))

    for name in REQUIRED:
        if not str(meta.get(name) or "").strip():
            bad(name, "", f"required field '{name}' is missing")
    for name in ("audience", "confidence"):
        allowed = vocabulary.properties[name].allowed_values
        if meta.get(name) and meta[name] not in allowed:
            bad(name, meta[name], f"must be one of {', '.join(allowed)}")
    if meta.get("translation_of") is not None and not isinstance(meta["translation_of"], str):
        bad("translation_of", meta["translation_of"], "must be one article id")
    if meta.get("author") and meta["author"] not in known["Employee"]:
        bad("author", meta["author"], "no employee with this id in the graph")
    for product in meta.get("products") or []:
        if product not in known["Product"]:
            bad("products", product, "no product with this id in the graph")
    return found


def _reject(report: ArticleReport, problems: list[Rejection]) -> None:
    """Count a rejected file, keep its reasons in the report and in the run's quarantine file."""
    report.rejections.extend(problems)
    report.rejected += 1
    write_quarantine(Path(report.quarantine_file), problems)


def _translation_problems(
    articles: list[tuple[Path, dict[str, Any], str]], graph: dict[str, tuple[str, str | None]]
) -> dict[str, Rejection]:
    """By article id: why its `translation_of` cannot be linked.

    The original must exist (in this directory or in `graph`, KNOWN_ARTICLES by id), be in
    another language, and be an original itself, not another translation.
    """
    here = {str(m["id"]): (str(m["language"]), m.get("translation_of")) for _, m, _ in articles}
    found: dict[str, Rejection] = {}
    for path, meta, _ in articles:
        article_id, original = str(meta["id"]), meta.get("translation_of")
        if not original:
            continue
        target = here.get(original) or graph.get(original)
        if original == article_id:
            message = "an article cannot be a translation of itself"
        elif target is None:
            message = "no article with this id in the graph or in this directory"
        elif target[0] == str(meta["language"]):
            message = f"{original} is also in '{target[0]}': a translation is in another language than its original"
        elif target[1]:
            message = f"{original} is itself a translation (of {target[1]}): name the original"
        else:
            continue
        found[article_id] = Rejection(str(path), 1, "translation_of", str(original), message)
    return found


def _new_version_from_file(
    report: ArticleReport,
    rows: list[dict[str, Any]],
    versions: list[dict[str, Any]],
    old: dict[str, Any],
    last_file: str | None,
    meta: dict[str, Any],
    content: dict[str, Any],
    digest: str,
) -> None:
    """A new or changed file: the article's next version, counted as created or updated."""
    article_id = str(meta["id"])
    version = int(old.get("version") or 0) + 1
    if old.get("hash") is None:
        report.created += 1
    else:
        report.updated += 1
        if old["hash"] != last_file:  # edited in the console since the file was last ingested
            report.replaced_edits.append(article_id)
    rows.append({"id": article_id, **content, "version": version, "content_hash": digest, "file_hash": digest})
    versions.append(version_node(article_id, version, content, by=str(meta["author"])))


def ingest_articles(
    store: GraphStore,
    directory: Path,
    *,
    data_dir: Path,
    linker: NoteLinker | None = None,
    relink: bool = False,
) -> ArticleReport:
    """Load every `*.md` under `directory`; idempotent, with quarantine, provenance and version history.

    With `relink`, an unchanged file's links are derived again too (after a change of the catalogue
    or of the linking rules), from the text the article has now (a console edit that stands
    included), without a new version.
    """
    if not directory.is_dir():
        raise SourceFileError(f"{directory}: not a directory of Markdown files")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    report = ArticleReport(run_id=run_id, quarantine_file=str(data_dir / "quarantine" / f"{run_id}.csv"))
    known: dict[str, set[str]] = {"Employee": set(), "Product": set()}
    for row in store.read(KNOWN_IDS):
        known[row["label"]].add(row["id"])
    articles = []
    for path in sorted(directory.rglob("*.md")):
        report.read += 1
        try:
            meta, body = parse_article(path)
            problems = _problems(path, meta, known)
        except SourceFileError as exc:
            problems = [Rejection(str(path), 1, "", "", str(exc))]
        if problems:
            _reject(report, problems)
            continue
        articles.append((path, meta, body))
    if any(meta.get("translation_of") for _, meta, _ in articles):
        graph = {r["id"]: (r["language"], r["original"]) for r in store.read(KNOWN_ARTICLES)}
        untranslatable = _translation_problems(articles, graph)
        for rejection in untranslatable.values():
            _reject(report, [rejection])
        articles = [a for a in articles if str(a[1]["id"]) not in untranslatable]
    if not articles:
        return report
    now = utc_now()
    existing = {r["id"]: r for r in store.read(EXISTING, ids=[str(m["id"]) for _, m, _ in articles])}
    linker = linker or NoteLinker.from_graph(store)
    found = list(linker.link_many((article_text(str(m["title"]), body), str(m["language"])) for _, m, body in articles))
    rows: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    sources, provenance, authored, expertise, on_topic, translations = [], [], [], [], [], []
    links = TextLinks()
    edited: list[str] = []
    topics: dict[str, dict[str, Any]] = {}
    for (path, meta, body), spans in zip(articles, found, strict=True):
        article_id = str(meta["id"])
        content = {
            "title": str(meta["title"]),
            "body": body,
            "audience": meta["audience"],
            "language": str(meta["language"]),
            "confidence": meta["confidence"],
        }
        digest = hashlib.sha256(
            json.dumps({**content, "meta": meta}, sort_keys=True, default=str).encode()
        ).hexdigest()[:32]
        old = existing.get(article_id) or {}
        # The file as last ingested (articles ingested before file_hash was kept: their content_hash was it).
        last_file = old.get("file_hash") or old.get("hash")
        title = str(meta["title"])
        if last_file == digest:  # an unchanged file: the article stays as it is, a console edit included
            report.unchanged += 1
            if not relink:
                continue
            # Its links derived again with today's rules and catalogue; no new version.
            report.relinked.append(article_id)
            if old["hash"] != last_file:  # a console edit stands: its text is what the article says
                title, body = str(old["title"]), str(old["body"])
                spans = linker.link(article_text(title, body), "zh" if meta["language"] == "zh" else "en")
        else:
            _new_version_from_file(report, rows, versions, old, last_file, meta, content, digest)
            if old.get("hash") is not None:
                edited.append(article_id)
            source_id = f"source:{run_id}:{path.name}"
            sources.append(
                {
                    "id": source_id,
                    "source_kind": "articles",
                    "file": str(path.resolve()),
                    "run_id": run_id,
                    "ingested_at": now,
                }
            )
            provenance.append({"start": article_id, "end": source_id, "line": 1})
        authored.append({"start": str(meta["author"]), "end": article_id})
        for topic in meta.get("topics") or []:
            topics.setdefault(
                str(topic), {"id": str(topic), "name": str(topic).removeprefix("topic-").replace("-", " ")}
            )
            on_topic.append({"start": article_id, "end": str(topic)})
            expertise.append({"start": str(meta["author"]), "end": str(topic)})
        if meta.get("translation_of"):
            translations.append({"start": article_id, "end": str(meta["translation_of"])})
        products = [str(product) for product in meta.get("products") or []]
        links.applies += [({"start": article_id, "end": product}, Label.Product) for product in products]
        declared = {(Rel.APPLIES_TO, product) for product in products}
        links.extend(text_links(article_id, title, body, spans, declared=declared))
    if edited or report.relinked:
        store.run(DROP_DERIVED_LINKS, ids=edited + report.relinked)
    store.upsert_nodes(Label.Source, sources)
    store.upsert_nodes(Label.KnowledgeArticle, rows)
    write_versions(store, versions)
    store.upsert_relationships(Rel.DERIVED_FROM, provenance, start_label=Label.KnowledgeArticle, end_label=Label.Source)
    store.upsert_nodes(Label.Topic, [t for t in topics.values()])
    store.upsert_nodes(Label.Employee, [{"id": a["start"]} for a in authored], extra_labels=[Label.Expert])
    store.upsert_relationships(Rel.AUTHORED, authored, start_label=Label.Employee, end_label=Label.KnowledgeArticle)
    store.upsert_relationships(Rel.HAS_EXPERTISE, expertise, start_label=Label.Employee, end_label=Label.Topic)
    store.upsert_relationships(Rel.ON_TOPIC, on_topic, start_label=Label.KnowledgeArticle, end_label=Label.Topic)
    store.upsert_relationships(
        Rel.TRANSLATION_OF, translations, start_label=Label.KnowledgeArticle, end_label=Label.KnowledgeArticle
    )
    write_links(store, links)
    return report
