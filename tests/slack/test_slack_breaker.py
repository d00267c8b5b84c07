"""The Slack side of the storage breaker: answers keep flowing while the database is down or
hangs, bad data never switches recording or de-duplication off, and clicks are refused at
once (with a message, never a traceback) while the database is unavailable."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slackfakes import BOT_USER_ID
from sqlalchemy import create_engine

from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.service import AnswerService
from bot.rendering.blocks.feedback import COMMENT_ACTION_ID, COMMENT_BLOCK_ID
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.answering.replies import Where, record_answer
from bot.slack.listeners.events.mention import handle_app_mention
from bot.slack.reliability.dedup import StoreDeduplicator
from bot.storage import Store
from bot.storage.breaker import StorageBreaker
from bot.storage.schema import events

log = logging.getLogger("test.breaker")
WHERE = Where("mention", "T1", "U1", "C1", None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def miss(question: str = "zzqx") -> Answer:
    return Answer(question, AnswerKind.NO_MATCH)


def deps_for(store: Store, service: Any = None) -> Deps:
    return Deps(service=service or MagicMock(), dedup=StoreDeduplicator(store), store=store)


def unreachable_store(tmp_path: Path, clock: Clock, deadline: float = 5.0) -> Store:
    # SQLite cannot open a file in a folder that does not exist: a connection failure.
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'awssec.db'}")
    store = Store(engine, retention_days=90, auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30, deadline=deadline, clock=clock)
    return store


def test_a_failing_database_is_skipped_for_a_while_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store = unreachable_store(tmp_path, clock)
    deps = deps_for(store)
    with caplog.at_level(logging.INFO):
        assert deps.dedup.claim("message:C1:1.1") is True  # memory fallback
        assert deps.dedup.claim("message:C1:1.1") is False
        assert record_answer(deps, miss(), WHERE, log) is None
        for i in range(50):
            deps.dedup.claim(f"message:C1:2.{i}")
            assert record_answer(deps, miss(), WHERE, log) is None
        assert store.breaker.is_open
    opened = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(opened) == 1 and "for 30 s answers are not recorded" in opened[0].getMessage()
    assert "INSERT" not in caplog.text and "Traceback" not in caplog.text


def test_mentions_keep_being_answered_while_the_database_hangs(
    slack_service: AnswerService, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'awssec.db'}"
    store = Store.from_url(url, auto_purge=False)
    store.breaker = StorageBreaker(cooldown=30, deadline=0.2)
    blocker = Store.from_url(url, auto_purge=False)
    release = threading.Event()

    def hold_the_write_lock() -> None:
        with blocker.engine.begin() as conn:
            conn.execute(events.delete().where(events.c.key == "none"))
            release.wait(30)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    deps = deps_for(store, slack_service)
    context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
    say = MagicMock()
    try:
        time.sleep(0.2)
        started = time.perf_counter()
        for i in range(20):
            event = {"text": f"<@{BOT_USER_ID}> kms", "channel": "C1", "ts": f"5.{i}"}
            handle_app_mention(event, {"event_id": f"Ev{i}"}, say, MagicMock(), context, log)
        # One deadline (the first call), not one per event and database call.
        assert time.perf_counter() - started < 2
        assert say.call_count == 20
        # Retries of those messages are still recognised (memory fallback).
        event = {"text": f"<@{BOT_USER_ID}> kms", "channel": "C1", "ts": "5.3"}
        handle_app_mention(event, {"event_id": "Ev3"}, say, MagicMock(), context, log)
        assert say.call_count == 20
    finally:
        release.set()
        holder.join()
        store.dispose()
        blocker.dispose()


def test_a_bad_row_does_not_switch_recording_or_dedup_off(
    slack_service: AnswerService, tmp_path: Path
) -> None:
    from bot.slack.listeners.actions.feedback import ANSWER_GONE, handle_feedback

    url = f"sqlite:///{tmp_path / 'awssec.db'}"
    worker_a, worker_b = Store.from_url(url), Store.from_url(url)
    try:
        deps = deps_for(worker_a, slack_service)
        # A NUL in the question, and a vote on an id that overflows BIGINT.
        assert record_answer(deps, miss("kms\x00 rotation?"), WHERE, log) is not None
        context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
        body = {
            "user": {"id": "U0VOTER"},
            "team": {"id": "T1"},
            "container": {"channel_id": "C1", "message_ts": "9.9", "is_ephemeral": False},
            "message": {"ts": "9.9", "blocks": []},
        }
        respond = MagicMock()
        action = {"action_id": "awssec_feedback_helpful", "value": str(2**70)}
        handle_feedback(body, action, respond, MagicMock(), context, log)
        assert respond.call_args.kwargs["text"] == ANSWER_GONE
        assert not worker_a.breaker.is_open
        # The next event is de-duplicated through the database: the other worker loses.
        assert deps.dedup.claim("message:C1:7.7") is True
        assert StoreDeduplicator(worker_b).claim("message:C1:7.7") is False
        assert record_answer(deps, miss(), WHERE, log) is not None
    finally:
        worker_a.dispose()
        worker_b.dispose()


def test_votes_and_comments_are_refused_at_once_while_the_database_is_unavailable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.listeners.actions.feedback import CANNOT_RECORD, handle_feedback
    from bot.slack.listeners.views.feedback_comment import handle_feedback_comment

    clock = Clock()
    store = unreachable_store(tmp_path, clock)
    deps = deps_for(store)
    deps.dedup.claim("message:C1:1.1")  # the database fails: the breaker opens
    assert store.breaker.is_open
    context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
    body = {
        "user": {"id": "U0VOTER"},
        "team": {"id": "T1"},
        "container": {"channel_id": "C1", "message_ts": "9.9", "is_ephemeral": False},
        "message": {"ts": "9.9", "blocks": []},
    }
    respond = MagicMock()
    action = {"action_id": "awssec_feedback_helpful", "value": "5"}
    started = time.perf_counter()
    with caplog.at_level(logging.ERROR):
        handle_feedback(body, action, respond, MagicMock(), context, log)
        assert respond.call_args.kwargs["text"] == CANNOT_RECORD
        # The comment modal's submission: logged, nothing raised.
        view = {
            "private_metadata": json.dumps({"answer_id": 5}),
            "state": {"values": {COMMENT_BLOCK_ID: {COMMENT_ACTION_ID: {"value": "meh"}}}},
        }
        handle_feedback_comment({"user": {"id": "U0VOTER"}}, view, context, log)
    assert time.perf_counter() - started < 1
    refused = [r.getMessage() for r in caplog.records if "breaker open" in r.getMessage()]
    assert any("vote" in m for m in refused) and any("comment" in m for m in refused)
    assert "Traceback" not in caplog.text
