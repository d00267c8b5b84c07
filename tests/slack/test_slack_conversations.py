"""Follow-ups in threads and auto-answer channels: the listener functions called directly,
with Bolt's arguments mocked (the real matcher on the bundled knowledge)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slackfakes import BOT_USER_ID, TEAM_ID

from bot.config import ConversationSettings
from bot.matcher.service import AnswerService
from bot.rendering.blocks.conversations import AUTO_ANSWER_NOTE
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.listeners.commands.autoanswer import NOT_A_CHANNEL, NOT_ADMIN, autoanswer_reply
from bot.slack.listeners.events import conversations as conv
from bot.slack.listeners.events.mention import handle_app_mention
from bot.slack.reliability.dedup import MemoryDeduplicator
from bot.storage import Store
from bot.storage.conversations import MemoryConversations, SqlConversations

log = logging.getLogger("test")
ADMIN = "U0ADMIN"


@pytest.fixture(scope="module")
def service() -> AnswerService:
    return AnswerService(reload_interval=None)  # the bundled knowledge: realistic confidence


@pytest.fixture
def deps(service: AnswerService) -> Deps:
    deps = Deps(service=service, dedup=MemoryDeduplicator(), admins=frozenset({ADMIN}))
    conv.configure(deps, ConversationSettings(followup_minutes=30, autoanswer_threshold=0.9))
    return deps


@pytest.fixture
def context(deps: Deps) -> BoltContext:
    return BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})


def body(event_id: str = "Ev1") -> dict[str, Any]:
    return {"event_id": event_id, "team_id": TEAM_ID}


def message(text: str, ts: str, *, thread_ts: str | None = None, **extra: Any) -> dict:
    event = {"type": "message", "channel_type": "channel", "channel": "C1", "user": "U1"}
    event.update(text=text, ts=ts, **extra)
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def header(kwargs: dict[str, Any]) -> str:
    return kwargs["blocks"][0]["text"]["text"]


def mention(context: BoltContext, text: str, ts: str) -> MagicMock:
    say = MagicMock()
    event = {"type": "app_mention", "text": f"<@{BOT_USER_ID}> {text}", "channel": "C1"}
    event.update(ts=ts, user="U1")
    handle_app_mention(event, body("EvM" + ts), say, MagicMock(), context, log)
    return say


def followup(
    context: BoltContext, text: str, ts: str, thread_ts: str = "1.0", **extra
) -> MagicMock:
    say = MagicMock()
    event = message(text, ts, thread_ts=thread_ts, **extra)
    assert conv.is_thread_reply(event) or extra
    conv.handle_thread_followup(event, body("Ev" + ts), say, MagicMock(), context, log)
    return say


def test_a_follow_up_is_answered_with_the_threads_topic(context: BoltContext) -> None:
    first = mention(context, "what is guardduty", "1.0")
    assert header(first.call_args.kwargs) == "Amazon GuardDuty"
    say = followup(context, "does it work with EKS too?", "1.1")
    say.assert_called_once()
    assert say.call_args.kwargs["thread_ts"] == "1.0"
    assert header(say.call_args.kwargs) == "Amazon GuardDuty"  # not EKS security
    compared = followup(context, "and the difference with Detective?", "1.2")
    headers = [
        b["text"]["text"] for b in compared.call_args.kwargs["blocks"] if b["type"] == "header"
    ]
    assert headers == ["Amazon GuardDuty", "Amazon Detective"]


def test_chatter_bots_edits_and_mentions_in_the_thread_are_not_answered(
    context: BoltContext,
) -> None:
    mention(context, "what is guardduty", "1.0")
    for text in (
        "thanks!",
        "ok",
        "+1",
        ":thumbsup:",
        "great, thanks a lot",
        "who broke the build?",
    ):
        followup(context, text, f"2.{len(text)}").assert_not_called()
    followup(context, "does it cost much?", "3.1", bot_id="B0OTHER").assert_not_called()
    followup(context, "does it cost much?", "3.2", subtype="message_changed").assert_not_called()
    # A mention in the thread is the app_mention listener's: the message twin stays silent.
    followup(context, f"<@{BOT_USER_ID}> does it scan S3?", "3.3").assert_not_called()


def test_a_thread_the_bot_never_answered_in_is_ignored(context: BoltContext) -> None:
    followup(context, "does it work with EKS too?", "4.1", thread_ts="4.0").assert_not_called()


def test_retries_answer_a_follow_up_once(context: BoltContext) -> None:
    mention(context, "what is guardduty", "1.0")
    event = message("can it scan S3 for malware?", "5.1", thread_ts="1.0")
    say = MagicMock()
    for _ in range(3):  # Slack's retries carry the same event
        conv.handle_thread_followup(event, body("Ev5"), say, MagicMock(), context, log)
    assert say.call_count == 1


def test_the_window_ends_and_zero_turns_follow_ups_off(deps: Deps, context: BoltContext) -> None:
    store = MemoryConversations()
    conv.configure(deps, ConversationSettings(followup_minutes=30), store)
    mention(context, "what is guardduty", "1.0")
    # Move the remembered expiry into the past, as 30 minutes passing would.
    [(key, thread)] = store._threads.items()
    store._threads[key] = type(thread)(
        thread.team_id, thread.channel_id, thread.thread_ts, thread.topic_id,
        thread.expires_at - timedelta(minutes=31),
    )  # fmt: skip
    followup(context, "does it work with EKS too?", "6.1").assert_not_called()
    conv.configure(deps, ConversationSettings(followup_minutes=0))
    mention(context, "what is guardduty", "7.0")
    followup(context, "does it work with EKS too?", "7.1", thread_ts="7.0").assert_not_called()


def test_auto_answer_needs_an_admin_and_answers_only_when_sure(
    deps: Deps, context: BoltContext
) -> None:
    command = {"channel_id": "C1", "team_id": TEAM_ID, "user_id": "U0SOMEONE"}
    assert autoanswer_reply(deps, command, "on", log)["text"] == NOT_ADMIN
    assert "off" in autoanswer_reply(deps, command, "status", log)["text"]
    say = MagicMock()
    conv.handle_auto_answer(
        message("which service finds PII?", "8.1"), body(), say, MagicMock(), context, log
    )
    say.assert_not_called()  # not an auto-answer channel

    dm = {"channel_id": "D1", "team_id": TEAM_ID, "user_id": ADMIN}
    assert autoanswer_reply(deps, dm, "on", log)["text"] == NOT_A_CHANNEL
    on = autoanswer_reply(deps, {**command, "user_id": ADMIN}, "on", log)
    assert "*on*" in on["text"] and "90%" in on["text"]
    assert "*on*" in autoanswer_reply(deps, command, "status", log)["text"]

    conv.handle_auto_answer(
        message("which service finds PII?", "8.2"), body("Ev8"), say, MagicMock(), context, log
    )
    say.assert_called_once()
    kwargs = say.call_args.kwargs
    assert kwargs["thread_ts"] == "8.2" and header(kwargs) == "Amazon Macie"
    assert AUTO_ANSWER_NOTE in json.dumps(kwargs["blocks"])
    # Its thread then takes follow-ups.
    assert followup(context, "how much does it cost?", "8.3", thread_ts="8.2").call_count == 1

    unsure = MagicMock()
    for ts, text in [("9.1", "is aws a good place to run things?"), ("9.2", "thanks all"),
                     ("9.3", "what is the best pizza near the office?")]:  # fmt: skip
        conv.handle_auto_answer(
            message(text, ts), body("Ev" + ts), unsure, MagicMock(), context, log
        )
    bot = message("which service finds PII?", "9.4", bot_id="B0OTHER")
    assert not conv.is_top_level_message(bot)
    unsure.assert_not_called()

    assert "*off*" in autoanswer_reply(deps, {**command, "user_id": ADMIN}, "off", log)["text"]
    conv.handle_auto_answer(
        message("which service finds PII?", "9.5"), body("Ev95"), unsure, MagicMock(), context, log
    )
    unsure.assert_not_called()


def test_matchers() -> None:
    assert conv.is_thread_reply(message("x?", "2.0", thread_ts="1.0"))
    assert not conv.is_thread_reply(message("x?", "1.0", thread_ts="1.0"))  # the parent
    assert conv.is_top_level_message(message("x?", "1.0"))
    assert not conv.is_top_level_message({**message("x?", "1.0"), "channel_type": "im"})
    assert not conv.is_thread_reply(message("x?", "2.0", thread_ts="1.0", edited={"ts": "1"}))
    assert conv.is_question("does it work with EKS") and conv.is_question("pricing for macie?")
    assert not conv.is_question("thanks!") and not conv.is_question("ok?")
    assert not conv.is_question("we turned it on yesterday")


def test_sql_conversations_round_trip(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'c.db'}")
    sql = SqlConversations(store)
    assert sql.thread(team_id="T1", channel_id="C1", thread_ts="1.0") is None
    sql.remember_thread(team_id="T1", channel_id="C1", thread_ts="1.0", topic_id="kms", minutes=5)
    sql.remember_thread(team_id="T1", channel_id="C1", thread_ts="1.0", topic_id="macie", minutes=5)
    found = sql.thread(team_id="T1", channel_id="C1", thread_ts="1.0")
    assert found is not None and found.topic_id == "macie"
    assert sql.thread(team_id="T2", channel_id="C1", thread_ts="1.0") is None  # other team
    sql.remember_thread(team_id="T1", channel_id="C1", thread_ts="2.0", topic_id="kms", minutes=0)
    assert sql.thread(team_id="T1", channel_id="C1", thread_ts="2.0") is None  # expired
    assert not sql.autoanswer(team_id="T1", channel_id="C1")
    sql.set_autoanswer(team_id="T1", channel_id="C1", enabled=True, set_by="U1")
    assert sql.autoanswer(team_id="T1", channel_id="C1")
    assert not sql.autoanswer(team_id=None, channel_id="C1")
    sql.set_autoanswer(team_id="T1", channel_id="C1", enabled=False, set_by="U1")
    assert not sql.autoanswer(team_id="T1", channel_id="C1")
    store.dispose()
