"""Listener functions called directly, with Bolt's arguments mocked."""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slackfakes import BOT_USER_ID

from bot.matcher.service import AnswerService
from bot.rendering.blocks.ids import ACTION_SHARE
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.answering.replies import strip_bot_mention
from bot.slack.listeners.actions.show_topic import handle_show_topic
from bot.slack.listeners.commands.awssec import handle_awssec
from bot.slack.listeners.events.app_home import handle_app_home_opened
from bot.slack.listeners.events.direct_message import handle_direct_message, is_direct_message
from bot.slack.listeners.events.mention import handle_app_mention, is_fresh_mention
from bot.slack.reliability.dedup import MemoryDeduplicator

log = logging.getLogger("test")


@pytest.fixture
def context(slack_service: AnswerService) -> BoltContext:
    deps = Deps(service=slack_service, dedup=MemoryDeduplicator())
    return BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})


def header(kwargs: dict[str, Any]) -> str:
    return kwargs["blocks"][0]["text"]["text"]


def api_error(status: int = 500, error: str = "internal_error") -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="x",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    return SlackApiError("failed", response)


def test_strip_bot_mention() -> None:
    assert strip_bot_mention(f"<@{BOT_USER_ID}> which  finds PII?", BOT_USER_ID) == (
        "which finds PII?"
    )
    assert strip_bot_mention(f"hey <@{BOT_USER_ID}|awssec> kms", BOT_USER_ID) == "hey kms"
    assert strip_bot_mention("<@U999> kms", BOT_USER_ID) == "<@U999> kms"
    assert strip_bot_mention("<@UOTHER> kms", None) == "kms"


def test_mention_replies_in_a_new_thread(context: BoltContext) -> None:
    say = MagicMock()
    event = {
        "type": "app_mention",
        "text": f"<@{BOT_USER_ID}> which service finds PII?",
        "channel": "C1",
        "ts": "1.1",
        "user": "U1",
    }
    handle_app_mention(event, {"event_id": "Ev1"}, say, MagicMock(), context, log)
    say.assert_called_once()
    kwargs = say.call_args.kwargs
    assert kwargs["thread_ts"] == "1.1" and header(kwargs) == "Amazon Macie"
    assert "Amazon Macie" in kwargs["text"]


def test_mention_in_a_thread_stays_in_that_thread(context: BoltContext) -> None:
    say = MagicMock()
    event = {
        "text": f"<@{BOT_USER_ID}> guardduty",
        "channel": "C1",
        "ts": "2.2",
        "thread_ts": "1.0",
    }
    handle_app_mention(event, {"event_id": "Ev2"}, say, MagicMock(), context, log)
    assert say.call_args.kwargs["thread_ts"] == "1.0"


def test_retries_and_double_delivery_answer_once(context: BoltContext) -> None:
    say = MagicMock()
    mention = {"text": f"<@{BOT_USER_ID}> kms", "channel": "D1", "ts": "3.3", "channel_type": "im"}
    handle_app_mention(mention, {"event_id": "Ev3"}, say, MagicMock(), context, log)
    handle_app_mention(mention, {"event_id": "Ev3"}, say, MagicMock(), context, log)  # Slack retry
    handle_direct_message(mention, {"event_id": "Ev4"}, say, context, log)  # message.im twin
    assert say.call_count == 1


def test_user_text_is_escaped(context: BoltContext) -> None:
    say = MagicMock()
    event = {
        "text": f"<@{BOT_USER_ID}> <!channel> <!here> <@U0BOSS> zzqx",
        "channel": "C1",
        "ts": "4.4",
    }
    handle_app_mention(event, {"event_id": "Ev5"}, say, MagicMock(), context, log)
    dumped = json.dumps(say.call_args.kwargs)
    for ping in ("<!channel>", "<!here>", "<@U0BOSS>"):
        assert ping not in dumped


def test_dm_replies_top_level(context: BoltContext) -> None:
    say = MagicMock()
    event = {
        "type": "message",
        "channel_type": "im",
        "text": "kms vs cloudhsm",
        "channel": "D1",
        "ts": "5.5",
        "user": "U1",
    }
    assert is_direct_message(event)
    handle_direct_message(event, {"event_id": "Ev6"}, say, context, log)
    kwargs = say.call_args.kwargs
    assert kwargs["thread_ts"] is None
    headers = [b["text"]["text"] for b in kwargs["blocks"] if b["type"] == "header"]
    assert set(headers) == {"AWS Key Management Service (KMS)", "AWS CloudHSM"}


