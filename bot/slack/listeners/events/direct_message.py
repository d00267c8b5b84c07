"""Messages in the bot's DM: answer right there."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Say

from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import (
    build_reply,
    event_where,
    is_human_message,
    new_question,
    send,
)


def is_direct_message(event: dict[str, Any]) -> bool:
    return event.get("channel_type") == "im" and is_human_message(event)


def handle_direct_message(
    event: dict[str, Any],
    body: dict[str, Any],
    say: Say,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    question = new_question(deps, body, event, context, logger)
    if question is None:
        return
    if not question and event.get("subtype") == "file_share":
        return  # a file dropped into the DM without a question: nothing to answer
    where = event_where("dm", body, event)
    # A DM is already private, so a credential warning is posted right here too.
    reply = build_reply(deps, question, where, logger)
    # Top-level DMs get top-level replies; a question asked in a DM thread stays there.
    send(say, logger, "reply to DM", thread_ts=event.get("thread_ts"), **reply.message)
