"""Measure the resolver on any labelled file: pairwise precision, recall, F1 and blocking completeness."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

from ingest.identity.compare import digits
from ingest.identity.resolver import Record, pairwise_quality, resolve
from ingest.readers import SourceFileError, detect_encoding

ALIASES: dict[str, tuple[str, ...]] = {
    "given": ("given_name", "first_name", "firstname", "given", "forename"),
    "family": ("surname", "family_name", "last_name", "lastname", "family"),
    "name": ("name", "full_name", "company", "display_name", "legal_name"),
    "dob": ("date_of_birth", "dob", "birth_date", "birthdate"),
    "email": ("email", "e_mail", "email_address"),
    "phone": ("phone", "telephone", "phone_number", "mobile"),
    "street": ("address_1", "street", "address", "street_address"),
    "street_number": ("street_number", "house_number"),
    "city": ("suburb", "city", "town", "locality"),
    "postcode": ("postcode", "postal_code", "zip", "zipcode"),
    "reg_id": ("soc_sec_id", "registration_id", "vat_id", "ssn", "tax_id"),
}
ID_COLUMNS = ("rec_id", "unique_id", "id", "record_id")


def read_labelled(
    path: Path, *, truth_column: str, truth_pattern: str | None = None, id_column: str | None = None
) -> tuple[list[Record], dict[str, str]]:
    """Records in canonical fields and each record's true entity, from a labelled CSV."""
    with path.open(encoding=detect_encoding(path), newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = [h.strip() for h in reader.fieldnames or []]
        if truth_column not in header:
            raise SourceFileError(f"{path}: no column {truth_column!r} (columns: {', '.join(header)})")
        id_col = id_column or next((c for c in ID_COLUMNS if c in header), header[0])
        pattern = re.compile(truth_pattern) if truth_pattern else None
        records, truth = [], {}
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            record: Record = {"id": row[id_col]}
            for canonical, names in ALIASES.items():
                column = next((n for n in names if n in row), None)
                if column and row[column]:
                    value: Any = row[column]
                    if canonical in ("dob", "phone", "reg_id"):
                        value = digits(value)
                    record[canonical] = value
            label = row[truth_column]
            if pattern is not None:
                match = pattern.search(label)
                label = match.group(1) if match and match.groups() else (match.group(0) if match else label)
            records.append(record)
            truth[record["id"]] = label
    return records, truth


def evaluate_file(
    path: Path,
    *,
    truth_column: str,
    truth_pattern: str | None = None,
    id_column: str | None = None,
    threshold: float = 0.0,
) -> dict[str, float]:
    """Resolve a labelled file and score the result against its labels."""
    records, truth = read_labelled(path, truth_column=truth_column, truth_pattern=truth_pattern, id_column=id_column)
    started = time.perf_counter()
    result = resolve(records, threshold=threshold)
    elapsed = time.perf_counter() - started
    quality = pairwise_quality(result.clusters, truth, result.pairs)
    quality.update(
        {
            "records": float(len(records)),
            "clusters": float(len(result.clusters)),
            "true_entities": float(len(set(truth.values()))),
            "seconds": elapsed,
        }
    )
    return quality
