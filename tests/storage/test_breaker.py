"""The storage breaker: only connection-level failures open it; bad data never does.

SQLite always; PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set (the `db_url` fixture).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from bot.storage import Store
from bot.storage.breaker import StorageBreaker, guarded
from bot.storage.errors import BadRecordError, StorageUnavailable, UnknownAnswerError
from bot.storage.schema import answers, comments, events
from tests.store_reads import row_counts

NUL_QUESTION = "how do I encrypt\x00 S3 buckets?\x00"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(store: Store, question: str = "kms key rotation", **overrides: object) -> int:
    values: dict[str, object] = dict(
        question=question,
        topic_ids=[],
        suggestion_ids=[],
        confidence=0.2,
        team_id="T1",
        user_id="U1",
        channel_id="C1",
        surface="dm",
    )
    values.update(overrides)
    return store.record_answer(**values)  # type: ignore[arg-type]


def test_bad_rows_do_not_open_the_breaker_and_dedup_goes_on_across_workers(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker_a = Store.from_url(db_url, auto_purge=False)
    worker_b = Store.from_url(db_url, auto_purge=False)
    try:
        with caplog.at_level(logging.WARNING):
            # A NUL character (PostgreSQL refuses it in text) is cleaned at the edge.
            answer_id = record(worker_a, NUL_QUESTION, user_id="U\x001", channel_id="C\x00")
            assert "\x00" not in (worker_a.get_answer(answer_id) or pytest.fail()).question
            worker_a.record_comment(answer_id=answer_id, user_id="U1", comment="meh\x00 bad")
            # An id overflowing BIGINT names no answer: rejected before the driver.
            for huge in (2**63, 2**70, -5, "12abc"):
                with pytest.raises(UnknownAnswerError):
                    worker_a.record_vote(
                        answer_id=huge,  # type: ignore[arg-type]
                        team_id="T1",
                        user_id="U1",
                        channel_id="C1",
                        helpful=True,
                    )
                with pytest.raises(UnknownAnswerError):
                    worker_a.record_comment(answer_id=huge, user_id="U1", comment="x")  # type: ignore[arg-type]
                assert worker_a.get_answer(huge) is None  # type: ignore[arg-type]
            # A key with a NUL still claims once.
            assert worker_a.claim_event("message:D1:\x001.1") is True
            assert worker_b.claim_event("message:D1:\x001.1") is False
        assert not worker_a.breaker.is_open and not worker_b.breaker.is_open
        assert "database unavailable" not in caplog.text
        # The next event is still de-duplicated through the database, across both workers.
        assert worker_a.claim_event("message:D1:2.2") is True
        assert worker_b.claim_event("message:D1:2.2") is False
        assert row_counts(worker_a)["comments"] == 1
    finally:
        worker_a.dispose()
        worker_b.dispose()


class _Probe:
    """A guarded method running raw SQL on a real store, as a Store method would."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.breaker = store.breaker

    @guarded("running a test statement")
    def execute(self, sql: str, **params: object) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(text(sql), params)


