"""Streaming readers for source files: CSV, JSON array and JSON lines, with encoding detection.

Every problem with a file as a whole raises `SourceFileError` with a one-line message that
names the file and the reason; rows are yielded one at a time with their line number.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")


class SourceFileError(Exception):
    """A source file cannot be read as a whole (unreadable, wrong encoding, delimiter, columns)."""


@dataclass(frozen=True)
class SourceRow:
    """One record of a source file and where it stands (line for CSV / JSON lines, record number for JSON)."""

    line: int
    data: dict[str, Any]


def detect_encoding(path: Path) -> str:
    """UTF-8, UTF-8 with BOM or GB18030 (tried in that order), or SourceFileError."""
    try:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except IsADirectoryError:
        raise SourceFileError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise SourceFileError(f"{path}: cannot be read ({exc.strerror})") from None
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for encoding in ("utf-8", "gb18030"):
        try:
            # An incremental decoder tolerates a multi-byte character cut at the sample's end.
            codecs.getincrementaldecoder(encoding)().decode(sample, final=len(sample) < SAMPLE_BYTES)
            return encoding
        except UnicodeDecodeError:
            continue
    raise SourceFileError(f"{path}: encoding is not UTF-8, UTF-8 with BOM or GB18030; convert the file to UTF-8")


def _sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(path: Path, *, expected_columns: Sequence[str], delimiter: str | None = None) -> Iterator[SourceRow]:
    """Stream a CSV file's rows as dicts keyed by header; checks delimiter and columns first."""
    encoding = detect_encoding(path)
    handle = path.open(encoding=encoding, newline="")
    try:
        header_line = handle.readline()
        if not header_line.strip():
            raise SourceFileError(f"{path}: empty file (no header line)")
        sniffed = _sniff_delimiter(header_line)
        used = delimiter or sniffed
        if delimiter and sniffed != delimiter and header_line.count(delimiter) == 0:
            raise SourceFileError(
                f"{path}: wrong delimiter: the header is separated by {sniffed!r}, the mapping expects {delimiter!r}"
            )
        header = next(csv.reader([header_line], delimiter=used))
        missing = [c for c in expected_columns if c not in header]
        if missing:
            raise SourceFileError(
                f"{path}: mapped column(s) {', '.join(repr(c) for c in missing)} not in the header "
                f"(columns found: {', '.join(header)})"
            )
        reader = csv.DictReader(handle, fieldnames=header, delimiter=used)
        line = 1
        try:
            for record in reader:
                line = reader.line_num + 1  # +1: the header was read before the DictReader
                yield SourceRow(line, {k: v for k, v in record.items() if k is not None})
        except UnicodeDecodeError as exc:
            raise SourceFileError(f"{path}: line {line + 1}: bytes that are not {encoding} ({exc.reason})") from None
        except csv.Error as exc:
            raise SourceFileError(f"{path}: line {line + 1}: malformed CSV ({exc})") from None
    finally:
        handle.close()


def read_json(path: Path) -> Iterator[SourceRow]:
    """Stream JSON lines (one object a line) or a JSON array of objects."""
    encoding = detect_encoding(path)
    with path.open(encoding=encoding) as handle:
        first = handle.read(1)
        while first and first.isspace():
            first = handle.read(1)
        handle.seek(0)
        if first == "[":
            try:
                records = json.load(handle)
            except json.JSONDecodeError as exc:
                raise SourceFileError(f"{path}: invalid JSON at line {exc.lineno} ({exc.msg})") from None
            for number, record in enumerate(records, start=1):
                yield SourceRow(number, record if isinstance(record, dict) else {"_value": record})
            return
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                yield SourceRow(number, {"_invalid_json": f"{exc.msg} at column {exc.colno}"})
                continue
            yield SourceRow(number, record if isinstance(record, dict) else {"_value": record})


def estimate_rows(path: Path) -> int | None:
    """About how many records a CSV or JSON-lines file holds, for a progress bar's ETA.

    Its line count less a CSV header: never fewer than there are (a quoted field may span
    lines). None for a JSON array or a file that cannot be read. One pass over the bytes,
    about 1 s per GB.
    """
    try:
        with path.open("rb") as handle:
            first = handle.read(SAMPLE_BYTES)
            if first.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"[":
                return None
            lines, last, chunk = 0, b"", first
            while chunk:
                lines += chunk.count(b"\n")
                last = chunk
                chunk = handle.read(1 << 22)
    except OSError:
        return None
    lines += 1 if last and not last.endswith(b"\n") else 0
    header = 0 if path.suffix.lower() in (".json", ".jsonl", ".ndjson") else 1
    return max(lines - header, 0)


def lookup(record: dict[str, Any], path: str) -> Any:
    """A value by dotted path (`site.city`) in a nested record; None when absent."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
