"""Results computed lately, kept for a bounded time and number (the portal's repeated reads)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Hashable


class Recent[K: Hashable, V]:
    """Values by key, each kept at most `max_age_s` seconds; beyond `max_items` the least recently kept goes.

    Thread-safe (requests run on many threads). A `max_age_s` of 0 keeps nothing.
    """

    def __init__(self, *, max_age_s: float, max_items: int = 4096) -> None:
        self.max_age_s = max_age_s
        self.max_items = max_items
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The kept value, unless missing or older than max_age_s."""
        with self._lock:
            kept = self._items.get(key)
            if kept is None or time.monotonic() - kept[0] > self.max_age_s:
                self.misses += 1
                return None
            self.hits += 1
            return kept[1]

    def put(self, key: K, value: V) -> None:
        """Keep a value (as the most recent); with a max_age_s of 0, nothing is kept."""
        if self.max_age_s <= 0:
            return
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def drop(self, key: K) -> None:
        """Forget one value."""
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._items.clear()
