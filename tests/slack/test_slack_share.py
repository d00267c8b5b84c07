""" "Share in channel": re-checked for credentials, posted through the response_url.

A real Bolt `Respond` posts to the fake Slack on 127.0.0.1, so what Slack would receive is
what is checked."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slack_bolt.context.respond import Respond
from slackfakes import BOT_USER_ID, FakeSlackAPI

from bot.matcher.answer import Answer, AnswerKind
from bot.matcher.service import AnswerService
from bot.rendering.blocks.ids import ACTION_SHARE, encode_answer
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.listeners.actions.share import CANNOT_POST, handle_share
from bot.slack.reliability.dedup import MemoryDeduplicator

log = logging.getLogger("test.share")
KEY_ID = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture
def fake(fake_slack: FakeSlackAPI) -> Iterator[FakeSlackAPI]:
    fake_slack.reset()
    yield fake_slack


def share(fake: FakeSlackAPI, service: AnswerService, value: str, channel: str = "G0PRIV"):
    """Click Share on an ephemeral /awssec answer in `channel`; the Web API client is a
    mock that must never be used (no chat.postMessage, so no chat:write.public)."""
    context = BoltContext(
        {CONTEXT_KEY: Deps(service=service, dedup=MemoryDeduplicator()), "bot_user_id": BOT_USER_ID}
    )
    body = {
        "user": {"id": "U0CLICK"},
        "team": {"id": "T1"},
        "container": {"channel_id": channel, "message_ts": "9.9", "is_ephemeral": True},
        "channel": {"id": channel},
    }
    client = MagicMock()
    respond = Respond(response_url=fake.response_url("share"))
    handle_share(body, {"action_id": ACTION_SHARE, "value": value}, respond, client, context, log)
    assert client.mock_calls == []
    return fake.find("response_url")


def test_share_posts_in_channel_through_the_response_url(
    fake: FakeSlackAPI, slack_service: AnswerService
) -> None:
    value = encode_answer(slack_service.answer("<!channel> which service finds PII?"))
    public, delete = share(fake, slack_service, value)
    assert public.params["response_type"] == "in_channel"
    assert public.params["replace_original"] is False
    assert public.params["blocks"][0]["elements"][0]["text"].startswith("<@U0CLICK> asked:")
    assert "<!channel>" not in json.dumps(public.params)
    assert delete.params["delete_original"] is True


@pytest.mark.parametrize(
    "question",
    [
        f"kms {KEY_ID} rotation",
        "which service finds PII? token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp",
    ],
)
def test_a_credential_in_a_shared_question_is_never_published(
    fake: FakeSlackAPI, slack_service: AnswerService, question: str
) -> None:
    # A value the guard did not see at ask time (older guard, or a hand-made value).
    kms = slack_service.knowledge.get("kms")
    value = encode_answer(Answer(question, AnswerKind.TOPIC, (kms,)))
    [warning] = share(fake, slack_service, value)
    assert warning.params["response_type"] == "ephemeral"
    assert warning.params["replace_original"] is False
    assert "looks like" in warning.params["text"]
    secret = question.split()[-1] if "xoxb" in question else KEY_ID
    assert secret not in json.dumps(warning.params)


def test_an_expired_response_url_is_reported_privately(
    fake: FakeSlackAPI, slack_service: AnswerService
) -> None:
    fake.fail("response_url", [404])  # Slack: expired_url, 30 minutes after the command
    value = encode_answer(slack_service.answer("kms"))
    public, note = share(fake, slack_service, value)
    assert public.params["response_type"] == "in_channel"
    assert note.params["text"] == CANNOT_POST and note.params["response_type"] == "ephemeral"
