"""Transaction files an analyst brings, summarised per customer for the CLV models.

Two layouts are read: a CSV with a header (columns chosen by name), and the whitespace
layout of the CDNOW files (with or without a header; columns chosen by name or position).
Purchases on the same day by the same customer count as one transaction (their amounts
are added), as in Fader, Hardie & Lee (2005).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

CUSTOMER_NAMES = ("customer_id", "customerid", "customer", "cust_id", "id")
DATE_NAMES = ("date", "order_date", "invoicedate", "transaction_date", "purchase_date")
AMOUNT_NAMES = ("amount", "dollars", "dollar_value", "totalprice", "total_amount", "revenue", "spend", "value")
UNITS = {"days": 1.0, "weeks": 7.0}


class TransactionError(ValueError):
    """A transaction file that cannot be read: the message names the file, line, field and reason."""


@dataclass(frozen=True)
class Transactions:
    """One row per customer-day: customer code, day number (days since 1970-01-01), amount."""

    customer_ids: np.ndarray  # the original ids, indexed by code
    customer: np.ndarray  # int codes
    day: np.ndarray  # int days since epoch
    amount: np.ndarray  # float, summed per customer-day

    @property
    def last_day(self) -> int:
        """The latest transaction day."""
        return int(self.day.max())


@dataclass(frozen=True)
class Summary:
    """The (x, t_x, T) statistics per customer of one calibration period, plus its hold-out."""

    customer_ids: np.ndarray
    frequency: np.ndarray  # x: repeat transactions in the calibration period
    recency: np.ndarray  # t_x: time of the last calibration transaction since the first
    age: np.ndarray  # T: calibration end since the first transaction
    monetary: np.ndarray  # mean spend of the repeat transactions (0 when x = 0)
    holdout_frequency: np.ndarray  # transactions after the calibration end
    holdout_length: float  # length of the hold-out period (same unit)
    unit: str

    def __len__(self) -> int:
        return len(self.frequency)


def _parse_date(text: str) -> int:
    text = text.strip()
    if len(text) == 8 and text.isdigit():
        parsed = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    else:
        parsed = datetime.fromisoformat(text.replace("/", "-")).date()
    return (parsed - date(1970, 1, 1)).days


def _pick(header: list[str], wanted: str | None, defaults: tuple[str, ...], what: str, path: Path) -> int:
    lowered = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.isdigit() and int(wanted) < len(header):
            return int(wanted)
        if wanted.strip().lower() in lowered:
            return lowered.index(wanted.strip().lower())
        raise TransactionError(f"{path}: line 1: no {what} column {wanted!r} (columns: {', '.join(header)})")
    for name in defaults:
        if name in lowered:
            return lowered.index(name)
    raise TransactionError(
        f"{path}: line 1: cannot tell which column is the {what} (columns: {', '.join(header)}); "
        f"name it with --{what}-col"
    )


def _rows(path: Path) -> tuple[list[str] | None, list[tuple[int, list[str]]]]:
    """(header or None, [(line number, fields)]) for a CSV or a whitespace-separated file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise TransactionError(f"{path}: file not found") from exc
    except UnicodeDecodeError as exc:
        raise TransactionError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    lines = text.splitlines()
    if not lines:
        raise TransactionError(f"{path}: the file is empty")
    if "," in lines[0] or ";" in lines[0] or "\t" in lines[0]:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
        parsed = list(csv.reader(lines, dialect))
        rows = [(n, fields) for n, fields in enumerate(parsed, start=1) if fields]
    else:
        rows = [(n, line.split()) for n, line in enumerate(lines, start=1) if line.strip()]
    first = rows[0][1]
    has_header = any(not field.replace(".", "").replace("-", "").isdigit() for field in first)
    return (first, rows[1:]) if has_header else (None, rows)


