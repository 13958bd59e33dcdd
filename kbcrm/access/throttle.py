"""Login throttling shared by every server process: failed logins per (user name, client) live in the graph.

After `LIMIT` failures within `WINDOW` seconds, that user name from that client must wait
until the oldest failure leaves the window; a successful login clears the count. The node's
id is a hash of the pair, so neither the user name nor the client address is stored.
Each update is one statement, so workers counting at the same moment do not lose a failure.
"""

from __future__ import annotations

import hashlib
import time

from kbcrm.graph import GraphStore, cypher

LIMIT = 5
WINDOW = 900.0

FAILURES = cypher(
    "throttle.failures",
    "MATCH (t:LoginThrottle {id: $id}) RETURN t.failures AS failures",
    example={"id": "throttle:none"},
)
FAILED = cypher(
    "throttle.failed",
    "MERGE (t:LoginThrottle {id: $id}) "
    "SET t.failures = [f IN coalesce(t.failures, []) WHERE f > $since] + [$now] RETURN size(t.failures) AS n",
    example={"id": "throttle:example", "since": 0.0, "now": 1.0},
)
CLEARED = cypher(
    "throttle.cleared",
    "MATCH (t:LoginThrottle {id: $id}) DELETE t",
    example={"id": "throttle:none"},
)


def _key(username: str, client: str) -> str:
    return "throttle:" + hashlib.sha256(f"{username.lower()}\0{client}".encode()).hexdigest()[:32]


def retry_after(store: GraphStore, username: str, client: str, *, now: float | None = None) -> int:
    """Seconds to wait before this user name may try again from this client (0: may try now)."""
    now = now or time.time()
    rows = store.read(FAILURES, id=_key(username, client))
    recent = sorted(f for f in (rows[0]["failures"] or []) if now - f < WINDOW) if rows else []
    return int(recent[-LIMIT] + WINDOW - now) + 1 if len(recent) >= LIMIT else 0


def failed(store: GraphStore, username: str, client: str, *, now: float | None = None) -> None:
    """Count a failed login (failures older than the window are dropped)."""
    now = now or time.time()
    store.run(FAILED, id=_key(username, client), since=now - WINDOW, now=now)


def succeeded(store: GraphStore, username: str, client: str) -> None:
    """Forget the failures after a successful login."""
    store.run(CLEARED, id=_key(username, client))
