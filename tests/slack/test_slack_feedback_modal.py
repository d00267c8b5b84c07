""" "Not helpful" opens the comment modal before the vote reaches the database.

The click's trigger_id expires 3 s after the click, so a slow database must not stand
between the click and views.open. A real WebClient talks to the fake Slack Web API on
127.0.0.1; the store is a stub that records what Slack had been asked when the vote arrived.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from unittest.mock import MagicMock

import pytest
from slack_bolt import BoltContext
from slack_sdk import WebClient
from slackfakes import BOT_TOKEN, BOT_USER_ID, FakeSlackAPI

from bot.matcher.service import AnswerService
from bot.rendering.blocks.feedback import comment_answer_id
from bot.rendering.blocks.ids import (
    ACTION_FEEDBACK_HELPFUL,
    ACTION_FEEDBACK_NOT_HELPFUL,
    VIEW_FEEDBACK_COMMENT,
)
from bot.slack.answering.deps import CONTEXT_KEY, Deps
from bot.slack.listeners.actions.feedback import ANSWER_GONE, handle_feedback
from bot.slack.reliability.dedup import MemoryDeduplicator

log = logging.getLogger("test.feedback_modal")


class SlowVoteStore:
    """Records votes slowly, noting which Slack calls had been made when each vote began."""

    def __init__(self, fake: FakeSlackAPI, *, delay: float, fail: Exception | None = None):
        self.fake = fake
        self.delay = delay  # a slow database, not a timing assertion
        self.fail = fail
        self.slack_calls_at_vote: list[list[str]] = []

    def record_vote(self, **_: Any) -> None:
        self.slack_calls_at_vote.append([c.method for c in self.fake.find()])
        threading.Event().wait(self.delay)
        if self.fail is not None:
            raise self.fail


@pytest.fixture
def client(fake_slack: FakeSlackAPI) -> Iterator[WebClient]:
    fake_slack.reset()
    yield WebClient(token=BOT_TOKEN, base_url=fake_slack.base_url, timeout=5)


def as_dict(view: Any) -> dict[str, Any]:
    """A view as the fake received it (slack_sdk may send it JSON-encoded in a form)."""
    return view if isinstance(view, dict) else json.loads(view)


def click(action_id: str, store: SlowVoteStore, client: WebClient, service: AnswerService):
    deps = Deps(service=service, dedup=MemoryDeduplicator(), store=store)  # type: ignore[arg-type]
    context = BoltContext({CONTEXT_KEY: deps, "bot_user_id": BOT_USER_ID})
    body = {
        "user": {"id": "U0VOTER"},
        "team": {"id": "T1"},
        "trigger_id": "1.2.3",
        "container": {"channel_id": "C1", "message_ts": "9.9", "is_ephemeral": False},
        "message": {"ts": "9.9", "blocks": []},
    }
    respond = MagicMock()
    handle_feedback(body, {"action_id": action_id, "value": "7"}, respond, client, context, log)
    return respond


def test_the_modal_opens_before_a_slow_vote_is_written(
    fake_slack: FakeSlackAPI, client: WebClient, slack_service: AnswerService
) -> None:
    store = SlowVoteStore(fake_slack, delay=0.3)
    click(ACTION_FEEDBACK_NOT_HELPFUL, store, client, slack_service)
    # When the vote reached the database, Slack had already been asked to open the modal.
    assert store.slack_calls_at_vote == [["views.open"]]
    [opened] = fake_slack.find("views.open")
    assert opened.params["trigger_id"] == "1.2.3"
    view = as_dict(opened.params["view"])
    assert view["callback_id"] == VIEW_FEEDBACK_COMMENT and comment_answer_id(view) == 7


def test_a_helpful_vote_opens_no_modal(
    fake_slack: FakeSlackAPI, client: WebClient, slack_service: AnswerService
) -> None:
    store = SlowVoteStore(fake_slack, delay=0)
    click(ACTION_FEEDBACK_HELPFUL, store, client, slack_service)
    assert store.slack_calls_at_vote == [[]]
    assert fake_slack.find("views.open") == []


def test_a_vote_that_cannot_be_recorded_withdraws_the_opened_modal(
    fake_slack: FakeSlackAPI, client: WebClient, slack_service: AnswerService
) -> None:
    store = SlowVoteStore(fake_slack, delay=0, fail=LookupError("no answer with id 7"))
    respond = click(ACTION_FEEDBACK_NOT_HELPFUL, store, client, slack_service)
    assert respond.call_args.kwargs["text"] == ANSWER_GONE
    # The modal asked for a comment on a vote that does not exist: it now says why instead.
    [update] = fake_slack.find("views.update")
    assert update.params["view_id"] == "V2"  # the id the fake's views.open handed out
    view = as_dict(update.params["view"])
    assert "too old to rate" in json.dumps(view) and "input" not in json.dumps(view)
