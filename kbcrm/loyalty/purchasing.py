"""Purchasing power: expected spend (from the CLV models) and a credit-style rating from payments."""

from __future__ import annotations

from datetime import date

LATE_GRACE_DAYS = 5


def credit_rating(payments: list[tuple[date, date | None]], as_of: date) -> tuple[str | None, list[str]]:
    """A (pays on time) to D (often late or long overdue), with the reasons; None without payment data.

    A: ≤ 10 % of invoices paid more than 5 days late and nothing overdue;
    B: ≤ 30 % late and nothing overdue for more than 30 days;
    C: ≤ 60 % late and nothing overdue for more than 90 days;
    D: otherwise.
    """
    if not payments:
        return None, ["no invoices due yet"]
    late = [(paid - due).days for due, paid in payments if paid is not None and (paid - due).days > LATE_GRACE_DAYS]
    overdue = [(as_of - due).days for due, paid in payments if paid is None and (as_of - due).days > LATE_GRACE_DAYS]
    share_late = len(late) / len(payments)
    worst_overdue = max(overdue, default=0)
    reasons = [f"{len(late)} of {len(payments)} invoices paid more than {LATE_GRACE_DAYS} days late"]
    if late:
        reasons.append(f"on average {sum(late) / len(late):.0f} days late when late")
    if overdue:
        reasons.append(f"{len(overdue)} unpaid invoice(s), the oldest {worst_overdue} days overdue")
    if share_late <= 0.10 and not overdue:
        return "A", reasons
    if share_late <= 0.30 and worst_overdue <= 30:
        return "B", reasons
    if share_late <= 0.60 and worst_overdue <= 90:
        return "C", reasons
    return "D", reasons
