"""The audit log: AuditEvent nodes (who did what to which record, when).

Append-only by convention: no service updates or deletes an AuditEvent (erasure keeps its
tombstone event).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label

EVENTS = cypher(
    "access.audit_events",
    "MATCH (e:AuditEvent) WHERE ($actor = '' OR e.actor = $actor) AND ($target = '' OR e.target_id = $target) "
    "AND ($action = '' OR e.action = $action) "
    "RETURN e.id AS id, e.recorded_at AS at, e.actor AS actor, e.action AS action, e.target_id AS target, "
    "e.detail AS detail ORDER BY e.recorded_at DESC, e.id DESC SKIP $skip LIMIT $limit",
    example={"actor": "", "target": "", "action": "", "skip": 0, "limit": 10},
    ordered=True,
)


def record(
    store: GraphStore, *, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None
) -> str:
    """Append one event; returns its id."""
    at = utc_now()
    event_id = f"audit:{at}:{secrets.token_hex(4)}"
    store.upsert_nodes(
        Label.AuditEvent,
        [
            {
                "id": event_id,
                "recorded_at": at,
                "actor": actor,
                "action": action,
                "target_id": target,
                "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
            }
        ],
    )
    return event_id


def events(
    store: GraphStore, *, actor: str = "", target: str = "", action: str = "", skip: int = 0, limit: int = 50
) -> list[dict[str, Any]]:
    """Events, newest first, optionally for one actor, target record or action."""
    rows = store.read(EVENTS, actor=actor, target=target, action=action, skip=skip, limit=limit)
    for row in rows:
        row["detail"] = json.loads(row["detail"] or "{}")
    return rows
