"""An expert's written answer to a handed-over question (the "Write an answer" modal).

The ack checks the text at once (empty, or holding what looks like a key or password: the
modal stays open with the reason). Then, in one transaction, the hand-off is marked answered
and the text saved as a draft (`awssec learned drafts`; never served as a bot answer); the
text is posted in the asker's thread as the expert's answer, mentioning the asker. When the
database or Slack fails, the expert is told privately in the experts channel, with their
text, so nothing they wrote is lost.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot import guard
from bot.rendering.blocks.ids import EXPERT_ANSWER_BLOCK_ID, MAX_EXPERT_ANSWER_CHARS
from bot.rendering.blocks.teaching import (
    expert_answer_handoff_id,
    expert_answer_text,
    expert_text_reply,
)
from bot.rendering.mrkdwn import escape_mrkdwn, truncate
from bot.slack.answering.deps import deps_of
from bot.slack.answering.replies import send
from bot.slack.listeners.actions.experts import (
    already_answered,
    close_handoff_message,
    deliver_answer,
    experts_settings,
)
from bot.slack.listeners.actions.teach import Unavailable, db_call

EMPTY = "Write an answer first."
TOO_LONG = f"Keep it under {MAX_EXPERT_ANSWER_CHARS} characters."
HOLDS_SECRET = "This looks like it contains a key, token or password: remove it first."
NOT_SAVED = (
    "Sorry, I couldn't save your answer just now (the database did not answer), so it was "
    "not posted. Here it is, to try again in a minute:"
)
NOT_POSTED = (
    "Sorry, I couldn't post your answer in the asker's thread just now. Here it is, to try "
    "again in a minute:"
)


def ack_expert_answer(ack: Ack, view: dict[str, Any]) -> None:
    """Close the modal, or keep it open with what is wrong with the text."""
    text = expert_answer_text(view)
    problem = None
    if not text:
        problem = EMPTY
    elif len(text) > MAX_EXPERT_ANSWER_CHARS:
        problem = TOO_LONG
    elif guard.find_secrets(text):
        problem = HOLDS_SECRET
    if problem is None:
        ack()
    else:
        ack(response_action="errors", errors={EXPERT_ANSWER_BLOCK_ID: problem})


def handle_expert_answer(
    body: dict[str, Any],
    view: dict[str, Any],
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    from bot.storage import teaching

    deps = deps_of(context)
    expert = (body.get("user") or {}).get("id")
    handoff_id = expert_answer_handoff_id(view)
    # The ack refused secrets already; redacting again costs nothing and guards the rest.
    text = guard.redact(expert_answer_text(view))
    settings = experts_settings(deps)
    if deps.store is None or handoff_id is None or not expert or not text:
        return

    def tell_expert(intro: str) -> None:
        if not settings.experts_channel:
            return
        quoted = escape_mrkdwn(truncate(text, 2500))
        send(
            client.chat_postEphemeral,
            logger,
            "tell an expert",
            channel=settings.experts_channel,
            user=expert,
            text=f"{intro}\n```{quoted}```",
        )

    try:
        handoff = db_call(
            deps,
            "saving an expert's answer",
            teaching.claim_handoff_answer,
            deps.store,
            handoff_id,
            expert_id=expert,
            answer_text=text,
        )
    except teaching.AlreadyAnswered as done:
        tell_expert(already_answered(done.handoff) + " Your answer was not posted:")
        return
    except Unavailable:
        tell_expert(NOT_SAVED)
        return
    if handoff is None:
        return
    reply = expert_text_reply(text, asker_id=handoff.asker_id, expert_id=expert)
    if not deliver_answer(deps, client, logger, handoff, reply):
        tell_expert(NOT_POSTED)
        return
    logger.info("hand-off %s answered in writing by %s (saved as a draft)", handoff.id, expert)
    close_handoff_message(deps, client, logger, handoff, expert_id=expert, how="in writing")
