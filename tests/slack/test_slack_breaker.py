"""A failing or hung database must not stall every event: the breaker skips it for a while."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slackfakes import BOT_USER_ID

from bot.matcher.service import AnswerService
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.answering.replies import Where, record_answer
from bot.slack.listeners.events.mention import handle_app_mention
from bot.slack.reliability.breaker import DatabaseBreaker, DatabaseSkipped
from bot.slack.reliability.dedup import StoreDeduplicator

log = logging.getLogger("test.breaker")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FlakyStore:
    """A store stub whose claims and inserts fail (raise, or hang until released)."""

    def __init__(self, mode: str = "raise") -> None:
        self.mode = mode
        self.calls = 0
        self.release = threading.Event()
        self._ids = iter(range(1, 10**6))

    def _maybe_fail(self) -> None:
        self.calls += 1
        if self.mode == "raise":
            raise RuntimeError("connection refused\nSQL: INSERT INTO events ...")
        if self.mode == "hang":
            self.release.wait(30)
            raise RuntimeError("too late")

    def claim_event(self, key: str, ttl_seconds: int = 600) -> bool:
        self._maybe_fail()
        return True

    def record_answer(self, **kwargs: Any) -> int:
        self._maybe_fail()
        return next(self._ids)


def make(store: FlakyStore, clock: Clock, deadline: float = 5.0) -> tuple[Deps, DatabaseBreaker]:
    breaker = DatabaseBreaker(cooldown=30, deadline=deadline, clock=clock)
    dedup = StoreDeduplicator(store, breaker=breaker)  # type: ignore[arg-type]
    deps = Deps(service=MagicMock(), dedup=dedup, store=store, breaker=breaker)  # type: ignore[arg-type]
    return deps, breaker


def answer() -> Any:
    from bot.matcher.answer import Answer, AnswerKind

    return Answer("zzqx", AnswerKind.NO_MATCH)


WHERE = Where("mention", "T1", "U1", "C1")


def test_a_failing_database_is_skipped_for_a_while_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, store = Clock(), FlakyStore("raise")
    deps, breaker = make(store, clock)
    with caplog.at_level(logging.INFO):
        assert deps.dedup.claim("message:C1:1.1") is True  # memory fallback
        assert deps.dedup.claim("message:C1:1.1") is False
        assert record_answer(deps, answer(), WHERE, log) is None
        for i in range(50):
            deps.dedup.claim(f"message:C1:2.{i}")
            record_answer(deps, answer(), WHERE, log)
        assert store.calls == 1 and breaker.is_open  # nothing more reached the database
        opened = [r for r in caplog.records if "database failed" in r.getMessage()]
        assert len(opened) == 1
        assert "for 30 s answers are not recorded" in opened[0].getMessage()
        assert "INSERT" not in caplog.text

        # After the cooldown one call probes the database; it fails: skipped again.
        clock.now = 31
        assert deps.dedup.claim("message:C1:3.1") is True
        assert store.calls == 2
        record_answer(deps, answer(), WHERE, log)
        assert store.calls == 2

        # It recovers: the next probe closes the breaker and everything goes through again.
        store.mode = "ok"
        clock.now = 62
        assert record_answer(deps, answer(), WHERE, log) == 1
        assert not breaker.is_open
        assert deps.dedup.claim("message:C1:4.1") is True and store.calls == 4
        assert "the database answers again" in caplog.text
    assert len([r for r in caplog.records if "database failed" in r.getMessage()]) == 2


def test_a_hung_database_costs_one_deadline_then_nothing() -> None:
    clock, store = Clock(), FlakyStore("hang")
    deps, breaker = make(store, clock, deadline=0.2)
    try:
        started = time.perf_counter()
        assert deps.dedup.claim("message:C1:1.1") is True
        assert 0.15 <= time.perf_counter() - started < 2
        started = time.perf_counter()
        for i in range(100):
            deps.dedup.claim(f"message:C1:2.{i}")
            assert record_answer(deps, answer(), WHERE, log) is None
        assert time.perf_counter() - started < 0.5
        assert store.calls == 1 and breaker.is_open
    finally:
        store.release.set()


def test_mentions_keep_being_answered_while_the_database_hangs(
    slack_service: AnswerService,
) -> None:
    clock, store = Clock(), FlakyStore("hang")
    deps, _ = make(store, clock, deadline=0.2)
    deps = Deps(service=slack_service, dedup=deps.dedup, store=deps.store, breaker=deps.breaker)
    context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
    say = MagicMock()
    try:
        started = time.perf_counter()
        for i in range(20):
            event = {"text": f"<@{BOT_USER_ID}> kms", "channel": "C1", "ts": f"5.{i}"}
            handle_app_mention(event, {"event_id": f"Ev{i}"}, say, MagicMock(), context, log)
        # One deadline (the first claim), not one per event and database call.
        assert time.perf_counter() - started < 2
        assert say.call_count == 20
        # Retries of those messages are still recognised (memory fallback).
        event = {"text": f"<@{BOT_USER_ID}> kms", "channel": "C1", "ts": "5.3"}
        handle_app_mention(event, {"event_id": "Ev3"}, say, MagicMock(), context, log)
        assert say.call_count == 20
    finally:
        store.release.set()


def test_the_database_saying_no_does_not_open_the_breaker() -> None:
    breaker = DatabaseBreaker(clock=Clock())

    def unknown() -> None:
        raise LookupError("no answer with id 5")

    with pytest.raises(LookupError):
        breaker.call("vote", unknown)
    assert not breaker.is_open
    assert breaker.call("ok", lambda: 5) == 5
    with pytest.raises(DatabaseSkipped):
        breaker.call("boom", lambda: 1 / 0)
    assert breaker.is_open


def test_votes_are_refused_at_once_while_the_database_is_skipped() -> None:
    from bot.slack.listeners.actions.feedback import CANNOT_RECORD, handle_feedback

    clock, store = Clock(), FlakyStore("raise")
    deps, breaker = make(store, clock)
    store.record_vote = MagicMock()  # type: ignore[attr-defined]
    deps.dedup.claim("message:C1:1.1")  # the database fails: the breaker opens
    assert breaker.is_open
    context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
    body = {
        "user": {"id": "U0VOTER"},
        "team": {"id": "T1"},
        "container": {"channel_id": "C1", "message_ts": "9.9", "is_ephemeral": False},
        "message": {"ts": "9.9", "blocks": []},
    }
    respond = MagicMock()
    action = {"action_id": "awssec_feedback_helpful", "value": "5"}
    handle_feedback(body, action, respond, MagicMock(), context, log)
    assert respond.call_args.kwargs["text"] == CANNOT_RECORD
    store.record_vote.assert_not_called()  # type: ignore[attr-defined]
