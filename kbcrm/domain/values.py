"""Typed values shared by every way data enters KBCRM (ingest files, the API, the console).

One place decides what an e-mail, a phone number, a country or a date is, so a record
typed into the console and the same record loaded from an export are stored alike.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")


class InvalidValue(ValueError):
    """A value that does not fit its declared type."""


def normalise_phone(text: str) -> str:
    """Digits only, with a leading + kept (formatting differs between departments)."""
    cleaned = re.sub(r"[^\d+]", "", text)
    if len(re.sub(r"\D", "", cleaned)) < 6:
        raise InvalidValue("a phone number needs at least 6 digits")
    return cleaned


def split_list(value: Any) -> list[str]:
    """A list's items, stripped, empty ones dropped: a `;`-separated cell ("a; b;" → ["a", "b"]) or a JSON array."""
    parts = value if isinstance(value, list | tuple) else str(value or "").split(";")
    return [text for text in (str(part).strip() for part in parts if part is not None) if text]


def coerce(value: Any, kind: str) -> Any:
    """The value converted to its graph type; InvalidValue with a reason otherwise."""
    if kind == "list":
        return split_list(value)
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
