"""The product catalogue: components, products, symptoms, error codes and topics from a folder of CSV files.

The layout is the demo generator's `catalog/` (lists separated by `;`; a file that is absent
is skipped):

* `components.csv`: component_id, name, aliases, name_zh
* `products.csv`: product_id, sku, name, aliases, name_zh, category, list_price, launched_on,
  components (→ `HAS_COMPONENT`)
* `symptoms.csv`: symptom_id, name, aliases, name_zh, components (the components that cause it:
  Component → `HAS_SYMPTOM`)
* `error_codes.csv`: code, description, symptom_id (→ `INDICATES`)
* `topics.csv`: topic_id, name, name_zh

Files are read in that order, so a product may name a component of the same folder. Every row
is checked (required fields, numbers, dates, and that what it names exists in the graph or in
the folder); a bad row is quarantined with file, line, field and reason, and nothing of it is
written. Every node is `DERIVED_FROM` its file (with the line). Re-running an unchanged folder
changes nothing; a changed row replaces its node's properties and the links it lists.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.readers import SourceFileError, read_csv
from ingest.runner import RunCounts
from ingest.validate import Rejection, write_quarantine
from kbcrm.domain.values import InvalidValue, coerce, split_list
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel


@dataclass(frozen=True)
class Column:
    """A node property from a column: its type (kbcrm.domain.values) or "list" (`;`-separated)."""

    property: str
    column: str
    type: str = "string"
    required: bool = False


@dataclass(frozen=True)
class Link:
    """Relationships a row lists in a column: to nodes of `label` by id, from the row's node or to it."""

    column: str
    rel: str
    label: str
    outgoing: bool = True
    many: bool = True
    required: bool = False


@dataclass(frozen=True)
class CatalogFile:
    """One file of the catalogue: the label its rows become, their key column, properties and links."""

    name: str
    label: str
    key: str
    columns: tuple[Column, ...]
    links: tuple[Link, ...] = ()


NAMES = (Column("name", "name", required=True), Column("aliases", "aliases", "list"), Column("name_zh", "name_zh"))
FILES = (
    CatalogFile("components.csv", Label.Component, "component_id", NAMES),
    CatalogFile(
        "products.csv",
        Label.Product,
        "product_id",
        (
            Column("sku", "sku", required=True),
            *NAMES,
            Column("category", "category"),
            Column("list_price", "list_price", "decimal"),
            Column("launched_on", "launched_on", "date"),
        ),
        (Link("components", Rel.HAS_COMPONENT, Label.Component),),
    ),
    CatalogFile(
        "symptoms.csv",
        Label.Symptom,
        "symptom_id",
        NAMES,
        (Link("components", Rel.HAS_SYMPTOM, Label.Component, outgoing=False),),
    ),
    CatalogFile(
        "error_codes.csv",
        Label.ErrorCode,
        "code",
        (Column("code", "code", required=True), Column("description", "description")),
        (Link("symptom_id", Rel.INDICATES, Label.Symptom, many=False, required=True),),
    ),
    CatalogFile(
        "topics.csv", Label.Topic, "topic_id", (Column("name", "name", required=True), Column("name_zh", "name_zh"))
    ),
)
KNOWN = cypher(
    "catalog.known",
    "MATCH (c:Component) RETURN 'Component' AS label, c.id AS id, c.content_hash AS hash "
    "UNION MATCH (p:Product) RETURN 'Product' AS label, p.id AS id, p.content_hash AS hash "
    "UNION MATCH (s:Symptom) RETURN 'Symptom' AS label, s.id AS id, s.content_hash AS hash "
    "UNION MATCH (e:ErrorCode) RETURN 'ErrorCode' AS label, e.id AS id, e.content_hash AS hash "
    "UNION MATCH (t:Topic) RETURN 'Topic' AS label, t.id AS id, t.content_hash AS hash",
)
# A changed row's links are written again from the row: these remove the ones its catalogue file made.
UNLINK = {
    Rel.HAS_COMPONENT: cypher(
        "catalog.unlink_components",
        "MATCH (p:Product)-[r:HAS_COMPONENT]->(:Component) WHERE p.id IN $ids DELETE r",
        example={"ids": ["p"]},
    ),
    Rel.HAS_SYMPTOM: cypher(
        "catalog.unlink_symptom_components",
        "MATCH (:Component)-[r:HAS_SYMPTOM]->(s:Symptom) WHERE s.id IN $ids DELETE r",
        example={"ids": ["s"]},
    ),
    Rel.INDICATES: cypher(
        "catalog.unlink_indicates",
        "MATCH (e:ErrorCode)-[r:INDICATES]->(:Symptom) WHERE e.id IN $ids DELETE r",
        example={"ids": ["e"]},
    ),
}


@dataclass
class CatalogReport(RunCounts):
    """What one catalogue run did, in all and per file."""

    run_id: str = ""
    quarantine_file: str = ""
    rejections: list[Rejection] = field(default_factory=list)
    files: dict[str, dict[str, int]] = field(default_factory=dict)


