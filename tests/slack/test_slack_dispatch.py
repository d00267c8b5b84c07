"""Bolt dispatch in process: the app from `create_app`, signed requests handed to
`App.dispatch` as Bolt's own tests do, and the Web API calls recorded by the fake Slack on
127.0.0.1.

The tier between the listener unit tests (functions called with mocks) and the end-to-end
tests (gunicorn in a subprocess): it runs the real middleware, matchers, acks and lazy
listeners in a few milliseconds per request, so a wiring mistake (a listener registered for the
wrong event, a matcher that swallows a mention, an ack that waits on the matcher) fails here
with an in-process traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slackfakes import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlackAPI,
    action_payload,
    command_body,
    dm_event,
    event_body,
    interactivity_body,
    mention_event,
    sign,
)

from bot.config import Settings
from bot.matcher.service import AnswerService
from bot.rendering.blocks.ids import ACTION_SHOW_TOPIC
from bot.slack.app import create_app
from bot.slack.reliability.dedup import MemoryDeduplicator


@pytest.fixture
def app(fake_slack: FakeSlackAPI, slack_service: AnswerService) -> Iterator[App]:
    fake_slack.reset()
    settings = Settings(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dispatch-test")
    try:
        yield create_app(
            settings,
            slack_service,
            dedup=MemoryDeduplicator(),
            client=client,
            listener_executor=executor,
        )
    finally:
        executor.shutdown(wait=True)


def _event_request(body: dict[str, Any], **headers: str) -> BoltRequest:
    raw = json.dumps(body)
    return BoltRequest(body=raw, headers={**sign(raw), **headers})


def _posted_to(fake_slack: FakeSlackAPI, name: str, timeout: float = 10.0) -> list[Any]:
    """Posts to the response URL `name`, once there is one (or whatever came by `timeout`)."""
    fake_slack.wait_for("response_url", timeout=timeout)
    path = f"/response/{name}"
    return [c for c in fake_slack.find("response_url") if c.path == path]


def _form_request(raw: str) -> BoltRequest:
    return BoltRequest(
        body=raw, headers=sign(raw, content_type="application/x-www-form-urlencoded")
    )


def test_a_mention_is_acked_at_once_and_answered_in_its_thread(
    app: App, fake_slack: FakeSlackAPI
) -> None:
    event = mention_event("which service finds PII in S3?")
    response = app.dispatch(_event_request(event_body(event)))
    assert response.status == 200
    [reply] = fake_slack.wait_for("chat.postMessage", thread_ts=event["ts"])
    assert reply.params["channel"] == event["channel"]
    assert reply.token == BOT_TOKEN
    assert "Amazon Macie" in reply.params["text"]


def test_a_retried_event_gets_one_reply(app: App, fake_slack: FakeSlackAPI) -> None:
    event = dm_event("which service finds PII in S3?")
    body = event_body(event)
    assert app.dispatch(_event_request(body)).status == 200
    retry = _event_request(body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert app.dispatch(retry).status == 200
    fake_slack.wait_for("chat.postMessage", channel=event["channel"])
    # Give a wrongly accepted retry the time a first reply took; still exactly one.
    replies = fake_slack.wait_for("chat.postMessage", count=2, timeout=1.0, channel="D0DM")
    assert len([r for r in replies if r.params.get("thread_ts") in (None, event["ts"])]) == 1


def test_a_forged_request_is_refused_and_nothing_is_posted(
    app: App, fake_slack: FakeSlackAPI
) -> None:
    raw = json.dumps(event_body(mention_event("what is GuardDuty?")))
    headers = sign(raw, secret="not-the-signing-secret")
    assert app.dispatch(BoltRequest(body=raw, headers=headers)).status == 401
    assert fake_slack.wait_for("chat.postMessage", timeout=0.5) == []


def test_the_slash_command_acks_with_nothing_and_answers_at_the_response_url(
    app: App, fake_slack: FakeSlackAPI
) -> None:
    url = fake_slack.response_url("slash-dispatch")
    response = app.dispatch(_form_request(command_body("does guardduty need agents", url)))
    assert response.status == 200
    [answer] = _posted_to(fake_slack, "slash-dispatch")
    assert "GuardDuty" in answer.params["text"]


def test_a_topic_button_answers_with_that_topic(app: App, fake_slack: FakeSlackAPI) -> None:
    url = fake_slack.response_url("button-dispatch")
    payload = action_payload(f"{ACTION_SHOW_TOPIC}:1", "guardduty", response_url=url)
    assert app.dispatch(_form_request(interactivity_body(payload))).status == 200
    fake_slack.wait_for("chat.postMessage", timeout=2.0)
    calls = _posted_to(fake_slack, "button-dispatch", timeout=2.0)
    calls += fake_slack.find("chat.postMessage") + fake_slack.find("chat.postEphemeral")
    assert any("GuardDuty" in json.dumps(c.params) for c in calls)


def test_channel_chatter_is_acked_and_ignored(app: App, fake_slack: FakeSlackAPI) -> None:
    chatter = {
        "type": "message",
        "channel_type": "channel",
        "user": "U0SOMEONE",
        "text": "lunch at noon?",
        "ts": "1700000009.000001",
        "channel": "C0GENERAL",
    }
    assert app.dispatch(_event_request(event_body(chatter))).status == 200
    assert fake_slack.wait_for("chat.postMessage", timeout=0.5) == []