def read_transactions(
    path: Path,
    *,
    customer_col: str | None = None,
    date_col: str | None = None,
    amount_col: str | None = None,
) -> Transactions:
    """Read a transaction file; rows of one customer on one day are merged (amounts added)."""
    header, rows = _rows(path)
    if not rows:
        raise TransactionError(f"{path}: no transactions after the header")
    if header is not None:
        c_col = _pick(header, customer_col, CUSTOMER_NAMES, "customer", path)
        d_col = _pick(header, date_col, DATE_NAMES, "date", path)
        a_col = _pick(header, amount_col, AMOUNT_NAMES, "amount", path)
        names = header
    else:
        # Headerless (CDNOW layout): the customer is the first column, the date the first
        # yyyymmdd column, the amount the last column, unless positions are given.
        width = len(rows[0][1])
        names = [f"column {i}" for i in range(width)]
        c_col = int(customer_col) if customer_col is not None else 0
        d_col = (
            int(date_col)
            if date_col is not None
            else next(
                (i for i, v in enumerate(rows[0][1]) if len(v) == 8 and v.isdigit() and v[:2] in ("19", "20")), -1
            )
        )
        a_col = int(amount_col) if amount_col is not None else width - 1
        if d_col < 0:
            raise TransactionError(f"{path}: line {rows[0][0]}: no yyyymmdd date column; give --date-col")
    customers: list[str] = []
    days = np.empty(len(rows), dtype=np.int64)
    amounts = np.empty(len(rows), dtype=np.float64)
    for i, (line, fields) in enumerate(rows):
        field_name = names[c_col]
        try:
            customers.append(fields[c_col].strip())
            field_name = names[d_col]
            days[i] = _parse_date(fields[d_col])
            field_name = names[a_col]
            amounts[i] = float(fields[a_col])
        except IndexError:
            raise TransactionError(
                f"{path}: line {line}: field {field_name!r}: missing (row has {len(fields)} fields)"
            ) from None
        except ValueError as exc:
            raise TransactionError(f"{path}: line {line}: field {field_name!r}: {exc}") from exc
        if not customers[-1]:
            raise TransactionError(f"{path}: line {line}: field {names[c_col]!r}: empty customer id")
    ids, codes = np.unique(np.asarray(customers), return_inverse=True)
    return merge_same_day(ids, codes, days, amounts)


def merge_same_day(ids: np.ndarray, codes: np.ndarray, days: np.ndarray, amounts: np.ndarray) -> Transactions:
    """One transaction per customer and day, amounts added."""
    key = codes.astype(np.int64) * 1_000_000 + (days - days.min())
    unique_keys, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weights=amounts)
    return Transactions(
        customer_ids=ids,
        customer=(unique_keys // 1_000_000).astype(np.int64),
        day=(unique_keys % 1_000_000 + days.min()).astype(np.int64),
        amount=summed,
    )


def summarise(
    tx: Transactions, *, calibration_end: date, observation_end: date | None = None, unit: str = "weeks"
) -> Summary:
    """Frequency, recency, age and repeat spend per customer whose first purchase is by `calibration_end`."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    scale = UNITS[unit]
    cal_end = (calibration_end - date(1970, 1, 1)).days
    obs_end = (observation_end - date(1970, 1, 1)).days if observation_end else max(tx.last_day, cal_end)
    n = len(tx.customer_ids)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, tx.customer, tx.day)
    in_cal = tx.day <= cal_end
    in_hold = (tx.day > cal_end) & (tx.day <= obs_end)
    count = np.bincount(tx.customer[in_cal], minlength=n)
    last = np.full(n, np.iinfo(np.int64).min)
    np.maximum.at(last, tx.customer[in_cal], tx.day[in_cal])
    is_first = tx.day == first[tx.customer]
    repeat = in_cal & ~is_first
    repeat_spend = np.bincount(tx.customer[repeat], weights=tx.amount[repeat], minlength=n)
    holdout = np.bincount(tx.customer[in_hold], minlength=n)
    cohort = count > 0
    x = (count - 1)[cohort]
    return Summary(
        customer_ids=tx.customer_ids[cohort],
        frequency=x.astype(np.float64),
        recency=((last - first)[cohort] / scale).astype(np.float64),
        age=((cal_end - first)[cohort] / scale).astype(np.float64),
        monetary=np.divide(repeat_spend[cohort], x, out=np.zeros(int(cohort.sum())), where=x > 0),
        holdout_frequency=holdout[cohort].astype(np.float64),
        holdout_length=(obs_end - cal_end) / scale,
        unit=unit,
    )
