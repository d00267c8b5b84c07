""" "Helpful" / "Not helpful": record the vote, thank the voter, ask for a comment.

One vote per user per answer (the store upserts), so clicking the other button changes the
vote. A message in a channel, thread or DM is shared: its buttons stay as they are, so
everyone can vote, and the voter alone is thanked (an ephemeral message). An ephemeral
answer (from `/awssec`) only exists for the asker: its buttons are replaced in place by a
thank-you and a button to change the vote. "Not helpful" also opens the comment modal,
before the vote is written: the click's trigger_id expires 3 s after the click, and a slow
database must not use that time up.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.answers import render_message
from bot.rendering.blocks.feedback import (
    comment_modal,
    feedback_blocks,
    feedback_notice_modal,
    feedback_thanks_blocks,
    replace_feedback,
)
from bot.rendering.blocks.ids import ACTION_FEEDBACK_HELPFUL, is_feedback_note
from bot.slack.answering.deps import Deps, deps_of
from bot.slack.answering.replies import clicked_where, describe_error, send
from bot.storage.errors import StorageError

ANSWER_GONE = (
    "Thanks! That answer is too old to rate now (old records are removed). "
    "Ask again and rate the new answer."
)
CANNOT_RECORD = "Sorry, I couldn't record your feedback just now. Please try again later."


def vote_recorded(helpful: bool) -> str:
    """The private thank-you for a vote on a shared message."""
    verdict = "helpful" if helpful else "not helpful"
    return f"Thanks — recorded as {verdict}. Click the other button to change your vote."


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
    modal_id = None
    if not helpful and body.get("trigger_id"):
        # First, before the database: the trigger id expires 3 s after the click.
        modal_id = _open_comment_modal(client, body["trigger_id"], answer_id, logger)

    def refused(text: str) -> None:
        note(text)
        if modal_id:  # no vote to comment on: say so in the modal instead of asking
            send(
                client.views_update,
                logger,
                "withdraw the comment modal",
                view_id=modal_id,
                view=feedback_notice_modal(text),
            )

    try:
        # The store's breaker refuses at once while the database is unavailable.
        deps.store.record_vote(
            answer_id=answer_id,
            team_id=team,
            user_id=user,
            channel_id=channel,
            helpful=helpful,
            enterprise_id=where.enterprise_id,
        )
    except LookupError:  # UnknownAnswerError: purged, or never recorded
        refused(ANSWER_GONE)
        return
    except StorageError as exc:  # StorageUnavailable (logged by the breaker) or a bad record
        logger.error("could not record a vote: %s", exc)
        refused(CANNOT_RECORD)
        return

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

    # A shared message: everyone sees the same buttons, so they stay; only the voter is
    # thanked. (Replacing them with "Thanks, @voter" would take the vote away from others.)
    note(vote_recorded(helpful))
    posted = body.get("message") or {}
    blocks = list(posted.get("blocks") or [])
    ts = posted.get("ts") or container.get("message_ts")
    if channel and ts and any(is_feedback_note(b) for b in blocks):
        # An answer acknowledged the old way (thanks + one "change" button): give it back
        # both buttons.
        send(
            client.chat_update,
            logger,
            "restore vote buttons",
            channel=channel,
            ts=ts,
            blocks=replace_feedback(blocks, feedback_blocks(answer_id)),
            text=posted.get("text") or "",
        )


def _open_comment_modal(
    client: WebClient, trigger_id: str, answer_id: int, logger: logging.Logger
) -> str | None:
    """Open the "Not helpful" comment modal; its view id, or None if Slack refused."""
    try:
        response = client.views_open(trigger_id=trigger_id, view=comment_modal(answer_id))
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        logger.error("Slack API call failed (open the comment modal): %s", error)
        return None
    except OSError as exc:  # URLError, timeouts, refused connections
        logger.error("Slack API call failed (open the comment modal): %s", exc)
        return None
    view = response.get("view") if response is not None else None
    return str(view["id"]) if isinstance(view, dict) and view.get("id") else None


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
    # A re-rendered miss keeps its "Ask the security team" button when the hand-off is on.
    return render_message(
        answer,
        kb=kb,
        shareable=True,
        answer_id=answer_id,
        ask_experts=deps.settings.experts_enabled,
    )


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
