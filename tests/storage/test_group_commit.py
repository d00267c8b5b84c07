"""Group commit: the reply path's writes share transactions, each caller keeps its own outcome.

SQLite always; PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set (the `db_url` fixture).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, text

from bot.storage import Store
from bot.storage.breaker import StorageBreaker
from bot.storage.claims import PendingEvents
from bot.storage.errors import BadRecordError, StorageUnavailable
from bot.storage.schema import events
from tests.store_reads import row_counts


def hold_the_writer(store: Store) -> tuple[threading.Event, threading.Event]:
    """Occupy the store's writer thread with one job until `release` is set, so the writes
    queued meanwhile are committed together in the next transaction."""
    started, release = threading.Event(), threading.Event()

    def block(conn: Connection) -> None:
        started.set()
        release.wait(10)

    store.breaker.write("holding the writer", store.engine, block, wait=False)
    assert started.wait(5)
    return started, release


def count_transactions(store: Store) -> list[int]:
    begun: list[int] = []
    event.listen(store.engine, "begin", lambda conn: begun.append(1))
    return begun


def test_concurrent_writes_share_transactions_and_keep_their_own_results(store: Store) -> None:
    pending = PendingEvents(store, "owner-a", lease_seconds=30)
    begun = count_transactions(store)
    _, release = hold_the_writer(store)
    results: dict[str, object] = {}

    def claim(name: str, key: str) -> None:
        results[name] = pending.claim(key, {"event": {"text": name}}, ttl_seconds=600)

    def answer(name: str) -> None:
        results[name] = store.record_answer(
            question=name,
            topic_ids=["kms"],
            suggestion_ids=[],
            confidence=0.9,
            team_id="T1",
            user_id="U1",
            channel_id="C1",
            surface="mention",
        )

    callers = [threading.Thread(target=answer, args=(f"answer{i}",)) for i in range(10)]
    # Two deliveries of the same message in the same batch: exactly one wins.
    callers += [
        threading.Thread(target=claim, args=(f"claim{i}", "message:C1:1.1")) for i in (1, 2)
    ]
    callers += [threading.Thread(target=claim, args=("claim3", "message:C1:2.2"))]
    for caller in callers:
        caller.start()
    time.sleep(0.3)  # every caller has queued its write behind the held writer
    assert all(caller.is_alive() for caller in callers)  # each waits for its own commit
    release.set()
    for caller in callers:
        caller.join(10)
    ids = [results[f"answer{i}"] for i in range(10)]
    assert len(set(ids)) == 10 and all(isinstance(i, int) for i in ids)
    assert sorted([results["claim1"], results["claim2"]]) == [False, True]
    assert results["claim3"] is True
    # 13 writes (and the holder) in far fewer transactions than one each.
    assert len(begun) <= 4, len(begun)
    assert row_counts(store)["answers"] == 10
    assert pending.count() == 2
    for answer_id in ids:
        assert store.get_answer(int(answer_id)) is not None  # type: ignore[arg-type]


def test_one_refused_record_fails_alone_and_the_breaker_stays_closed(store: Store) -> None:
    _, release = hold_the_writer(store)
    outcomes: dict[str, object] = {}

    def good(name: str) -> None:
        outcomes[name] = store.claim_event(f"event:{name}")

    def bad() -> None:
        def duplicate_key(conn: Connection) -> None:
            conn.execute(events.insert(), {"key": "event:dup", "expires_at": None})

        try:
            store.breaker.write("a bad row", store.engine, duplicate_key)
        except BadRecordError as exc:
            outcomes["bad"] = exc

    callers = [threading.Thread(target=good, args=(f"g{i}",)) for i in range(5)]
    callers.insert(2, threading.Thread(target=bad))  # in the middle of the batch
    for caller in callers:
        caller.start()
    time.sleep(0.3)
    release.set()
    for caller in callers:
        caller.join(10)
    assert isinstance(outcomes["bad"], BadRecordError)  # NOT NULL refused: bad data
    assert all(outcomes[f"g{i}"] is True for i in range(5))  # the batch was redone without it
    assert not store.breaker.is_open
    assert store.claim_event("event:g0") is False  # committed once, and de-duplicates


def test_a_write_nobody_waits_for_reports_its_failure(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    # A database file in a folder that does not exist: a connection failure.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'awssec.db'}")
    store = Store(engine, retention_days=90, auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30)
    pending = PendingEvents(store, "owner-a", lease_seconds=30)
    failed: list[list[str]] = []
    done = threading.Event()

    def on_failure(keys: list[str]) -> None:
        failed.append(keys)
        done.set()

    pending.done_soon(["message:C1:1.1"], on_failure)  # returns at once
    assert done.wait(5)
    assert failed == [["message:C1:1.1"]]
    assert store.breaker.is_open  # an outage, classified like a waited-for write
    pending.done_soon(["message:C1:2.2"], on_failure)  # refused at once while open
    assert failed[-1] == ["message:C1:2.2"]
    engine.dispose()


def test_a_busy_writer_is_not_an_outage_but_a_stalled_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.storage import breaker

    store = Store.from_url(f"sqlite:///{tmp_path / 'awssec.db'}", auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30, deadline=0.3)
    # One write per transaction, each taking 0.1 s: a long queue, committing all along.
    monkeypatch.setattr(breaker, "MAX_BATCH_WRITES", 1)

    def slow(conn: Connection) -> None:
        time.sleep(0.1)

    try:
        for _ in range(5):
            store.breaker.write("slow", store.engine, slow, wait=False)
        with pytest.raises(StorageUnavailable, match="did not answer within"):
            store.claim_event("event:late")  # 0.5 s of queue ahead of it
        assert not store.breaker.is_open  # busy, not down: the others go on
        time.sleep(0.6)
        assert store.claim_event("event:next") is True
        monkeypatch.setattr(breaker, "MAX_BATCH_WRITES", 128)
        _, release = hold_the_writer(store)  # one transaction that never ends
        try:
            started = time.perf_counter()
            with pytest.raises(StorageUnavailable, match="did not answer within"):
                store.claim_event("event:stalled")
            assert 0.25 <= time.perf_counter() - started < 2
            assert store.breaker.is_open  # stuck for the whole deadline: an outage
        finally:
            release.set()
    finally:
        store.dispose()


def test_a_waiting_writer_takes_the_sqlite_lock_as_soon_as_it_is_free(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'awssec.db'}"
    store = Store.from_url(url, auto_purge=False)
    other = Store.from_url(url, auto_purge=False)  # another worker's connection
    store.claim_event("event:warm")  # the writer thread and its connection exist
    released_at: list[float] = []
    holding = threading.Event()

    def hold_the_lock() -> None:
        with other.engine.begin() as conn:  # BEGIN IMMEDIATE: the write lock
            conn.execute(text("DELETE FROM events WHERE key = 'none'"))
            holding.set()
            # SQLite's own busy handler would be in its 100 ms sleeps by now (it wakes
            # 228, 328, 428 ms after the first try), so it would take the lock ~80 ms late.
            time.sleep(0.35)
        released_at.append(time.perf_counter())

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(5)
        assert store.claim_event("event:after") is True
        finished = time.perf_counter()
        holder.join(5)
        assert finished - released_at[0] < 0.05, finished - released_at[0]
    finally:
        store.dispose()
        other.dispose()