@pytest.mark.parametrize(("text", "expected"), [("list", "Topics I know (4)"), ("HELP", None)])
def test_list_and_help_work_in_a_dm_and_a_mention(
    context: BoltContext, text: str, expected: str | None
) -> None:
    dm, mention = MagicMock(), MagicMock()
    event = {"channel_type": "im", "text": text, "channel": "D1", "ts": "7.7", "user": "U1"}
    handle_direct_message(event, {"event_id": "Ev70"}, dm, context, log)
    event = {"text": f"<@{BOT_USER_ID}> {text}", "channel": "C1", "ts": "7.8", "user": "U1"}
    handle_app_mention(event, {"event_id": "Ev71"}, mention, MagicMock(), context, log)
    for say in (dm, mention):
        kwargs = say.call_args.kwargs
        if expected:
            assert header(kwargs) == expected
        else:
            assert "/awssec list" in kwargs["text"]


@pytest.mark.parametrize(
    "event",
    [
        {"channel_type": "im", "subtype": "message_changed"},
        {"channel_type": "im", "subtype": "message_deleted"},
        {"channel_type": "im", "subtype": "channel_join"},
        {"channel_type": "im", "bot_id": "B2", "text": "hi"},
        {"channel_type": "im", "subtype": "bot_message"},
        {"channel_type": "im", "subtype": "me_message", "text": "kms"},
        {"channel_type": "im", "subtype": "file_share", "bot_id": "B2", "text": "kms"},
        {"channel_type": "im", "subtype": "thread_broadcast", "edited": {"user": "U1"}},
        {"channel_type": "channel", "text": "kms"},
    ],
)
def test_ignored_messages(event: dict[str, Any]) -> None:
    assert not is_direct_message(event)


def test_ignored_mentions() -> None:
    assert is_fresh_mention({"text": "x", "user": "U1"})
    assert not is_fresh_mention({"text": "x", "bot_id": "B2"})
    assert not is_fresh_mention({"text": "x", "edited": {"user": "U1"}})


def test_failed_post_is_logged_not_raised(
    context: BoltContext, caplog: pytest.LogCaptureFixture
) -> None:
    say = MagicMock(side_effect=api_error())
    event = {"text": "kms", "channel": "C1", "ts": "6.6"}
    handle_app_mention(event, {"event_id": "Ev7"}, say, MagicMock(), context, log)
    assert "Slack API call failed (reply to mention): HTTP 500 internal_error" in caplog.text


@pytest.mark.parametrize("text", ["", "help", "  HELP "])
def test_command_help(context: BoltContext, text: str) -> None:
    respond = MagicMock()
    handle_awssec({"text": text}, respond, context, log)
    kwargs = respond.call_args.kwargs
    assert kwargs["response_type"] == "ephemeral" and "/awssec list" in kwargs["text"]


def test_command_list(context: BoltContext) -> None:
    respond = MagicMock()
    handle_awssec({"text": "list"}, respond, context, log)
    kwargs = respond.call_args.kwargs
    assert header(kwargs) == "Topics I know (4)"
    assert "Keys and certificates" in json.dumps(kwargs["blocks"])


