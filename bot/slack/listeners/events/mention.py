"""`@awssec question` in a channel: answer in a thread under the question."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Say
from slack_sdk import WebClient

from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import (
    build_reply,
    event_where,
    is_human_message,
    new_question,
    send,
)
from bot.slack.listeners.events import conversations


def is_fresh_mention(event: dict[str, Any]) -> bool:
    return is_human_message(event)


def handle_app_mention(
    event: dict[str, Any],
    body: dict[str, Any],
    say: Say,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    question = new_question(deps, body, event, context, logger)
    if question is None:
        return
    where = event_where("mention", body, event)
    # In a thread the bot answered in, the thread's topic is the mention's context too.
    thread = conversations.live_thread(deps, body, event, logger)
    topic = thread.topic_id if thread is not None else None
    reply = build_reply(deps, question, where, logger, context_topic=topic)
    if reply.private:
        # A credential in a channel: warn only the asker, nothing in the thread.
        send(
            client.chat_postEphemeral,
            logger,
            "warn about a credential",
            channel=event.get("channel"),
            user=event.get("user"),
            thread_ts=event.get("thread_ts"),
            **reply.message,
        )
        return
    # A mention inside a thread is answered in that thread; otherwise start one.
    thread_ts = event.get("thread_ts") or event.get("ts")
    # Follow-ups in this thread are answered without a mention for a while. Remembered
    # before posting: a follow-up sent the moment the answer appears finds the thread.
    conversations.remember_thread(deps, where, str(thread_ts), reply, logger)
    send(say, logger, "reply to mention", thread_ts=thread_ts, **reply.message)