def _row(
    spec: CatalogFile, path: Path, line: int, data: dict[str, Any], known: dict[str, dict[str, str | None]]
) -> tuple[str, dict[str, Any], dict[str, list[str]], list[Rejection]]:
    """The row's id, properties and link targets, and every reason to reject it."""
    problems: list[Rejection] = []

    def bad(column: str, value: Any, message: str) -> None:
        problems.append(Rejection(str(path), line, column, str(value), message))

    key = str(data.get(spec.key) or "").strip()
    if not key:
        bad(spec.key, "", "the key column is empty")
    props: dict[str, Any] = {}
    for column in spec.columns:
        raw = str(data.get(column.column) or "").strip()
        if not raw:
            if column.required:
                bad(column.column, "", f"required field '{column.property}' is empty")
            continue
        if column.type == "list":
            props[column.property] = split_list(raw)
            continue
        try:
            props[column.property] = coerce(raw, column.type)
        except InvalidValue as exc:
            bad(column.column, raw, str(exc))
    targets: dict[str, list[str]] = {}
    for link in spec.links:
        values = split_list(data.get(link.column)) if link.many else [str(data.get(link.column) or "").strip()]
        values = [v for v in values if v]
        if link.required and not values:
            bad(link.column, "", f"the {link.rel} link column is empty")
        for value in values:
            if value not in known[link.label]:
                bad(link.column, value, f"no {link.label} with id {value!r} in the graph or in this folder")
        targets[link.rel] = values
    return key, props, targets, problems


def ingest_catalog(
    store: GraphStore, directory: Path, *, data_dir: Path, on_file: Callable[[str], Any] | None = None
) -> CatalogReport:
    """Load the catalogue files of `directory` (see the module docstring); idempotent, with quarantine."""
    if not directory.is_dir():
        raise SourceFileError(f"{directory}: not a directory of catalogue files")
    present = [spec for spec in FILES if (directory / spec.name).exists()]
    if not present:
        names = ", ".join(spec.name for spec in FILES)
        raise SourceFileError(f"{directory}: none of the catalogue files ({names})")
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    report = CatalogReport(run_id=run_id, quarantine_file=str(data_dir / "quarantine" / f"{run_id}.csv"))
    known: dict[str, dict[str, str | None]] = {spec.label: {} for spec in FILES}
    for r in store.read(KNOWN):
        known[r["label"]][r["id"]] = r["hash"]
    now = utc_now()
    for spec in present:
        path = directory / spec.name
        if on_file is not None:
            on_file(spec.name)
        counts = RunCounts()
        rows: list[dict[str, Any]] = []
        links: dict[str, list[dict[str, Any]]] = {link.rel: [] for link in spec.links}
        provenance: list[dict[str, Any]] = []
        changed: list[str] = []
        seen: dict[str, int] = {}
        expected = [spec.key, *(c.column for c in spec.columns), *(link.column for link in spec.links)]
        source_id = f"source:{run_id}:{spec.name}"
        cleared = {c.property: None for c in spec.columns}  # a cell emptied in the file clears the property
        for record in read_csv(path, expected_columns=expected):
            counts.read += 1
            key, props, targets, problems = _row(spec, path, record.line, record.data, known)
            if key in seen:
                problems.append(
                    Rejection(str(path), record.line, spec.key, key, f"the same id as line {seen[key]} of this file")
                )
            if problems:
                counts.rejected += 1
                report.rejections.extend(problems)
                write_quarantine(Path(report.quarantine_file), problems, record.data)
                continue
            seen[key] = record.line
            digest = hashlib.sha256(
                json.dumps({"props": props, "links": targets}, sort_keys=True, default=str).encode()
            ).hexdigest()[:32]
            exists, stored = key in known[spec.label], known[spec.label].get(key)
            known[spec.label][key] = digest  # later files may name it
            if exists and stored == digest:
                counts.unchanged += 1
                continue
            if not exists:
                counts.created += 1
            else:
                counts.updated += 1
                changed.append(key)
            rows.append({"id": key, **cleared, **props, "content_hash": digest})
            provenance.append({"start": key, "end": source_id, "line": record.line})
            for link in spec.links:
                for target in targets[link.rel]:
                    edge = {"start": key, "end": target} if link.outgoing else {"start": target, "end": key}
                    links[link.rel].append({**edge, "source_id": source_id})
        if rows:
            for link in spec.links:
                if changed:
                    store.run(UNLINK[link.rel], ids=changed)
            store.upsert_nodes(
                Label.Source,
                [
                    {
                        "id": source_id,
                        "source_kind": "catalog",
                        "file": str(path.resolve()),
                        "run_id": run_id,
                        "ingested_at": now,
                    }
                ],
            )
            store.upsert_nodes(spec.label, rows)
            store.upsert_relationships(Rel.DERIVED_FROM, provenance, start_label=spec.label, end_label=Label.Source)
            for link in spec.links:
                start, end = (spec.label, link.label) if link.outgoing else (link.label, spec.label)
                store.upsert_relationships(link.rel, links[link.rel], start_label=start, end_label=end)
        report.files[spec.name] = counts.counts()
        for name in ("read", "created", "updated", "unchanged", "rejected"):
            setattr(report, name, getattr(report, name) + getattr(counts, name))
    return report
