""" "Helpful" / "Not helpful": record the vote, thank the voter in place, ask for a comment.

One vote per user per answer (the store upserts), so a second click changes the vote. The
feedback buttons of *that* message are replaced by a thank-you and a button to change the
vote; the rest of the message is kept. "Not helpful" also opens the optional comment modal.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient

from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks import (
    ACTION_FEEDBACK_HELPFUL,
    comment_modal,
    feedback_thanks_blocks,
    render_message,
    replace_feedback,
)
from bot.slack.deps import Deps, deps_of
from bot.slack.replies import clicked_where, describe_error, send

ANSWER_GONE = (
    "Thanks! That answer is too old to rate now (old records are removed). "
    "Ask again and rate the new answer."
)
CANNOT_RECORD = "Sorry, I couldn't record your feedback just now. Please try again later."


def handle_feedback(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    deps = deps_of(context)
    helpful = action.get("action_id") == ACTION_FEEDBACK_HELPFUL
    answer_id = _answer_id(action.get("value"))
    where = clicked_where(body, "feedback")
    user, team, channel = where.user_id, where.team_id, where.channel_id
    container = body.get("container") or {}

    def note(text: str) -> None:
        send(
            respond,
            logger,
            "feedback note",
            response_type="ephemeral",
            replace_original=False,
            text=text,
        )

    if answer_id is None or not user:
        note(ANSWER_GONE)
        return
    if deps.store is None:
        note(CANNOT_RECORD)
        return
    try:
        deps.store.record_vote(
            answer_id=answer_id, team_id=team, user_id=user, channel_id=channel, helpful=helpful
        )
    except LookupError:  # UnknownAnswerError: purged, or never recorded
        note(ANSWER_GONE)
        return
    except Exception as exc:
        logger.error("could not record a vote: %s", describe_error(exc))
        note(CANNOT_RECORD)
        return

    if not helpful and body.get("trigger_id"):
        # The trigger id expires 3 s after the click: open the modal before anything slower.
        send(
            client.views_open,
            logger,
            "open the comment modal",
            trigger_id=body["trigger_id"],
            view=comment_modal(answer_id),
        )

    thanks = feedback_thanks_blocks(answer_id, user, helpful)
    if container.get("is_ephemeral"):
        # Slack sends no copy of an ephemeral message: render the recorded answer again.
        message = _rerender(deps, answer_id, logger)
        if message is None:
            note("Thanks for your feedback!")
            return
        message["blocks"] = replace_feedback(message["blocks"], thanks)
        send(respond, logger, "acknowledge vote", replace_original=True, **message)
        return

    posted = body.get("message") or {}
    ts = posted.get("ts") or container.get("message_ts")
    if not channel or not ts:
        note("Thanks for your feedback!")
        return
    send(
        client.chat_update,
        logger,
        "acknowledge vote",
        channel=channel,
        ts=ts,
        blocks=replace_feedback(list(posted.get("blocks") or []), thanks),
        text=posted.get("text") or "Thanks for your feedback!",
    )


def _answer_id(value: Any) -> int | None:
    try:
        answer_id = int(str(value))
    except (TypeError, ValueError):
        return None
    return answer_id if answer_id > 0 else None


def _rerender(deps: Deps, answer_id: int, logger: logging.Logger) -> dict[str, Any] | None:
    assert deps.store is not None
    try:
        row = deps.store.get_answer(answer_id)
    except Exception as exc:
        logger.error("could not read an answer back: %s", describe_error(exc))
        return None
    if row is None:
        return None
    kb = deps.service.knowledge
    answer = answer_from_record(row.question, row.topic_ids, row.suggestion_ids, kb)
    # Ephemeral answers with feedback buttons come from /awssec: keep "Share in channel".
    return render_message(answer, kb=kb, shareable=True, answer_id=answer_id)


def answer_from_record(
    question: str, topic_ids: list[str], suggestion_ids: list[str], kb: KnowledgeBase
) -> Answer:
    """The answer a recorded row describes, with topics from the knowledge in use."""
    topics = tuple(t for t in map(kb.get, topic_ids) if t is not None)
    suggestions = tuple(t for t in map(kb.get, suggestion_ids) if t is not None)
    if len(topics) > 1:
        kind = AnswerKind.COMPARISON
    elif topics:
        kind = AnswerKind.TOPIC
    else:
        kind = AnswerKind.NO_MATCH
    return Answer(question=question, kind=kind, topics=topics, suggestions=suggestions)
