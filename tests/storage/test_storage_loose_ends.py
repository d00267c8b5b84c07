"""The storage added by the learned, teaching and conversations helpers: under the breaker
like every other Store method, and purged by retention like every other record.

SQLite always; PostgreSQL when AWSSEC_TEST_POSTGRES_URL is set (the `store` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, select, update

from bot.storage import BadRecordError, StorageError, StorageUnavailable, Store
from bot.storage import teaching as teaching_store
from bot.storage.breaker import StorageBreaker
from bot.storage.conversations import SqlConversations
from bot.storage.report import MissCluster
from bot.storage.schema import handoffs, teach_claims, teach_groups, threads
from bot.storage.store import utcnow


def test_the_storage_errors_are_exported() -> None:
    assert issubclass(StorageUnavailable, StorageError)
    assert issubclass(BadRecordError, StorageError)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# Every call the learned, teaching and conversations helpers added, with arguments that
# would be valid against a working database.
def _calls(store: Store) -> dict[str, Callable[[], Any]]:
    conversations = SqlConversations(store)
    cluster = MissCluster(1, "how do we lock down backups", ["how do we lock down backups"], [])
    return {
        "add_learned": lambda: store.add_learned(
            "what is kms", "kms", taught_by="U1", source="cli"
        ),
        "learned": lambda: store.learned("T1"),
        "all_learned": store.all_learned,
        "remove_learned": lambda: store.remove_learned(1),
        "learned_version": store.learned_version,
        "add_draft": lambda: store.add_draft(
            question="q words", answer_text="a", expert_id="U1", team_id="T1"
        ),
        "drafts": store.drafts,
        "remember_groups": lambda: teaching_store.remember_groups(store, [cluster], team_id="T1"),
        "taught_groups": lambda: teaching_store.taught_groups(store, ["g"]),
        "teach_group": lambda: teaching_store.teach_group(
            store, "g", "kms", taught_by="U1", team_id="T1"
        ),
        "release_dm": lambda: teaching_store.release_dm(store, "g", "U1"),
        "not_helpful_votes": lambda: teaching_store.not_helpful_votes(store, datetime(2024, 1, 1)),
        "correct_answer": lambda: teaching_store.correct_answer(
            store, 1, "kms", taught_by="U1", team_id="T1"
        ),
        "miss_for_handoff": lambda: teaching_store.miss_for_handoff(store, 1),
        "claim_handoff": lambda: teaching_store.claim_handoff(
            store,
            handoff_key="answer:1",
            answer_id=1,
            question="q",
            asker_id="U1",
            clicked_by="U1",
            channel_id="C1",
            thread_ts="1.0",
            team_id="T1",
        ),
        "drop_handoff": lambda: teaching_store.drop_handoff(store, 1),
        "set_experts_message": lambda: teaching_store.set_experts_message(
            store, 1, experts_channel="C0EXPERTS", experts_ts="1.0", permalink=None
        ),
        "get_handoff": lambda: teaching_store.get_handoff(store, 1),
        "claim_handoff_answer": lambda: teaching_store.claim_handoff_answer(
            store, 1, expert_id="U1", topic_id="kms"
        ),
        "release_handoff_answer": lambda: teaching_store.release_handoff_answer(store, 1),
        "remember_thread": lambda: conversations.remember_thread(
            team_id="T1", channel_id="C1", thread_ts="1.0", topic_id="kms", minutes=30
        ),
        "thread": lambda: conversations.thread(team_id="T1", channel_id="C1", thread_ts="1.0"),
        "set_autoanswer": lambda: conversations.set_autoanswer(
            team_id="T1", channel_id="C1", enabled=True, set_by="U1"
        ),
        "autoanswer": lambda: conversations.autoanswer(team_id="T1", channel_id="C1"),
    }


def test_every_added_method_runs_under_the_breaker(tmp_path: Path) -> None:
    # A database file in a folder that does not exist: SQLite cannot open it. Unguarded,
    # a call would raise SQLAlchemy's OperationalError and try to connect every time.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'awssec.db'}")
    attempts: list[int] = []
    event.listen(engine, "do_connect", lambda *a: attempts.append(1))
    store = Store(engine, retention_days=90, auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30, clock=Clock())
    calls = _calls(store)
    with pytest.raises(StorageUnavailable):
        store.learned_version()  # opens the breaker
    assert store.breaker.is_open and len(attempts) == 1
    for name, call in calls.items():
        with pytest.raises(StorageUnavailable, match="breaker open"):
            call()
        assert len(attempts) == 1, f"{name} touched the database with the breaker open"
    engine.dispose()


def test_purge_removes_teaching_and_threads_past_retention(store: Store) -> None:
    old = utcnow() - timedelta(days=100)
    teaching_store.remember_groups(
        store,
        [MissCluster(1, "old question", ["old question"], []), MissCluster(1, "new one", [], [])],
        team_id="T1",
    )
    for key in ("old", "new"):
        teaching_store.claim_handoff(
            store,
            handoff_key=f"answer:{key}",
            answer_id=None,
            question=f"{key} question",
            asker_id="U1",
            clicked_by="U1",
            channel_id="C1",
            thread_ts="1.0",
            team_id="T1",
        )
    conversations = SqlConversations(store)
    conversations.remember_thread(
        team_id="T1", channel_id="C1", thread_ts="1.0", topic_id="kms", minutes=30
    )
    conversations.remember_thread(
        team_id="T1", channel_id="C1", thread_ts="2.0", topic_id="kms", minutes=30
    )
    with store.engine.begin() as conn:
        conn.execute(
            teach_claims.insert(),
            [
                {"claim_key": "dm:old:U1", "team_id": "T1", "created_at": old},
                {"claim_key": "dm:new:U1", "team_id": "T1", "created_at": utcnow()},
            ],
        )
        conn.execute(
            update(teach_groups)
            .where(teach_groups.c.example == "old question")
            .values(updated_at=old)
        )
        conn.execute(
            update(handoffs).where(handoffs.c.handoff_key == "answer:old").values(created_at=old)
        )
        conn.execute(
            update(threads)
            .where(threads.c.thread_ts == "1.0")
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    store.purge(90)
    with store.engine.connect() as conn:
        assert conn.execute(select(teach_claims.c.claim_key)).scalars().all() == ["dm:new:U1"]
        assert conn.execute(select(teach_groups.c.example)).scalars().all() == ["new one"]
        assert conn.execute(select(handoffs.c.handoff_key)).scalars().all() == ["answer:new"]
        assert conn.execute(select(threads.c.thread_ts)).scalars().all() == ["2.0"]
    # Learned questions are settings, never purged by retention.
    store.add_learned("what is kms", "kms", taught_by="U1", source="cli")
    store.purge(1)
    assert [q.question for q in store.learned()] == ["what is kms"]
