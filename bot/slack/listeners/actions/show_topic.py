"""A topic button ("related", "did you mean"): show that topic where the button was."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.answers import render_message
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import clicked_where, record_answer, send


def handle_show_topic(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    kb = deps.service.knowledge
    topic = kb.get(str(action.get("value") or ""))
    container = body.get("container") or {}
    ephemeral = bool(container.get("is_ephemeral"))
    if topic is None:
        note = "That topic is no longer in my knowledge. Try `/awssec list`."
        send(
            respond,
            logger,
            "unknown topic",
            response_type="ephemeral",
            replace_original=False,
            text=note,
        )
        return
    answer = Answer(question=topic.name, kind=AnswerKind.TOPIC, topics=(topic,), confidence=1.0)
    where = clicked_where(body, "topic_button")
    channel = where.channel_id

    if ephemeral:
        # Slash command answers only exist for the asker: swap the answer in place.
        answer_id = record_answer(deps, answer, where, logger)
        message = render_message(answer, kb=kb, shareable=True, answer_id=answer_id)
        send(respond, logger, "show topic", replace_original=True, **message)
        return

    posted = body.get("message") or {}
    if not channel:
        return
    thread_ts = posted.get("thread_ts")
    if thread_ts is None and not str(channel).startswith("D"):
        # Keep channel conversations in the answer's thread.
        thread_ts = posted.get("ts") or container.get("message_ts")
    message = render_message(answer, kb=kb, answer_id=record_answer(deps, answer, where, logger))
    send(
        client.chat_postMessage,
        logger,
        "show topic",
        channel=channel,
        thread_ts=thread_ts,
        **message,
    )
