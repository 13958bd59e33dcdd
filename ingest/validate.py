"""Row validation: types, required fields and the ontology's closed value sets."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ingest.mapping import Mapping
from ingest.readers import lookup
from ontology import load_vocabulary

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


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


class InvalidValue(ValueError):
    """A value that does not fit its declared type."""


def normalise_phone(text: str) -> str:
    """Digits only, with a leading + kept (formatting differs between departments)."""
    cleaned = re.sub(r"[^\d+]", "", text)
    if len(re.sub(r"\D", "", cleaned)) < 6:
        raise InvalidValue("a phone number needs at least 6 digits")
    return cleaned


def coerce(value: Any, kind: str) -> Any:
    """The value converted to its graph type; InvalidValue with a reason otherwise."""
    text = str(value).strip()
    try:
        if kind == "string":
            return text
        if kind == "integer":
            return int(text)
        if kind == "decimal":
            return float(Decimal(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text))
        if kind == "boolean":
            if text.lower() in ("true", "yes", "1", "y"):
                return True
            if text.lower() in ("false", "no", "0", "n"):
                return False
            raise InvalidValue("expected true/false")
        if kind == "date":
            return date.fromisoformat(text).isoformat()
        if kind == "datetime":
            return datetime.fromisoformat(text).isoformat(timespec="seconds")
        if kind == "email":
            if not EMAIL.match(text):
                raise InvalidValue("not an e-mail address")
            return text.lower()
        if kind == "phone":
            return normalise_phone(text)
        if kind == "country":
            if not COUNTRY.match(text.upper()):
                raise InvalidValue("expected a two-letter ISO country code")
            return text.upper()
    except (ValueError, InvalidOperation) as exc:
        if isinstance(exc, InvalidValue):
            raise
        raise InvalidValue(f"not a valid {kind}") from None
    raise InvalidValue(f"unknown type {kind}")


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
        value = lookup(record, link.source)
        if value is None or not str(value).strip():
            problems.append(Rejection(file, line, link.source, "", f"the {link.rel} link column is empty"))
    vocabulary = load_vocabulary()
    props: dict[str, Any] = {}
    for field in mapping.fields:
        value = lookup(record, field.source)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                problems.append(Rejection(file, line, field.source, "", f"required field '{field.property}' is empty"))
            continue
        try:
            converted = coerce(value, field.type)
        except InvalidValue as exc:
            problems.append(Rejection(file, line, field.source, str(value), str(exc)))
            continue
        allowed = vocabulary.properties[field.property].allowed_values
        if allowed and converted not in allowed:
            problems.append(Rejection(file, line, field.source, str(value), f"must be one of {', '.join(allowed)}"))
            continue
        props[field.property] = converted
    return key, props, problems
