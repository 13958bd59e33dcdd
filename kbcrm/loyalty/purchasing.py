"""Purchasing power: expected spend (from the CLV models) and a credit-style rating from payments."""

from __future__ import annotations

from datetime import date

from kbcrm.loyalty.phrases import say

LATE_GRACE_DAYS = 5


def credit_rating(payments: list[tuple[date, date | None]], as_of: date) -> tuple[str | None, list[str]]:
    """A (pays on time) to D (often late or long overdue), with the reasons; None without payment data.

    A: ≤ 10 % of invoices paid more than 5 days late and nothing overdue;
    B: ≤ 30 % late and nothing overdue for more than 30 days;
    C: ≤ 60 % late and nothing overdue for more than 90 days;
    D: otherwise.
    """
    if not payments:
        return None, [say("no_invoices")]
    late = [(paid - due).days for due, paid in payments if paid is not None and (paid - due).days > LATE_GRACE_DAYS]
    overdue = [(as_of - due).days for due, paid in payments if paid is None and (as_of - due).days > LATE_GRACE_DAYS]
    share_late = len(late) / len(payments)
    worst_overdue = max(overdue, default=0)
    reasons = [say("late_invoices", late=len(late), total=len(payments), grace=LATE_GRACE_DAYS)]
    if late:
        reasons.append(say("late_average", days=sum(late) / len(late)))
    if overdue:
        reasons.append(say("overdue", n=len(overdue), days=worst_overdue))
    if share_late <= 0.10 and not overdue:
        return "A", reasons
    if share_late <= 0.30 and worst_overdue <= 30:
        return "B", reasons
    if share_late <= 0.60 and worst_overdue <= 90:
        return "C", reasons
    return "D", reasons
