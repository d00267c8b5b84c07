"""Conversations: threads the bot answered in (for follow-ups) and auto-answer channels.

Two small records, each keyed by team and channel (the Teams contract: every row carries
`team_id` and `enterprise_id`):

- a *thread* the bot answered in: its topic, and until when follow-ups there are answered
  without a mention (`remember_thread`, `thread`);
- an *auto-answer channel*: where an admin turned `/awssec autoanswer on` (`set_autoanswer`,
  `autoanswer`).

`SqlConversations` keeps them in the Store's database (so every gunicorn worker and dyno
sees the same threads) under the Store's breaker; `MemoryConversations` keeps them per
process, for a bot without a database and for unit tests. Both hold ids only: no text.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.breaker import StorageBreaker, guarded
from bot.storage.schema import autoanswer_channels, threads

if TYPE_CHECKING:
    from bot.storage.store import Store

__all__ = [
    "ConversationStore",
    "MemoryConversations",
    "SqlConversations",
    "ThreadContext",
]

_MAX_ID_CHARS = 64
_MAX_TS_CHARS = 32
# Expired threads are deleted at most this often (by the next write): often enough that the
# table stays the size of the live conversations, rarely enough to cost nothing per reply.
PURGE_EXPIRED_SECONDS = 600.0
# A process keeps at most this many threads in memory (MemoryConversations): the oldest go
# first, so a flood of threads cannot grow memory without bound.
MAX_MEMORY_THREADS = 50_000


def _utcnow() -> datetime:
    """Naive UTC, the convention of every timestamp column."""
    return datetime.now(UTC).replace(tzinfo=None)


def _clip(value: str | None, limit: int = _MAX_ID_CHARS) -> str | None:
    return None if value is None else str(value)[:limit]


def _key(*parts: str | None) -> str:
    # NUL cannot be in a Slack id, so it separates the parts unambiguously.
    return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()


@dataclass(frozen=True)
class ThreadContext:
    """A live thread the bot answered in."""

    team_id: str | None
    channel_id: str
    thread_ts: str
    topic_id: str | None  # what the bot last answered there; None: no topic ("I don't know")
    expires_at: datetime  # naive UTC


class ConversationStore(Protocol):
    """What the Slack listeners use (SqlConversations or MemoryConversations)."""

    def remember_thread(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        thread_ts: str,
        topic_id: str | None,
        minutes: float,
        enterprise_id: str | None = None,
    ) -> None: ...

    def thread(
        self, *, team_id: str | None, channel_id: str, thread_ts: str
    ) -> ThreadContext | None: ...

    def set_autoanswer(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        enabled: bool,
        set_by: str | None,
        enterprise_id: str | None = None,
    ) -> None: ...

    def autoanswer(self, *, team_id: str | None, channel_id: str) -> bool: ...


class SqlConversations:
    """Threads and auto-answer channels in the Store's database, under its breaker."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine
        # The Store's breaker: one view of the database's health per process.
        self.breaker: StorageBreaker = getattr(store, "breaker", None) or StorageBreaker()
        self._insert = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._next_purge = 0.0

    def remember_thread(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        thread_ts: str,
        topic_id: str | None,
        minutes: float,
        enterprise_id: str | None = None,
    ) -> None:
        """Follow-ups in this thread are about `topic_id` for `minutes` from now (an upsert:
        every answer in the thread moves the topic and the expiry on)."""
        now = _utcnow()
        values = {
            "thread_key": _key(team_id, channel_id, thread_ts),
            "team_id": _clip(team_id),
            "enterprise_id": _clip(enterprise_id),
            "channel_id": _clip(channel_id),
            "thread_ts": _clip(thread_ts, _MAX_TS_CHARS),
            "topic_id": _clip(topic_id),
            "expires_at": now + timedelta(minutes=minutes),
        }
        stmt = self._insert(threads).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[threads.c.thread_key],
            set_={"topic_id": stmt.excluded.topic_id, "expires_at": stmt.excluded.expires_at},
        )
        purge = time.monotonic() >= self._next_purge
        if purge:
            self._next_purge = time.monotonic() + PURGE_EXPIRED_SECONDS

        def write(conn: Connection) -> None:
            conn.execute(stmt)
            if purge:
                conn.execute(delete(threads).where(threads.c.expires_at < now))

        # Under the breaker, group-committed with the other writes of the reply path.
        self.breaker.write("remembering a thread", self.engine, write)

    @guarded("looking up a thread")
    def thread(
        self, *, team_id: str | None, channel_id: str, thread_ts: str
    ) -> ThreadContext | None:
        """The live thread, or None (never answered there, or the window has ended)."""
        stmt = select(threads).where(
            threads.c.thread_key == _key(team_id, channel_id, thread_ts),
            threads.c.expires_at > _utcnow(),
        )
        with self.engine.connect().execution_options(awssec_readonly=True) as conn:
            row = conn.execute(stmt).first()
        if row is None:
            return None
        return ThreadContext(
            row.team_id, row.channel_id, row.thread_ts, row.topic_id, row.expires_at
        )

    @guarded("setting auto-answer")
    def set_autoanswer(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        enabled: bool,
        set_by: str | None,
        enterprise_id: str | None = None,
    ) -> None:
        stmt = self._insert(autoanswer_channels).values(
            channel_key=_key(team_id, channel_id),
            team_id=_clip(team_id),
            enterprise_id=_clip(enterprise_id),
            channel_id=_clip(channel_id),
            enabled=bool(enabled),
            set_by=_clip(set_by),
            updated_at=_utcnow(),
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[autoanswer_channels.c.channel_key],
            set_={
                "enabled": stmt.excluded.enabled,
                "set_by": stmt.excluded.set_by,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    @guarded("reading auto-answer")
    def autoanswer(self, *, team_id: str | None, channel_id: str) -> bool:
        stmt = select(autoanswer_channels.c.enabled).where(
            autoanswer_channels.c.channel_key == _key(team_id, channel_id)
        )
        with self.engine.connect().execution_options(awssec_readonly=True) as conn:
            return bool(conn.execute(stmt).scalar())


class MemoryConversations:
    """The same, per process (no database): for a bot without a store, and unit tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[str, ThreadContext] = {}
        self._channels: dict[str, bool] = {}

    def remember_thread(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        thread_ts: str,
        topic_id: str | None,
        minutes: float,
        enterprise_id: str | None = None,
    ) -> None:
        now = _utcnow()
        context = ThreadContext(
            team_id, channel_id, thread_ts, topic_id, now + timedelta(minutes=minutes)
        )
        key = _key(team_id, channel_id, thread_ts)
        with self._lock:
            self._threads.pop(key, None)  # re-inserted last: the dict stays oldest first
            self._threads[key] = context
            while len(self._threads) > MAX_MEMORY_THREADS:
                del self._threads[next(iter(self._threads))]

    def thread(
        self, *, team_id: str | None, channel_id: str, thread_ts: str
    ) -> ThreadContext | None:
        with self._lock:
            found = self._threads.get(_key(team_id, channel_id, thread_ts))
        if found is None or found.expires_at <= _utcnow():
            return None
        return found

    def set_autoanswer(
        self,
        *,
        team_id: str | None,
        channel_id: str,
        enabled: bool,
        set_by: str | None,
        enterprise_id: str | None = None,
    ) -> None:
        with self._lock:
            self._channels[_key(team_id, channel_id)] = bool(enabled)

    def autoanswer(self, *, team_id: str | None, channel_id: str) -> bool:
        with self._lock:
            return self._channels.get(_key(team_id, channel_id), False)