def test_errors_about_the_data_from_the_database_are_bad_records_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    probe = _Probe(store)
    store.claim_event("taken")
    insert = "INSERT INTO events (key, expires_at) VALUES (:k, '2099-01-01 00:00:00')"
    with caplog.at_level(logging.DEBUG, logger="bot.storage.breaker"):
        for _ in range(3):
            with pytest.raises(BadRecordError, match="running a test statement"):
                probe.execute(insert, k="taken")  # IntegrityError: the key exists
        if store.backend == "postgresql":
            for _ in range(2):  # DataError: invalid input for an integer
                with pytest.raises(BadRecordError):
                    probe.execute("SELECT CAST(:v AS INTEGER)", v="not a number")
            with pytest.raises(BadRecordError):  # the driver refuses a NUL in text
                probe.execute(insert, k="nul\x00key")
    assert not store.breaker.is_open
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    kinds = 3 if store.backend == "postgresql" else 1
    assert len(warnings) == kinds, [r.getMessage() for r in warnings]  # once per kind
    assert "INSERT" not in caplog.text and "2099" not in caplog.text  # no SQL, no values
    assert store.claim_event("next") is True


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_connection_failure_opens_the_breaker(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    if backend == "sqlite":
        # A database file in a folder that does not exist: SQLite cannot open it.
        url = f"sqlite:///{tmp_path / 'missing' / 'awssec.db'}"
        engine = create_engine(url)
    else:
        url = f"postgresql+psycopg://u:p@127.0.0.1:{_closed_port()}/x"
        engine = create_engine(url, connect_args={"connect_timeout": 2})
    attempts: list[int] = []
    event.listen(engine, "do_connect", lambda *a: attempts.append(1))
    store = Store(engine, retention_days=90, auto_purge=False)
    clock = Clock()
    store.breaker = StorageBreaker(cooldown=30, clock=clock)
    with caplog.at_level(logging.INFO):
        with pytest.raises(StorageUnavailable):
            record(store)
        assert store.breaker.is_open and len(attempts) == 1
        started = time.perf_counter()
        for i in range(50):  # refused at once, without touching the database
            with pytest.raises(StorageUnavailable, match="breaker open"):
                store.claim_event(f"k{i}")
        assert time.perf_counter() - started < 0.5 and len(attempts) == 1
        clock.now = 31  # one probe after the cooldown; it fails again
        with pytest.raises(StorageUnavailable):
            store.claim_event("probe")
        assert len(attempts) == 2 and store.breaker.is_open
    opened = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(opened) == 2 and "for 30 s" in opened[0].getMessage()
    assert "p@" not in caplog.text  # no password
    engine.dispose()


def test_the_breaker_closes_when_the_database_is_back(tmp_path: Path) -> None:
    from bot.storage import schema

    folder = tmp_path / "later"
    engine = create_engine(f"sqlite:///{folder / 'awssec.db'}")
    store = Store(engine, retention_days=90, auto_purge=False)
    clock = Clock()
    store.breaker = StorageBreaker(cooldown=30, clock=clock)
    with pytest.raises(StorageUnavailable):
        store.claim_event("a")
    folder.mkdir()
    schema.migrate(engine)
    with pytest.raises(StorageUnavailable):  # still cooling down
        store.claim_event("a")
    clock.now = 31
    assert store.claim_event("a") is True  # the probe succeeds and closes the breaker
    assert not store.breaker.is_open
    assert store.claim_event("a") is False
    engine.dispose()


def test_a_hung_database_costs_one_deadline_then_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'awssec.db'}"
    store = Store.from_url(url, auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30, deadline=0.3)
    blocker = Store.from_url(url, auto_purge=False)
    release = threading.Event()

    def hold_the_write_lock() -> None:
        with blocker.engine.begin() as conn:  # BEGIN IMMEDIATE: every writer now waits
            conn.execute(events.delete().where(events.c.key == "none"))
            release.wait(30)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        with pytest.raises(StorageUnavailable, match="did not answer within"):
            store.claim_event("a")
        assert 0.25 <= time.perf_counter() - started < 2
        started = time.perf_counter()
        for i in range(100):
            with pytest.raises(StorageUnavailable):
                record(store, f"q{i}")
        assert time.perf_counter() - started < 0.5
    finally:
        release.set()
        holder.join()
        store.dispose()
        blocker.dispose()


def test_the_purge_never_runs_in_the_callers_thread(store: Store) -> None:
    store.auto_purge = True
    store._next_purge = 0.0
    started, release = threading.Event(), threading.Event()
    ran_in: list[threading.Thread] = []
    real_purge = store.purge

    def slow_purge(days: int) -> int:
        ran_in.append(threading.current_thread())
        started.set()
        release.wait(10)
        return real_purge(days)

    store.purge = slow_purge  # type: ignore[method-assign]
    caller = threading.current_thread()
    began = time.perf_counter()
    answer_id = record(store)  # due: starts the purge, does not wait for it
    assert started.wait(5)
    for i in range(5):
        store._next_purge = 0.0  # due again: still at most one purge at a time
        record(store, f"q{i}")
        store.record_comment(answer_id=answer_id, user_id="U1", comment="c")
    assert time.perf_counter() - began < 5
    release.set()
    thread = store._purge_thread
    assert thread is not None
    thread.join(5)
    assert len(ran_in) == 1 and ran_in[0] is not caller
    assert row_counts(store)["answers"] == 6 and row_counts(store)["comments"] == 5


def test_old_rows_go_in_the_background_purge(store: Store) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from bot.storage.store import utcnow

    old = record(store)
    with store.engine.begin() as conn:
        conn.execute(
            update(answers)
            .where(answers.c.id == old)
            .values(created_at=utcnow() - timedelta(days=400))
        )
    store.auto_purge, store._next_purge = True, 0.0
    record(store)
    thread = store._purge_thread
    assert thread is not None
    thread.join(10)
    assert store.get_answer(old) is None
    assert row_counts(store)["answers"] == 1
    assert comments.name in row_counts(store)
