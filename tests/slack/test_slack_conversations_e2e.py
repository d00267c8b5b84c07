"""End to end: follow-ups in threads and auto-answer channels, through the Procfile's web
process (gunicorn, two workers, SQLite) against the fake Slack Web API, requests signed as
Slack signs them. The bundled knowledge, so confidences are the real ones."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from slackfakes import (
    BOT_USER_ID,
    REPO,
    FakeSlackAPI,
    WebServer,
    action_payload,
    command_body,
    event_body,
    interactivity_body,
    mention_event,
    sqlite_rows,
    start_web_server,
    unique,
)

from bot.rendering.blocks.conversations import AUTO_ANSWER_NOTE
from bot.rendering.blocks.ids import ACTION_FEEDBACK_NOT_HELPFUL

FORM = "application/x-www-form-urlencoded"
ADMIN = "U0ADMIN"
# The short window of the second server: long enough for a follow-up sent straight after
# the answer, short enough to wait out in a test.
SHORT_WINDOW_MINUTES = "0.05"  # 3 s


@pytest.fixture(scope="module")
def server(fake_slack: FakeSlackAPI, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    web = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("conv"),
        AWSSEC_KNOWLEDGE=str(REPO / "knowledge"),
        AWSSEC_ADMINS=ADMIN,
    )
    try:
        yield web
    finally:
        web.process.stop()


def send_event(server: WebServer, event: dict, event_id: str | None = None, **kwargs):
    reply = server.send(json.dumps(event_body(event, event_id)), **kwargs)
    assert reply.status == 200
    return reply


def channel_message(text: str, channel: str, ts: str, **extra) -> dict:
    return {
        "type": "message",
        "channel_type": "channel",
        "user": "U0ASKER",
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def headers(call) -> list[str]:
    return [b["text"]["text"] for b in call.params["blocks"] if b["type"] == "header"]


def settle(seconds: float = 0.7) -> None:
    """Give lazy listeners time to (wrongly) post something before asserting nothing came."""
    time.sleep(seconds)


def posts(fake: FakeSlackAPI, channel: str) -> list:
    return fake.find("chat.postMessage", channel=channel)


def answered_thread(server: WebServer, fake: FakeSlackAPI, question: str) -> tuple[str, str]:
    """A channel where the bot answered a mention; (channel, thread ts)."""
    channel, ts = unique("C"), f"1700001000.{unique()[-6:]}"
    send_event(server, mention_event(question, channel, ts))
    assert len(fake.wait_for("chat.postMessage", channel=channel)) == 1
    return channel, ts


def slash(server: WebServer, fake: FakeSlackAPI, text: str, channel: str, user: str) -> str:
    url = fake.response_url(unique("cmd"))
    reply = server.send(command_body(text, url, channel, user=user), content_type=FORM)
    assert reply.status == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [c for c in fake.find("response_url") if url.endswith(c.path)]
        if found:
            return found[0].params["text"]
        time.sleep(0.05)
    raise AssertionError("no response to the slash command")


def test_a_follow_up_is_answered_with_the_threads_topic(server, fake_slack) -> None:
    channel, thread = answered_thread(server, fake_slack, "what is guardduty?")
    follow = channel_message(
        "does it work with EKS too?", channel, "1700001001.1", thread_ts=thread
    )
    send_event(server, follow)
    [_, reply] = fake_slack.wait_for("chat.postMessage", count=2, channel=channel)
    assert reply.params["thread_ts"] == thread
    assert headers(reply) == ["Amazon GuardDuty"]  # EKS alone would be "Amazon EKS security"
    # A comparison with the thread's topic, thread's topic first.
    compare = channel_message("and the difference with Detective?", channel, "1700001001.2")
    send_event(server, {**compare, "thread_ts": thread})
    [*_, third] = fake_slack.wait_for("chat.postMessage", count=3, channel=channel)
    assert headers(third) == ["Amazon GuardDuty", "Amazon Detective"]
    [(surface,)] = sqlite_rows(
        server.database_url,
        "SELECT DISTINCT surface FROM answers WHERE channel_id = ? AND surface != 'mention'",
        channel,
    )
    assert surface == "followup"


def test_chatter_bots_and_edits_in_the_thread_are_not_answered(server, fake_slack) -> None:
    channel, thread = answered_thread(server, fake_slack, "what is macie?")
    ignored = [
        channel_message("thanks!", channel, "1700001002.1", thread_ts=thread),
        channel_message("ok", channel, "1700001002.2", thread_ts=thread),
        channel_message("+1 :tada:", channel, "1700001002.3", thread_ts=thread),
        channel_message("who broke the build?", channel, "1700001002.4", thread_ts=thread),
        channel_message(
            "can it scan RDS?", channel, "1700001002.5", thread_ts=thread, bot_id="B0X"
        ),
        channel_message(
            "can it scan RDS?", channel, "1700001002.6", thread_ts=thread, subtype="message_changed"
        ),
    ]
    for event in ignored:
        send_event(server, event)
    settle()
    assert len(posts(fake_slack, channel)) == 1  # only the first answer


def test_a_thread_the_bot_never_answered_in_is_ignored(server, fake_slack) -> None:
    channel = unique("C")
    event = channel_message(
        "does it work with EKS too?", channel, "1700001003.2", thread_ts="1700001003.1"
    )
    send_event(server, event)
    settle()
    assert posts(fake_slack, channel) == []


def test_retries_and_a_mention_in_the_thread_get_one_reply(server, fake_slack) -> None:
    channel, thread = answered_thread(server, fake_slack, "what is guardduty?")
    follow = channel_message(
        "can it scan S3 for malware?", channel, "1700001004.1", thread_ts=thread
    )
    event_id = unique("Ev")
    send_event(server, follow, event_id)
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    send_event(server, follow, event_id, headers=retry)
    # A mention in the thread arrives twice: as app_mention and as a channel message.
    text = f"<@{BOT_USER_ID}> how much does it cost?"
    ts = "1700001004.2"
    send_event(server, {**mention_event("x", channel, ts), "text": text, "thread_ts": thread})
    send_event(server, channel_message(text, channel, ts, thread_ts=thread))
    fake_slack.wait_for("chat.postMessage", count=3, channel=channel)
    settle(1.0)
    assert len(posts(fake_slack, channel)) == 3  # the first answer, the follow-up, the mention


def test_the_follow_up_window_ends(fake_slack, tmp_path_factory) -> None:
    web = start_web_server(
        fake_slack,
        tmp_path_factory.mktemp("window"),
        AWSSEC_KNOWLEDGE=str(REPO / "knowledge"),
        AWSSEC_FOLLOWUP_MINUTES=SHORT_WINDOW_MINUTES,
    )
    try:
        channel, thread = answered_thread(web, fake_slack, "what is guardduty?")
        event = channel_message("can it scan S3 for malware?", channel, "1700001005.1")
        send_event(web, {**event, "thread_ts": thread})
        assert len(fake_slack.wait_for("chat.postMessage", count=2, channel=channel)) == 2
        time.sleep(float(SHORT_WINDOW_MINUTES) * 60 + 0.5)
        later = channel_message("does it work with EKS too?", channel, "1700001005.2")
        send_event(web, {**later, "thread_ts": thread})
        settle(1.0)
        assert len(posts(fake_slack, channel)) == 2
    finally:
        web.process.stop()


def test_auto_answer_channel(server, fake_slack) -> None:
    channel = unique("C")
    assert "only awssec admins" in slash(server, fake_slack, "autoanswer on", channel, "U0SOMEONE")
    send_event(server, channel_message("which service finds PII in S3?", channel, "1700001006.1"))
    settle()
    assert posts(fake_slack, channel) == []  # a non-admin could not turn it on

    assert "*on*" in slash(server, fake_slack, "autoanswer on", channel, ADMIN)
    assert "*on*" in slash(server, fake_slack, "autoanswer status", channel, "U0SOMEONE")
    confident = channel_message("which service finds PII in S3?", channel, "1700001006.2")
    event_id = unique("Ev")
    send_event(server, confident, event_id)
    send_event(server, confident, event_id, headers={"X-Slack-Retry-Num": "1"})
    [answer] = fake_slack.wait_for("chat.postMessage", channel=channel)
    assert answer.params["thread_ts"] == "1700001006.2"
    assert headers(answer) == ["Amazon Macie"]
    assert AUTO_ANSWER_NOTE in json.dumps(answer.params["blocks"])
    buttons = [e for b in answer.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    not_helpful = next(b for b in buttons if b["action_id"] == ACTION_FEEDBACK_NOT_HELPFUL)

    # Unsure, chatter, a bot, an edit, a reply in a thread it did not start: silence.
    for event in [
        channel_message("is aws a good place to run things?", channel, "1700001006.3"),
        channel_message("morning all, thanks for yesterday", channel, "1700001006.4"),
        channel_message("which service finds PII?", channel, "1700001006.5", bot_id="B0X"),
        channel_message(
            "which service finds PII?", channel, "1700001006.6", subtype="message_changed"
        ),
        channel_message(
            "which service finds PII?", channel, "1700001006.8", thread_ts="1700001006.7"
        ),
    ]:
        send_event(server, event)
    settle()
    assert len(posts(fake_slack, channel)) == 1

    # Its thread takes follow-ups.
    follow = channel_message("how much does it cost?", channel, "1700001006.9")
    send_event(server, {**follow, "thread_ts": "1700001006.2"})
    assert len(fake_slack.wait_for("chat.postMessage", count=2, channel=channel)) == 2

    # "Not helpful" on the automatic answer is recorded against an answer with surface auto.
    click = action_payload(
        ACTION_FEEDBACK_NOT_HELPFUL,
        not_helpful["value"],
        channel=channel,
        response_url=fake_slack.response_url(unique("vote")),
        message_ts="1700001006.10",
        thread_ts="1700001006.2",
    )
    assert server.send(interactivity_body(click), content_type=FORM).status == 200
    deadline = time.monotonic() + 10
    rows: list = []
    while time.monotonic() < deadline and not rows:
        rows = sqlite_rows(
            server.database_url,
            "SELECT a.surface, v.helpful FROM votes v JOIN answers a ON a.id = v.answer_id "
            "WHERE a.channel_id = ?",
            channel,
        )
        time.sleep(0.1)
    assert rows == [("auto", 0)]

    assert "*off*" in slash(server, fake_slack, "autoanswer off", channel, ADMIN)
    send_event(server, channel_message("which service finds PII in S3?", channel, "1700001006.11"))
    settle()
    assert len(posts(fake_slack, channel)) == 2
