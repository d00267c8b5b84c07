"""Durable event claims: an acknowledged event survives the death of the worker that acked it.

Before the ack, the worker writes one `pending_events` row (the event's body, its own name
as `owner` and a lease), in the same transaction as the `events` de-duplication claim, so
exactly one delivery of a message wins and the winner's row exists before Slack hears 200.
The owner renews the leases of its rows while it lives and deletes a row once the reply is
posted. A row whose lease lapsed belongs to a dead worker: another process takes it over
(one atomic UPDATE, so exactly one taker) and answers it.

Stores plain ids and strings only; the Slack side is bot/slack/reliability/claims.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.storage.errors import StorageError
from bot.storage.schema import pending_events

if TYPE_CHECKING:
    from bot.storage.store import Store

__all__ = ["PendingEvent", "PendingEvents", "storage_key"]

_MAX_KEY_CHARS = 255
_MAX_OWNER_CHARS = 128


def storage_key(key: str) -> str:
    """The key as `Store.claim_event` stores it (long or odd keys hashed)."""
    from bot.storage.store import storable

    if len(key) > _MAX_KEY_CHARS or storable(key) != key:
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


@dataclass(frozen=True)
class PendingEvent:
    key: str
    body: dict[str, Any]
    attempts: int  # takeovers so far (0: still with the worker that acked it)
    claimed_at: datetime


class PendingEvents:
    """The `pending_events` rows of one process (`owner`), through the store's breaker."""

    def __init__(self, store: Store, owner: str, lease_seconds: float) -> None:
        self.store = store
        self.owner = owner[:_MAX_OWNER_CHARS]
        self.lease = timedelta(seconds=lease_seconds)
        # Built once (constructing a statement costs more CPU than running it): the pending
        # row written with a won claim, replacing a leftover one in the same statement.
        insert = (
            postgresql.insert if store.engine.dialect.name == "postgresql" else sqlite.insert
        )(pending_events)
        self._replace_pending = insert.on_conflict_do_update(
            index_elements=[pending_events.c.key],
            set_={
                name: insert.excluded[name]
                for name in ("body", "owner", "lease_until", "claimed_at", "attempts")
            },
        )

    def claim(
        self,
        key: str,
        body: dict[str, Any],
        *,
        ttl_seconds: int,
        deadline: float | None = None,
    ) -> bool:
        """Claim `key` for de-duplication and, if won, record `body` as pending; one
        transaction. True when this delivery won (it must be answered).

        Raises StorageUnavailable (the database is down or slow: answer without a claim).
        """
        from bot.storage.store import utcnow

        stored = storage_key(key)
        # ASCII JSON: NUL characters and lone surrogates arrive escaped, which every backend
        # stores (the question is kept as typed, only here, until it is answered).
        text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))

        now = utcnow()
        params = {
            "key": stored,
            "expires_at": now + timedelta(seconds=ttl_seconds),
            "now": now,
        }
        row = {
            "key": stored,
            "body": text,
            "owner": self.owner,
            "lease_until": now + self.lease,
            "claimed_at": now,
            "attempts": 0,
        }

        def run(conn: Connection) -> bool:
            won = conn.execute(self.store._claim_event, params).first() is not None
            if won:
                # A leftover row (a claim whose de-duplication key expired) is replaced.
                conn.execute(self._replace_pending, row)
            return won

        # Group-committed with the other writes of this process (bot/storage/breaker.py):
        # committed, so durable, when this returns, and thus before the ack.
        return bool(
            self.store.breaker.write(
                "claiming an event",
                self.store.engine,
                run,
                deadline=True if deadline is None else deadline,
            )
        )

    def done(self, keys: Iterable[str]) -> None:
        """Forget answered events (whoever holds them now). Raises StorageError."""
        stored = [storage_key(k) for k in keys]
        if not stored:
            return
        statement = delete(pending_events).where(pending_events.c.key.in_(stored))

        def run(conn: Connection) -> None:
            conn.execute(statement)

        self.store.breaker.write("forgetting answered events", self.store.engine, run)

    def done_soon(self, keys: list[str], on_failure: Callable[[list[str]], None]) -> None:
        """`done` without waiting for the commit: the reply is out and nobody reads the row
        back, so the answering thread moves on. When the delete fails (the breaker open, the
        database down) `on_failure(keys)` is called, maybe from the writer thread, so that
        the caller can retry it later."""
        stored = [storage_key(k) for k in keys]
        if not stored:
            return
        statement = delete(pending_events).where(pending_events.c.key.in_(stored))

        def run(conn: Connection) -> None:
            conn.execute(statement)

        try:
            self.store.breaker.write(
                "forgetting answered events",
                self.store.engine,
                run,
                wait=False,
                on_failure=lambda _exc: on_failure(keys),
            )
        except StorageError:
            on_failure(keys)

    def renew(self) -> int:
        """Extend the lease of every row this process holds; how many it holds."""
        from bot.storage.store import utcnow

        def run(conn: Connection) -> int:
            return conn.execute(
                update(pending_events)
                .where(pending_events.c.owner == self.owner)
                .values(lease_until=utcnow() + self.lease)
            ).rowcount

        # Through the writer, like this process's claims and deletes of the same rows: run
        # beside them, the renewal deadlocked with their batches on PostgreSQL.
        renewed = self.store.breaker.write("renewing event leases", self.store.engine, run)
        return int(renewed or 0)

    def take_lapsed(self, limit: int) -> list[PendingEvent]:
        """Take over up to `limit` rows whose lease lapsed (their owner died), oldest first.

        Each takeover is one conditional UPDATE: among processes racing for a row, exactly
        one sees it change.
        """
        from bot.storage.store import utcnow

        def run() -> list[PendingEvent]:
            now = utcnow()
            taken: list[PendingEvent] = []
            stmt = (
                select(pending_events)
                .where(pending_events.c.lease_until < now)
                .order_by(pending_events.c.claimed_at)
                .limit(limit)
            )
            with self.store._read() as conn:
                candidates = list(conn.execute(stmt))
            for row in candidates:
                with self.store.engine.begin() as conn:
                    won = conn.execute(
                        update(pending_events)
                        .where(
                            pending_events.c.key == row.key,
                            pending_events.c.lease_until < now,
                            pending_events.c.owner == row.owner,
                        )
                        .values(
                            owner=self.owner,
                            lease_until=utcnow() + self.lease,
                            attempts=pending_events.c.attempts + 1,
                        )
                    ).rowcount
                if won != 1:
                    continue  # another process took it first
                try:
                    body = json.loads(row.body)
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    body = {}
                taken.append(PendingEvent(row.key, body, int(row.attempts) + 1, row.claimed_at))
            return taken

        return self.store.breaker.call("taking over lapsed events", run)

    def count(self) -> int:
        """Rows pending (all owners), for checks and tests."""
        from sqlalchemy import func

        def run() -> int:
            with self.store._read() as conn:
                return conn.execute(select(func.count()).select_from(pending_events)).scalar_one()

        return self.store.breaker.call("counting pending events", run)
