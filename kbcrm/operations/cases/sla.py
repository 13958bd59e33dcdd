"""Service-level agreements for cases.

Policies per priority, a business-hours calendar, the SLA clocks (first response and
resolution) with breach prediction and escalation levels.

Targets are business hours on the calendar (P1 runs around the clock). A running clock is
`on_track`, `at_risk` once `warning_share` of its target has elapsed (the breach warning),
or `breached`; a stopped clock is `met` or `breached`. Escalation: 0 none, 1 at risk (the
team lead is warned), 2 breached (the lead takes the case over).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SlaPolicy:
    """Targets for one priority, in business hours (or wall-clock hours when `around_the_clock`)."""

    priority: str
    first_response_hours: float
    resolution_hours: float
    around_the_clock: bool = False


POLICIES: dict[str, SlaPolicy] = {
    "P1": SlaPolicy("P1", 1.0, 8.0, around_the_clock=True),
    "P2": SlaPolicy("P2", 4.0, 24.0),
    "P3": SlaPolicy("P3", 8.0, 40.0),
    "P4": SlaPolicy("P4", 24.0, 80.0),
}
# Kept for readers of the first-response targets alone (the loyalty features).
FIRST_RESPONSE_HOURS = {p: policy.first_response_hours for p, policy in POLICIES.items()}


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days and hours in one time zone, with holidays."""

    timezone: str = "UTC"
    opens: time = time(9)
    closes: time = time(17)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_settings(cls, settings: Any) -> BusinessCalendar:
        """The calendar the SLA_* settings describe."""
        opens, _, closes = settings.sla_business_hours.partition("-")
        days = {WEEKDAYS.index(d) for d in settings.sla_workdays.lower().split()}
        holidays = {date.fromisoformat(d.strip()) for d in settings.sla_holidays.split(",") if d.strip()}
        return cls(
            settings.sla_timezone,
            time.fromisoformat(opens),
            time.fromisoformat(closes),
            frozenset(days),
            frozenset(holidays),
        )

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        """A workday that is not a holiday."""
        return day.weekday() in self.workdays and day not in self.holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        return (
            datetime.combine(day, self.opens, tzinfo=self.zone),
            datetime.combine(day, self.closes, tzinfo=self.zone),
        )

    def business_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours between two instants (0 when end is not after start)."""
        start, end = start.astimezone(self.zone), end.astimezone(self.zone)
        if end <= start:
            return 0.0
        seconds = 0.0
        day = start.date()
        while day <= end.date():
            if self.is_working_day(day):
                opens, closes = self._window(day)
                overlap = (min(end, closes) - max(start, opens)).total_seconds()
                seconds += max(0.0, overlap)
            day += timedelta(days=1)
        return seconds / 3600

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant `hours` working hours after `start`."""
        current = start.astimezone(self.zone)
        left = hours * 3600
        while True:
            day = current.date()
            if self.is_working_day(day):
                opens, closes = self._window(day)
                begin = max(current, opens)
                if begin < closes:
                    available = (closes - begin).total_seconds()
                    if left <= available:
                        return (begin + timedelta(seconds=left)).astimezone(UTC)
                    left -= available
            current = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)


@dataclass(frozen=True)
class SlaClock:
    """One SLA target of one case, read at a moment."""

    target: str  # first_response | resolution
    target_hours: float
    elapsed_hours: float
    due_at: str
    state: str  # on_track | at_risk | breached | met
    stopped_at: str | None

    @property
    def remaining_hours(self) -> float:
        """Hours left before the breach (negative once breached)."""
        return self.target_hours - self.elapsed_hours

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "target_hours": self.target_hours,
            "elapsed_hours": round(self.elapsed_hours, 2),
            "remaining_hours": round(self.remaining_hours, 2),
            "due_at": self.due_at,
            "state": self.state,
            "stopped_at": self.stopped_at,
        }


def parse_instant(value: str) -> datetime:
    """An ISO timestamp from the graph; one without a zone is UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clock(
    target: str,
    hours: float,
    opened: datetime,
    stopped: datetime | None,
    now: datetime,
    *,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    warning_share: float,
) -> SlaClock:
    end = stopped or now
    if policy.around_the_clock:
        elapsed = max(0.0, (end - opened).total_seconds() / 3600)
        due = opened + timedelta(hours=hours)
    else:
        elapsed = calendar.business_hours_between(opened, end)
        due = calendar.add_business_hours(opened, hours)
    if stopped is not None:
        state = "breached" if elapsed > hours else "met"
    elif elapsed > hours:
        state = "breached"
    else:
        state = "at_risk" if elapsed >= warning_share * hours else "on_track"
    return SlaClock(
        target,
        hours,
        elapsed,
        due.astimezone(UTC).isoformat(timespec="seconds"),
        state,
        stopped.astimezone(UTC).isoformat(timespec="seconds") if stopped else None,
    )


def sla_status(
    case: dict[str, Any],
    *,
    now: datetime,
    calendar: BusinessCalendar,
    warning_share: float = 0.75,
) -> dict[str, Any]:
    """Both SLA clocks of a case and its escalation level ({} when the case has no opened_at)."""
    if not case.get("opened_at"):
        return {}
    policy = POLICIES.get(case.get("priority") or "P3", POLICIES["P3"])
    opened = parse_instant(case["opened_at"])
    first = parse_instant(case["first_response_at"]) if case.get("first_response_at") else None
    closed = parse_instant(case["closed_at"]) if case.get("closed_at") else None
    clocks = [
        _clock(
            "first_response",
            policy.first_response_hours,
            opened,
            first,
            now,
            policy=policy,
            calendar=calendar,
            warning_share=warning_share,
        ),
        _clock(
            "resolution",
            policy.resolution_hours,
            opened,
            closed,
            now,
            policy=policy,
            calendar=calendar,
            warning_share=warning_share,
        ),
    ]
    open_states = [c.state for c in clocks if c.stopped_at is None]
    escalation = 2 if "breached" in open_states else (1 if "at_risk" in open_states else 0)
    return {
        "policy": policy.priority,
        "clocks": [c.to_dict() for c in clocks],
        "escalation": escalation,
        "breached": any(c.state == "breached" for c in clocks),
    }


def first_response_breached(priority: str | None, opened_at: str | None, first_response_at: str | None) -> bool:
    """True when the first response came later than the target for the case's priority (wall-clock hours).

    The loyalty job's churn feature; it counts wall-clock hours so that a model trained on
    one calendar stays comparable when the service calendar changes.
    """
    if not opened_at or not first_response_at:
        return False
    target = FIRST_RESPONSE_HOURS.get(priority or "P3", 8.0)
    waited = parse_instant(first_response_at) - parse_instant(opened_at)
    return waited.total_seconds() > target * 3600
