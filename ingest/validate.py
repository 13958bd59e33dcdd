"""Row validation: types, required fields, the ontology's closed value sets and its SHACL shapes."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.mapping import LinkMapping, Mapping
from ingest.readers import lookup
from kbcrm.domain.values import InvalidValue, coerce, split_list
from ontology import load_vocabulary
from ontology.shapes import rules_for


@dataclass(frozen=True)
class Rejection:
    """Why one row was not stored."""

    file: str
    line: int
    field: str
    value: str
    message: str


QUARANTINE_COLUMNS = ["file", "line", "field", "value", "message", "record"]


def write_quarantine(path: Path, problems: list[Rejection], record: dict[str, Any] | None = None) -> None:
    """Append rejected input, with the reasons, to a quarantine CSV (header written on first use)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    raw = json.dumps(record, ensure_ascii=False, default=str) if record is not None else ""
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(QUARANTINE_COLUMNS)
        writer.writerows([p.file, p.line, p.field, p.value, p.message, raw] for p in problems)


def validate_row(
    mapping: Mapping, file: str, line: int, record: dict[str, Any]
) -> tuple[str, dict[str, Any], list[Rejection]]:
    """The row's source key and graph properties, and every reason to reject it (empty when valid)."""
    problems: list[Rejection] = []
    if "_invalid_json" in record:
        return "", {}, [Rejection(file, line, "", "", f"invalid JSON: {record['_invalid_json']}")]
    parts = [lookup(record, column) for column in mapping.key]
    key = mapping.key_separator.join("" if p is None else str(p).strip() for p in parts)
    for column, part in zip(mapping.key, parts, strict=True):
        if part is None or not str(part).strip():
            problems.append(Rejection(file, line, column, "", "the key column is empty"))
    for link in mapping.links:
        if link.required and not link_values(record, link):
            problems.append(Rejection(file, line, link.source, "", f"the {link.rel} link column is empty"))
    vocabulary = load_vocabulary()
    props: dict[str, Any] = {}
    for field in mapping.fields:
        value = lookup(record, field.source)
        if field.type == "list":  # the items, each translated; no items is an empty cell
            value = [field.translate(item) for item in split_list(value)] or None
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                problems.append(Rejection(file, line, field.source, "", f"required field '{field.property}' is empty"))
            continue
        value = field.translate(value) if field.type != "list" else value
        try:
            converted = coerce(value, field.type)
        except InvalidValue as exc:
            problems.append(Rejection(file, line, field.source, str(value), str(exc)))
            continue
        allowed = vocabulary.properties[field.property].allowed_values
        outside = [v for v in (converted if field.type == "list" else [converted]) if allowed and v not in allowed]
        if outside:
            shown = ";".join(map(str, outside))
            problems.append(Rejection(file, line, field.source, shown, f"must be one of {', '.join(allowed)}"))
            continue
        props[field.property] = converted
    if not problems:
        problems.extend(_shape_problems(mapping, file, line, props))
    return key, props, problems


def link_values(record: dict[str, Any], link: LinkMapping) -> list[str]:
    """What a row's link column names: one value, or a `many` link's items (empty when the column is)."""
    value = lookup(record, link.source)
    if link.many:
        return split_list(value)
    text = "" if value is None else str(value).strip()
    return [text] if text else []


def _shape_problems(mapping: Mapping, file: str, line: int, props: dict[str, Any]) -> list[Rejection]:
    """The row against shapes.ttl's property rules for its label (what the export's SHACL validation checks)."""
    problems = []
    source = {f.property: f.source for f in mapping.fields}
    for rule in rules_for(mapping.label):
        if rule.property not in source:
            continue  # set by ingest itself (id, provenance), or a mapping-level matter (see load_mapping)
        value = props.get(rule.property)
        if value is None:
            if rule.min_count and not mapping.update_only:
                message = f"'{rule.property}' is required by the ontology's {rule.shape}"
                problems.append(Rejection(file, line, source[rule.property], "", message))
            continue
        reason = rule.violation(value)
        if reason is not None:
            message = f"'{rule.property}' {reason} ({rule.shape})"
            problems.append(Rejection(file, line, source[rule.property], str(value), message))
    return problems