def test_command_answer_is_ephemeral_and_shareable(context: BoltContext) -> None:
    respond = MagicMock()
    handle_awssec({"text": "which service finds PII?"}, respond, context, log)
    kwargs = respond.call_args.kwargs
    assert kwargs["response_type"] == "ephemeral" and header(kwargs) == "Amazon Macie"
    ids = [
        e["action_id"] for b in kwargs["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert ACTION_SHARE in ids


def click(value: str, *, channel: str = "C1", ephemeral: bool = False, thread: str | None = None):
    body: dict[str, Any] = {
        "user": {"id": "U0CLICK"},
        "container": {
            "type": "message",
            "channel_id": channel,
            "is_ephemeral": ephemeral,
            "message_ts": "9.9",
        },
        "channel": {"id": channel},
    }
    if not ephemeral:
        body["message"] = {"ts": "9.9", **({"thread_ts": thread} if thread else {})}
    return body, {"action_id": "awssec_show_topic:1", "value": value}


def test_show_topic_from_ephemeral_replaces_it(context: BoltContext) -> None:
    respond, client = MagicMock(), MagicMock()
    body, action = click("kms", ephemeral=True)
    handle_show_topic(body, action, respond, client, context, log)
    kwargs = respond.call_args.kwargs
    assert kwargs["replace_original"] is True and header(kwargs).startswith("AWS Key")
    client.chat_postMessage.assert_not_called()


def test_show_topic_in_thread_and_dm(context: BoltContext) -> None:
    respond, client = MagicMock(), MagicMock()
    body, action = click("guardduty", thread="1.0")
    handle_show_topic(body, action, respond, client, context, log)
    kwargs = client.chat_postMessage.call_args.kwargs
    assert kwargs["channel"] == "C1" and kwargs["thread_ts"] == "1.0"
    body, action = click("guardduty", channel="D1")
    handle_show_topic(body, action, respond, client, context, log)
    kwargs = client.chat_postMessage.call_args.kwargs
    assert kwargs["channel"] == "D1" and kwargs["thread_ts"] is None
    body, action = click("guardduty")  # a top-level answer in a channel: thread under it
    handle_show_topic(body, action, respond, client, context, log)
    assert client.chat_postMessage.call_args.kwargs["thread_ts"] == "9.9"


def test_show_unknown_topic(context: BoltContext) -> None:
    respond, client = MagicMock(), MagicMock()
    body, action = click("no-such-topic", ephemeral=True)
    handle_show_topic(body, action, respond, client, context, log)
    assert "no longer" in respond.call_args.kwargs["text"]


def test_app_home(context: BoltContext) -> None:
    client = MagicMock()
    handle_app_home_opened({"user": "U1", "tab": "home"}, client, context, log)
    kwargs = client.views_publish.call_args.kwargs
    assert kwargs["user_id"] == "U1" and kwargs["view"]["type"] == "home"
    assert "Amazon Macie" in json.dumps(kwargs["view"])
    client.reset_mock()
    handle_app_home_opened({"user": "U1", "tab": "messages"}, client, context, log)
    client.views_publish.assert_not_called()


# ---------------------------------------------------------------- hostile and unusual input


@pytest.mark.parametrize("bot_user_id", [BOT_USER_ID, None])
@pytest.mark.parametrize("unit", [f"<@{BOT_USER_ID}|", "<@U", f"<@{BOT_USER_ID}|x" + "y" * 100])
def test_a_40_kb_pathological_message_is_handled_fast(
    context: BoltContext, bot_user_id: str | None, unit: str
) -> None:
    # Not a timing test as such: it guards against quadratic regexes (seconds, not ms).
    text = unit * (40_000 // len(unit))
    started = time.perf_counter()
    strip_bot_mention(text, bot_user_id)
    assert time.perf_counter() - started < 0.5
    say = MagicMock()
    event = {"text": text, "channel": "C1", "ts": f"8.{len(unit)}", "user": "U1"}
    started = time.perf_counter()
    handle_app_mention(event, {"event_id": "Ev8"}, say, MagicMock(), context, log)
    assert time.perf_counter() - started < 0.5
    say.assert_called_once()


def test_bot_user_id_falls_back_to_the_event_authorizations(context: BoltContext) -> None:
    # Before auth.test has answered (see identity.py), the id comes from the event itself.
    say = MagicMock()
    unknown = BoltContext({CONTEXT_KEY: context[CONTEXT_KEY], "bot_user_id": None})
    event = {"text": f"tell me <@{BOT_USER_ID}> about kms", "channel": "C1", "ts": "8.8"}
    body = {"event_id": "Ev88", "authorizations": [{"user_id": BOT_USER_ID, "is_bot": True}]}
    handle_app_mention(event, body, say, MagicMock(), unknown, log)
    assert header(say.call_args.kwargs).startswith("AWS Key Management")
    assert BOT_USER_ID not in json.dumps(say.call_args.kwargs)


@pytest.mark.parametrize(
    "event",
    [
        {"channel_type": "im", "subtype": "file_share", "text": "kms?", "files": [{"id": "F1"}]},
        {"channel_type": "im", "subtype": "thread_broadcast", "text": "kms?", "thread_ts": "1.0"},
    ],
)
def test_file_shares_and_thread_broadcasts_are_answered(
    context: BoltContext, event: dict[str, Any]
) -> None:
    assert is_direct_message(event)
    assert is_fresh_mention({**event, "channel_type": "channel"})
    say = MagicMock()
    full = {**event, "channel": "D1", "ts": "9.1", "user": "U1"}
    handle_direct_message(full, {"event_id": "Ev91"}, say, context, log)
    assert header(say.call_args.kwargs).startswith("AWS Key Management")


def test_a_file_without_a_question_is_not_answered(context: BoltContext) -> None:
    say = MagicMock()
    event = {"channel_type": "im", "subtype": "file_share", "text": "", "files": [{"id": "F1"}]}
    handle_direct_message({**event, "channel": "D1", "ts": "9.2"}, {}, say, context, log)
    say.assert_not_called()
