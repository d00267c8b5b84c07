"""Handing a question to the security team (AWSSEC_EXPERTS_CHANNEL; unset: off).

"Ask the security team" on a miss posts the question (guarded: not quoted when it holds
anything key-shaped) in the experts channel with who asked and a link to the original
message; one hand-off per recorded question (a unique key), whatever the clicks and
retries. There, "Answer with topic…" replies in the original thread with that topic's
answer, credited, and teaches the wording (source "expert"); "Write an answer" opens a modal
(bot/slack/listeners/views/expert_answer.py). Experts are whoever is in the experts
channel: an answer is accepted only from a message in that channel. Every reply mentions
the asker, so they are told.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import TeachingSettings
from bot.knowledge.model import KnowledgeBase
from bot.rendering.blocks.ids import HANDOFF_BLOCK_ID, block_reference
from bot.rendering.blocks.teaching import (
    expert_answer_modal,
    expert_topic_reply,
    handoff_answered_message,
    handoff_message,
)
from bot.slack.answering.deps import Deps, deps_of
from bot.slack.answering.replies import clicked_where, send
from bot.slack.listeners.actions.teach import Unavailable, db_call, quotable

NOT_ENABLED = "Handing questions to the security team isn't set up for this bot."
NO_STORE = "Handing questions over needs the awssec database, and it isn't configured."
QUESTION_GONE = "That question is too old to hand over now (old records are removed). Ask again."
CANNOT_SAVE = (
    "Sorry, I couldn't save that just now (the database did not answer). Nothing was sent: "
    "please click again in a minute."
)
CANNOT_POST = (
    "Sorry, I couldn't post in the security team's channel just now (is awssec a member of "
    "it?). Nothing was sent: please click again in a minute."
)
SENT = "Sent to the security team. Their answer will come here, mentioning whoever asked."
NOT_EXPERTS = "Only the security team can answer hand-offs, from their channel."
HANDOFF_GONE = "That hand-off no longer exists."
CANNOT_REPLY = (
    "Sorry, I couldn't post the answer in the asker's thread just now. Nothing was saved: "
    "please try again in a minute."
)
UNKNOWN_TOPIC = "That topic is no longer in my knowledge; choose another."

log = logging.getLogger(__name__)


def experts_settings(deps: Deps) -> TeachingSettings:
    """The hand-off settings, validated at start-up (`Deps.settings`, never the environment)."""
    return deps.settings.teaching


def already_sent(handoff: Any) -> str:
    when = handoff.created_at.strftime("%b %-d %H:%M UTC")
    if handoff.answered_by:
        return f"Already answered by <@{handoff.answered_by}>."
    return f"Already with the security team (handed over {when}); they'll answer in the thread."


def already_answered(handoff: Any) -> str:
    return (
        f"Already answered by <@{handoff.answered_by}>."
        if handoff.answered_by
        else ("Already answered.")
    )


def _ephemeral(respond: Respond, logger: logging.Logger, text: str) -> None:
    send(
        respond,
        logger,
        "hand-off note",
        response_type="ephemeral",
        replace_original=False,
        text=text,
    )


def _permalink(client: WebClient, channel: str, ts: str, logger: logging.Logger) -> str | None:
    try:
        response = client.chat_getPermalink(channel=channel, message_ts=ts)
    except (SlackApiError, OSError) as exc:
        logger.warning("could not get a permalink for a hand-off: %s", type(exc).__name__)
        return None
    link = response.get("permalink") if response is not None else None
    return str(link) if link else None


def handle_ask_experts(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """ "Ask the security team": post the recorded question in the experts channel, once."""
    from bot.storage import teaching

    deps = deps_of(context)
    settings = experts_settings(deps)
    if not settings.experts_enabled or settings.experts_channel is None:
        _ephemeral(respond, logger, NOT_ENABLED)
        return
    if deps.store is None:
        _ephemeral(respond, logger, NO_STORE)
        return
    value = str(action.get("value") or "")
    if not value.isdigit():
        _ephemeral(respond, logger, QUESTION_GONE)
        return
    answer_id = int(value)
    where = clicked_where(body, "handoff")
    container = body.get("container") or {}
    posted = body.get("message") or {}
    private = bool(container.get("is_ephemeral")) or not posted
    channel = None if private else where.channel_id
    # The original thread: the one the bot's reply is in, else a new one under that reply.
    thread_ts = None if private else (posted.get("thread_ts") or posted.get("ts"))
    try:
        miss = db_call(
            deps, "reading a missed question", teaching.miss_for_handoff, deps.store, answer_id
        )
        if miss is None:
            _ephemeral(respond, logger, QUESTION_GONE)
            return
        handoff, created = db_call(
            deps,
            "handing a question over",
            teaching.claim_handoff,
            deps.store,
            handoff_key=teaching.handoff_key_of(answer_id),
            answer_id=answer_id,
            question=miss.question,
            asker_id=miss.user_id or where.user_id,
            clicked_by=where.user_id,
            channel_id=channel,
            thread_ts=thread_ts,
            team_id=where.team_id or miss.team_id,
            enterprise_id=where.enterprise_id,
        )
    except Unavailable:
        _ephemeral(respond, logger, CANNOT_SAVE)
        return
    if not created:
        _ephemeral(respond, logger, already_sent(handoff))
        return
    permalink = _permalink(client, channel, thread_ts, logger) if channel and thread_ts else None
    message = handoff_message(
        deps.service.knowledge,
        handoff_id=handoff.id,
        question=quotable(handoff.question),
        asker_id=handoff.asker_id,
        clicked_by=handoff.clicked_by,
        channel_id=channel,
        permalink=permalink,
        private=private,
        group_id=settings.experts_group,
    )
    experts_ts = _post(
        client, logger, "post a hand-off", channel=settings.experts_channel, **message
    )
    if experts_ts is None:
        # Not posted: forget the hand-off so that clicking again works.
        with contextlib.suppress(Unavailable):
            db_call(deps, "dropping a hand-off", teaching.drop_handoff, deps.store, handoff.id)
        _ephemeral(respond, logger, CANNOT_POST)
        return
    # Posted either way: the answer reaches the thread (its location is in the row).
    with contextlib.suppress(Unavailable):
        db_call(
            deps,
            "saving where a hand-off was posted",
            teaching.set_experts_message,
            deps.store,
            handoff.id,
            experts_channel=settings.experts_channel,
            experts_ts=experts_ts,
            permalink=permalink,
        )
    logger.info("hand-off %s: answer %s posted to the experts channel", handoff.id, answer_id)
    _ephemeral(respond, logger, SENT)


def _post(client: WebClient, logger: logging.Logger, what: str, **kwargs: Any) -> str | None:
    """chat.postMessage; the posted message's ts, or None (logged) when Slack refused."""
    try:
        response = client.chat_postMessage(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        logger.error("Slack API call failed (%s): %s", what, error)
        return None
    except OSError as exc:
        logger.error("Slack API call failed (%s): %s", what, exc)
        return None
    ts = response.get("ts") if response is not None else None
    return str(ts) if ts else "?"


def in_experts_channel(body: dict[str, Any], settings: TeachingSettings) -> bool:
    """Was this click made in the experts channel (the payload's channel, set by Slack)?"""
    where = clicked_where(body, "expert")
    return settings.experts_channel is not None and where.channel_id == settings.experts_channel


def deliver_answer(
    deps: Deps,
    client: WebClient,
    logger: logging.Logger,
    handoff: Any,
    message: dict[str, Any],
) -> bool:
    """Post an expert's answer where the question was asked: its thread, or a DM to the
    asker when it was asked privately. When it cannot be posted, the hand-off is given back
    (unanswered), so the next click can answer it."""
    if handoff.channel_id:
        posted = send(
            client.chat_postMessage,
            logger,
            "post an expert's answer",
            channel=handoff.channel_id,
            thread_ts=handoff.thread_ts,
            **message,
        )
    elif handoff.asker_id:
        posted = send(
            client.chat_postMessage,
            logger,
            "send an expert's answer",
            channel=handoff.asker_id,
            **message,
        )
    else:
        posted = False
    if not posted:
        from bot.storage import teaching

        with contextlib.suppress(Unavailable):
            db_call(
                deps,
                "releasing a hand-off",
                teaching.release_handoff_answer,
                deps.store,
                handoff.id,
            )
    return posted


def close_handoff_message(
    deps: Deps,
    client: WebClient,
    logger: logging.Logger,
    handoff: Any,
    *,
    expert_id: str,
    how: str,
    fallback_ts: str | None = None,
) -> None:
    """Replace the experts' message controls by who answered how."""
    channel = handoff.experts_channel or experts_settings(deps).experts_channel
    ts = handoff.experts_ts if handoff.experts_ts not in (None, "?") else fallback_ts
    if not channel or not ts:
        return
    message = handoff_answered_message(
        question=quotable(handoff.question), asker_id=handoff.asker_id, expert_id=expert_id, how=how
    )
    send(client.chat_update, logger, "close a hand-off", channel=channel, ts=ts, **message)


def handle_expert_topic(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """ "Answer with topic…": reply in the original thread, credited, and learn the wording."""
    from bot.storage import teaching

    deps = deps_of(context)
    settings = experts_settings(deps)
    where = clicked_where(body, "expert")
    if not in_experts_channel(body, settings):
        logger.info("hand-off answer refused outside the experts channel (%s)", where.channel_id)
        _ephemeral(respond, logger, NOT_EXPERTS)
        return
    if deps.store is None:
        _ephemeral(respond, logger, NO_STORE)
        return
    kb: KnowledgeBase = deps.service.knowledge
    reference = block_reference(action.get("block_id"), HANDOFF_BLOCK_ID)
    topic = kb.get(str((action.get("selected_option") or {}).get("value") or ""))
    if reference is None or not reference.isdigit() or not where.user_id:
        _ephemeral(respond, logger, HANDOFF_GONE)
        return
    if topic is None:
        _ephemeral(respond, logger, UNKNOWN_TOPIC)
        return
    try:
        handoff = db_call(
            deps,
            "answering a hand-off",
            teaching.claim_handoff_answer,
            deps.store,
            int(reference),
            expert_id=where.user_id,
            topic_id=topic.id,
        )
    except teaching.AlreadyAnswered as done:
        _ephemeral(respond, logger, already_answered(done.handoff))
        return
    except Unavailable:
        _ephemeral(respond, logger, CANNOT_SAVE)
        return
    if handoff is None:
        _ephemeral(respond, logger, HANDOFF_GONE)
        return
    reply = expert_topic_reply(topic, kb, asker_id=handoff.asker_id, expert_id=where.user_id)
    if not deliver_answer(deps, client, logger, handoff, reply):
        _ephemeral(respond, logger, CANNOT_REPLY)
        return
    logger.info("hand-off %s answered with %s by %s", handoff.id, topic.id, where.user_id)
    close_handoff_message(
        deps,
        client,
        logger,
        handoff,
        expert_id=where.user_id,
        how=f"with {topic.name}",
        fallback_ts=(body.get("container") or {}).get("message_ts"),
    )


def handle_expert_write(
    body: dict[str, Any],
    action: dict[str, Any],
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """ "Write an answer": open the modal (its submission is views/expert_answer.py)."""
    from bot.storage import teaching

    deps = deps_of(context)
    settings = experts_settings(deps)
    if not in_experts_channel(body, settings):
        _ephemeral(respond, logger, NOT_EXPERTS)
        return
    if deps.store is None:
        _ephemeral(respond, logger, NO_STORE)
        return
    value = str(action.get("value") or "")
    trigger = body.get("trigger_id")
    if not value.isdigit() or not trigger:
        _ephemeral(respond, logger, HANDOFF_GONE)
        return
    try:
        handoff = db_call(deps, "reading a hand-off", teaching.get_handoff, deps.store, int(value))
    except Unavailable:
        _ephemeral(respond, logger, CANNOT_SAVE)
        return
    if handoff is None:
        _ephemeral(respond, logger, HANDOFF_GONE)
        return
    if handoff.answered_by:
        _ephemeral(respond, logger, already_answered(handoff))
        return
    view = expert_answer_modal(handoff.id, quotable(handoff.question))
    send(client.views_open, logger, "open the expert answer modal", trigger_id=trigger, view=view)
