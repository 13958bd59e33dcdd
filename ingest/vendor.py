"""Evaluate a purchased (third-party) data file against the customers already in the graph.

Nothing is loaded. For a file keyed by e-mail, phone or name + date of birth it reports:

* match rate — share of vendor rows that match a known customer;
* fill rate — per row, attributes supplied / attributes requested (the file's non-key
  columns, or the ones asked for), with the mean and per attribute;
* accuracy — where the graph already knows the truth: city, postcode, country, e-mail,
  phone, date of birth, and age (vendor age vs the known date of birth, ±1 year).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from ingest.identity.compare import digits, fold
from ingest.identity.evaluate import ALIASES
from ingest.readers import SourceFileError, detect_encoding
from kbcrm.graph import GraphStore, cypher

KEYS = ("email", "phone", "name+dob")
CUSTOMERS_PAGE = cypher(
    "vendor.customers_page",
    "MATCH (c:Customer) WHERE c.id > $after WITH c ORDER BY c.id LIMIT $limit "
    "RETURN c {.id, .name, .email, .phone, .city, .postal_code, .country, .birth_date} AS customer "
    "ORDER BY customer.id",
    example={"after": "", "limit": 10},
    ordered=True,
)
EXTRA_ALIASES = {"age": ("age", "age_years"), "country": ("country", "country_code")}


def _key(kind: str, values: dict[str, str]) -> str:
    if kind == "email":
        return values.get("email", "").strip().lower()
    if kind == "phone":
        return digits(values.get("phone"))[-8:]
    name = fold(values.get("name") or f"{values.get('given', '')} {values.get('family', '')}")
    dob = digits(values.get("dob"))
    return f"{name}|{dob}" if name and dob else ""


def _age(dob: str, today: date) -> int | None:
    try:
        born = date(int(dob[:4]), int(dob[4:6]), int(dob[6:8]))
    except (ValueError, IndexError):
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _canonical_columns(header: list[str]) -> dict[str, str]:
    columns = {}
    for canonical, names in {**ALIASES, **EXTRA_ALIASES}.items():
        for name in names:
            if name in header and canonical not in columns:
                columns[canonical] = name
    return columns


def evaluate_vendor(
    store: GraphStore, path: Path, *, key: str, requested: list[str] | None = None, today: date | None = None
) -> dict[str, Any]:
    """Match rate, fill rate and attribute accuracy of a vendor file; loads nothing."""
    if key not in KEYS:
        raise SourceFileError(f"--key {key!r}: use one of {', '.join(KEYS)}")
    today = today or date.today()
    known: dict[str, dict[str, Any]] = {}
    after = ""
    while rows := store.read(CUSTOMERS_PAGE, after=after, limit=5000):
        for row in rows:
            customer = row["customer"]
            values = {
                "email": customer.get("email") or "",
                "phone": customer.get("phone") or "",
                "name": customer.get("name") or "",
                "dob": customer.get("birth_date") or "",
            }
            if k := _key(key, values):
                known.setdefault(k, customer)
        after = rows[-1]["customer"]["id"]
    with path.open(encoding=detect_encoding(path), newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        header = [h.strip() for h in reader.fieldnames or []]
        columns = _canonical_columns(header)
        key_fields = {"email": ["email"], "phone": ["phone"], "name+dob": ["dob"]}[key]
        missing = [f for f in key_fields if f not in columns]
        if key == "name+dob" and "name" not in columns and not {"given", "family"} <= set(columns):
            missing.append("name (or given + family name)")
        if missing:
            raise SourceFileError(
                f"{path}: key {key} needs column(s) {', '.join(missing)} (columns: {', '.join(header)})"
            )
        key_columns = {columns[f] for f in key_fields} | {
            columns[f] for f in ("name", "given", "family") if key == "name+dob" and f in columns
        }
        wanted = requested or [h for h in header if h not in key_columns]
        unknown = [w for w in wanted if w not in header]
        if unknown:
            raise SourceFileError(f"{path}: requested attribute(s) {', '.join(unknown)} are not columns of the file")
        rows_read = matched = 0
        fill_rates: list[float] = []
        filled: dict[str, int] = defaultdict(int)
        agree: dict[str, int] = defaultdict(int)
        compared: dict[str, int] = defaultdict(int)
        for raw in reader:
            record = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            rows_read += 1
            supplied = [w for w in wanted if record.get(w)]
            for w in supplied:
                filled[w] += 1
            fill_rates.append(len(supplied) / len(wanted) if wanted else 1.0)
            values = {c: record.get(col, "") for c, col in columns.items()}
            customer = known.get(_key(key, values))
            if customer is None:
                continue
            matched += 1
            for attribute, vendor_value, truth, same in _comparisons(values, customer, today):
                if vendor_value and truth:
                    compared[attribute] += 1
                    agree[attribute] += int(same)
    return {
        "file": str(path),
        "key": key,
        "rows": rows_read,
        "known_customers": len(known),
        "matched": matched,
        "match_rate": matched / rows_read if rows_read else 0.0,
        "mean_fill_rate": sum(fill_rates) / len(fill_rates) if fill_rates else 0.0,
        "fill_rate_by_attribute": {w: filled[w] / rows_read if rows_read else 0.0 for w in wanted},
        "accuracy": {
            a: {"compared": compared[a], "agree": agree[a], "accuracy": agree[a] / compared[a]}
            for a in sorted(compared)
        },
    }


def _comparisons(values: dict[str, str], customer: dict[str, Any], today: date) -> list[tuple[str, str, str, bool]]:
    dob = digits(customer.get("birth_date"))
    out = [
        (
            "city",
            values.get("city", ""),
            customer.get("city") or "",
            fold(values.get("city")) == fold(customer.get("city")),
        ),
        (
            "postcode",
            values.get("postcode", ""),
            customer.get("postal_code") or "",
            values.get("postcode", "") == (customer.get("postal_code") or ""),
        ),
        (
            "country",
            values.get("country", ""),
            customer.get("country") or "",
            values.get("country", "").upper() == (customer.get("country") or "").upper(),
        ),
        (
            "email",
            values.get("email", ""),
            customer.get("email") or "",
            values.get("email", "").lower() == (customer.get("email") or "").lower(),
        ),
        (
            "phone",
            values.get("phone", ""),
            customer.get("phone") or "",
            digits(values.get("phone"))[-8:] == digits(customer.get("phone"))[-8:],
        ),
        ("dob", values.get("dob", ""), dob, digits(values.get("dob")) == dob),
    ]
    if values.get("age") and dob:
        known_age = _age(dob, today)
        vendor_age = int(values["age"]) if values["age"].isdigit() else None
        out.append(
            (
                "age",
                values["age"],
                str(known_age),
                known_age is not None and vendor_age is not None and abs(known_age - vendor_age) <= 1,
            )
        )
    return out
