"""Service cases: queue, notes, status changes, SLA clocks and escalation."""
