"""Service-level targets for cases (first response per priority).

The loyalty job counts breaches as a churn signal; the operations work (business-hours
calendars, resolution targets, escalation) builds on these targets.
"""

from __future__ import annotations

from datetime import datetime

FIRST_RESPONSE_HOURS = {"P1": 1.0, "P2": 4.0, "P3": 8.0, "P4": 24.0}


def first_response_breached(priority: str | None, opened_at: str | None, first_response_at: str | None) -> bool:
    """True when the first response came later than the target for the case's priority (wall-clock hours)."""
    if not opened_at or not first_response_at:
        return False
    target = FIRST_RESPONSE_HOURS.get(priority or "P3", 8.0)
    waited = datetime.fromisoformat(first_response_at) - datetime.fromisoformat(opened_at)
    return waited.total_seconds() > target * 3600
