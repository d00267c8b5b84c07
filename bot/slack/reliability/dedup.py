"""Claim-once keys: one reply per event across Slack retries and double deliveries.

Slack retries an event (same `event_id`, with `X-Slack-Retry-Num`) when an ack is slow or
lost, and a mention in a DM can arrive both as `app_mention` and as `message` (same channel
and `ts`). One key per message (`delivery_key`: its channel and ts) is claimed, and only
the first claim is answered. Mentions, DMs, thread follow-ups and auto-answer questions claim
it in their ack, together with a durable pending row (claims.py); others claim it themselves.

`StoreDeduplicator` (what the servers use) claims keys in the database, so a retry that
lands on another gunicorn worker or another dyno is still answered once. `MemoryDeduplicator`
is per process: for unit tests, and the fallback while the database is unreachable.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.storage import Store

log = logging.getLogger(__name__)

# Slack gives up retrying after about 5 minutes; keep keys a little longer.
DEFAULT_TTL_SECONDS = 600.0
DEFAULT_MAX_KEYS = 100_000


@runtime_checkable
class Deduplicator(Protocol):
    def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (within the TTL), False afterwards."""
        ...


class MemoryDeduplicator:
    """Thread-safe in-memory claims that expire after `ttl` seconds."""

    def __init__(
        self,
        ttl: float = DEFAULT_TTL_SECONDS,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._clock = clock
        self._claims: OrderedDict[str, float] = OrderedDict()  # key -> expiry, oldest first
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._claims:
                return False
            self._claims[key] = now + self.ttl
            # A flood of distinct keys must not grow memory without bound.
            while len(self._claims) > self.max_keys:
                self._claims.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._claims)

    def _expire(self, now: float) -> None:
        # Keys are inserted with a constant TTL, so expiry order is insertion order.
        while self._claims:
            key, expiry = next(iter(self._claims.items()))
            if expiry > now:
                break
            del self._claims[key]


class StoreDeduplicator:
    """Claims in the database (`Store.claim_event`): one winner among all processes.

    If the database is unavailable (`StorageUnavailable`: down, hung, or the storage
    breaker open; see bot/storage/breaker.py) the claim falls back to memory (per process):
    a retry landing on another worker might then be answered twice, which beats not
    answering at all. A bad key is hashed by the store, so only outages fall back.
    """

    def __init__(self, store: Store, ttl: float = DEFAULT_TTL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self.fallback = MemoryDeduplicator(ttl)

    def claim(self, key: str) -> bool:
        from bot.storage.breaker import describe_error
        from bot.storage.errors import StorageError

        try:
            won = self.store.claim_event(key, ttl_seconds=int(self.ttl))
        except StorageError:  # logged by the storage breaker, once per outage
            return self.fallback.claim(key)
        except Exception as exc:  # not the store's own error: still answer (once per worker)
            log.error("event de-duplication failed, using memory: %s", describe_error(exc))
            return self.fallback.claim(key)
        # Remember database claims too, so the fallback knows them during an outage.
        self.fallback.claim(key)
        return won


def remember(dedup: Deduplicator, key: str) -> None:
    """Note a key claimed elsewhere (in the database) in `dedup`'s memory fallback."""
    fallback = getattr(dedup, "fallback", None)
    if isinstance(fallback, MemoryDeduplicator):
        fallback.claim(key)


def delivery_key(body: dict[str, Any], event: dict[str, Any]) -> str | None:
    """The claim key of a delivery: its channel and ts, which a Slack retry (same event id)
    and the `message.im` twin of a DM mention (another event id) share; the event id for
    events without channel and ts; None when there is neither."""
    if event.get("channel") and event.get("ts"):
        return message_key(str(event["channel"]), str(event["ts"]))
    if body.get("event_id"):
        return event_key(str(body["event_id"]))
    return None


def event_key(event_id: str) -> str:
    return f"event:{event_id}"


def message_key(channel: str, ts: str) -> str:
    return f"message:{channel}:{ts}"
