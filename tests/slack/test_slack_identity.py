"""The bot's identity (auth.test) is resolved in the background: acks never wait on Slack."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slackfakes import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    TEAM_ID,
    FakeSlackAPI,
    event_body,
    mention_event,
    start_web_server,
    unique,
)

from bot.slack.reliability.identity import BotIdentity


def wait_until(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_authorize_answers_at_once_and_learns_the_identity_in_the_background() -> None:
    with FakeSlackAPI() as fake:
        fake.fail("auth.test", [500, 500])
        client = WebClient(token=BOT_TOKEN, base_url=fake.base_url)
        identity = BotIdentity(client, delays=[0.05, 0.05, 0.05])
        # Before anything is known: the token, and None for the bot's ids.
        started = time.perf_counter()
        result = identity.authorize(None, TEAM_ID, "U0ASKER")
        assert time.perf_counter() - started < 0.05
        assert (result.bot_token, result.bot_user_id, result.team_id) == (BOT_TOKEN, None, TEAM_ID)
        assert result.user_id == "U0ASKER"
        identity.start()
        assert identity.wait(5)
        assert len(fake.find("auth.test")) == 3  # two failures, then the answer
        result = identity.authorize(None, TEAM_ID, "U0ASKER")
        assert (result.bot_user_id, result.bot_id) == (BOT_USER_ID, BOT_ID)


def test_a_rejected_token_is_logged_once_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with FakeSlackAPI() as fake:
        fake.reject("auth.test", "invalid_auth")
        identity = BotIdentity(WebClient(token=BOT_TOKEN, base_url=fake.base_url), delays=[0.01])
        with caplog.at_level(logging.ERROR, logger="bot.slack.reliability.identity"):
            identity.start()
            assert not identity.wait(5)
        assert len(fake.find("auth.test")) == 1
        assert "Slack rejected SLACK_BOT_TOKEN (auth.test: invalid_auth)" in caplog.text
        assert BOT_TOKEN not in caplog.text
        identity.start()  # later requests do not hammer Slack with a token it rejected
        assert not identity.wait(1) and len(fake.find("auth.test")) == 1


def test_retries_are_bounded_then_resume_later() -> None:
    now = [0.0]
    with FakeSlackAPI() as fake:
        fake.fail("auth.test", [500] * 3)
        client = WebClient(token=BOT_TOKEN, base_url=fake.base_url)
        identity = BotIdentity(client, delays=[0.01], round_seconds=60, clock=lambda: now[0])
        identity.start()
        assert not identity.wait(5)
        assert len(fake.find("auth.test")) == 2  # one try and one retry, then it gave up
        identity.authorize(None, TEAM_ID, None)  # too soon for another round
        assert not identity.wait(1) and len(fake.find("auth.test")) == 2
        now[0] = 61
        identity.authorize(None, TEAM_ID, None)  # starts a new round in the background
        assert identity.wait(5)
        assert identity.bot_user_id == BOT_USER_ID


def test_acks_do_not_wait_for_a_failing_auth_test(tmp_path: Path) -> None:
    """auth.test answers 500 when the server starts: mentions are acked at once, answered
    anyway, and the identity is learnt once auth.test recovers."""
    with FakeSlackAPI() as fake:
        fake.fail("auth.test", [500, 500])
        server = start_web_server(fake, tmp_path, WEB_CONCURRENCY="1")
        try:
            channel = unique("C")
            body = json.dumps(event_body(mention_event("which service finds PII?", channel)))
            reply = server.send(body)
            assert reply.status == 200 and reply.elapsed < 1.0, reply
            [answer] = fake.wait_for("chat.postMessage", channel=channel)
            assert answer.params["blocks"][0]["text"]["text"] == "Amazon Macie"
            assert answer.token == BOT_TOKEN
            # auth.test recovers (the third attempt, about 3 s after start-up).
            assert wait_until(lambda: "bot identity resolved" in server.output(), 15)
            assert len(fake.find("auth.test")) == 3
            channel = unique("C")
            body = json.dumps(event_body(mention_event(f"<@{BOT_USER_ID}|awssec> kms", channel)))
            reply = server.send(body)
            assert reply.status == 200 and reply.elapsed < 1.0
            [answer] = fake.wait_for("chat.postMessage", channel=channel)
            assert answer.params["blocks"][0]["text"]["text"].startswith("AWS Key Management")
            output = server.output()
            assert "Traceback" not in output and BOT_TOKEN not in output
        finally:
            server.process.stop()
