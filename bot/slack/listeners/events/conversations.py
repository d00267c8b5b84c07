"""Messages nobody addressed to the bot: follow-ups in its threads, auto-answer channels.

- **Follow-ups.** In a thread where the bot answered (remembered with its topic for
  AWSSEC_FOLLOWUP_MINUTES after its last answer there), a person's further question is
  answered without a mention, read with the thread's topic as context
  (`Matcher.match(..., context_topic=...)`). Only when it is answered with a topic at the
  matcher's own threshold: anything else (chatter, "I don't know") gets no reply.
- **Auto-answer.** In a channel where an admin ran `/awssec autoanswer on`, a top-level
  question is answered in a thread under it, only at AWSSEC_AUTOANSWER_THRESHOLD or more,
  with a note that it was automatic; its thread then takes follow-ups like any other.

Never: bots' messages, edits and other subtypes, the bot's own messages, messages that
mention the bot (the `app_mention` listener answers those), threads the bot did not answer
in, and what is not a question ("thanks", "ok", "+1", an emoji). Exactly one reply under
Slack's retries: the same per-message claim as every other listener, made durably in the ack
like mentions and DMs (bot/slack/reliability/claims.py), so a question acknowledged by a
worker that then dies is answered by another.
"""

from __future__ import annotations

import logging
import re
import weakref
from dataclasses import dataclass
from typing import Any

from slack_bolt import BoltContext, Say
from slack_sdk import WebClient

from bot import guard
from bot.config import ConversationSettings
from bot.matcher.normalize import words
from bot.matcher.smalltalk import detect_small_talk
from bot.rendering.blocks.conversations import with_auto_answer_note
from bot.slack.answering.deps import Deps, deps_of
from bot.slack.answering.replies import (
    MAX_SCANNED_CHARS,
    Reply,
    Where,
    bot_user_id_of,
    build_reply,
    event_where,
    first_delivery,
    is_human_message,
    send,
    strip_bot_mention,
)
from bot.slack.reliability.claims import claimed_in_ack
from bot.storage.conversations import ConversationStore, MemoryConversations, ThreadContext
from bot.storage.errors import StorageError, StorageUnavailable

log = logging.getLogger(__name__)

FOLLOWUP_SURFACE = "followup"
AUTO_SURFACE = "auto"
# Channels and private channels (message.channels, message.groups); DMs have their own
# listener, and group DMs are not subscribed to.
CHANNEL_TYPES = frozenset({"channel", "group"})
# A message is a question when it asks something: a question mark, or a question's first
# word ("how do I rotate keys", "does it work with EKS"). Chatter without either is ignored.
# Wider: more questions typed without "?" answered, more statements read as questions.
QUESTION_WORDS = frozenset(
    """
    what which who whom whose where when why how can could does do did is are was were will
    would should shall may might any anyone anybody has have
    """.split()
)
# Fewer words than this is not a question about anything ("ok?", "+1", "why?").
MIN_QUESTION_WORDS = 2
_ANY_MENTION = re.compile(r"<@[UW][A-Z0-9]{1,30}(?:\|[^<>]{0,80})?>")


@dataclass
class Conversations:
    """Per app: where threads and auto-answer channels are kept, and the two settings."""

    store: ConversationStore
    settings: ConversationSettings


# One per Deps (i.e. per Bolt app), made on first use: the database when the app has a
# store (every worker sees the same threads), else memory.
_by_deps: weakref.WeakKeyDictionary[Deps, Conversations] = weakref.WeakKeyDictionary()


def conversations_of(deps: Deps) -> Conversations:
    found = _by_deps.get(deps)
    if found is None:
        # The settings validated at start-up (`Deps.settings`), never the environment.
        found = configure(deps, deps.settings.conversations)
    return found


def configure(
    deps: Deps, settings: ConversationSettings, store: ConversationStore | None = None
) -> Conversations:
    """Set (or replace) the conversations of an app: tests, and servers on first use."""
    if store is None:
        if deps.store is not None:
            from bot.storage.conversations import SqlConversations

            store = SqlConversations(deps.store)
        else:
            store = MemoryConversations()
    found = Conversations(store, settings)
    _by_deps[deps] = found
    return found


# ---------------------------------------------------------------- what is worth reading


def thread_of(event: dict[str, Any]) -> str | None:
    """The thread a message is a reply in; None for a top-level message (or a parent)."""
    thread_ts = event.get("thread_ts")
    return str(thread_ts) if thread_ts and thread_ts != event.get("ts") else None


def mentions_bot(text: str, bot_user_id: str | None) -> bool:
    """Does the message mention the bot? (Then `app_mention` answers it.) With the bot's
    id unknown yet, any mention counts: better silent here than answering twice."""
    text = text[:MAX_SCANNED_CHARS]
    if bot_user_id:
        return f"<@{bot_user_id}" in text
    return bool(_ANY_MENTION.search(text))


def is_question(text: str) -> bool:
    """A question about something: not "thanks", "ok", "+1", an emoji or a statement."""
    found = words(text)
    if len(found) < MIN_QUESTION_WORDS or detect_small_talk(found):
        return False
    return "?" in text or found[0] in QUESTION_WORDS


def is_channel_message(event: dict[str, Any]) -> bool:
    return event.get("channel_type") in CHANNEL_TYPES and is_human_message(event)


def is_thread_reply(event: dict[str, Any]) -> bool:
    """Bolt matcher: a person's reply in a thread of a channel."""
    return is_channel_message(event) and thread_of(event) is not None


def is_top_level_message(event: dict[str, Any]) -> bool:
    """Bolt matcher: a person's new message in a channel (not in a thread)."""
    return is_channel_message(event) and thread_of(event) is None


def _asks_unaddressed(event: dict[str, Any], body: dict[str, Any], context: Any) -> bool:
    text = event.get("text") or ""
    return is_question(text) and not mentions_bot(text, bot_user_id_of(context, body))


def is_followup_question(event: dict[str, Any], body: dict[str, Any], context: Any) -> bool:
    """Bolt matcher: a question in a channel thread, not addressed to the bot: what the
    follow-up listener may answer. Pure checks only (no database): these messages are
    claimed durably in the ack, so chatter must not cost a claim."""
    return is_thread_reply(event) and _asks_unaddressed(event, body, context)


def is_channel_question(event: dict[str, Any], body: dict[str, Any], context: Any) -> bool:
    """Bolt matcher: a new question in a channel, not addressed to the bot: what auto-answer
    may answer (claimed durably in the ack, like follow-ups)."""
    return is_top_level_message(event) and _asks_unaddressed(event, body, context)


# ---------------------------------------------------------------- remembering threads


def remember_thread(
    deps: Deps, where: Where, thread_ts: str, reply: Reply, logger: logging.Logger
) -> None:
    """The bot answers in `thread_ts`: follow-ups there are about the answer's topic.

    Called by every listener that answers in a channel thread: the mention and auto-answer
    listeners just before posting (a follow-up sent the moment the answer appears, or
    delivered by Slack before the post's response returns, must find the thread; if the
    post then fails, a later follow-up there is answered about the topic meant), the
    follow-up listener after its answer. A storage failure only costs the follow-ups
    (logged)."""
    conversations = conversations_of(deps)
    minutes = conversations.settings.followup_minutes
    answer = reply.answer
    if minutes <= 0 or reply.private or answer is None or not where.channel_id:
        return
    try:
        conversations.store.remember_thread(
            team_id=where.team_id,
            enterprise_id=where.enterprise_id,
            channel_id=where.channel_id,
            thread_ts=thread_ts,
            topic_id=answer.topic_ids[0] if answer.topic_ids else None,
            minutes=minutes,
        )
    except StorageUnavailable:  # the breaker logs an outage once; one line per event floods
        return
    except StorageError as exc:
        logger.warning("could not remember a thread for follow-ups: %s", exc)


def live_thread(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], logger: logging.Logger
) -> ThreadContext | None:
    """The thread this message is in, if the bot answered there and the window is open."""
    conversations = conversations_of(deps)
    thread_ts = thread_of(event)
    if conversations.settings.followup_minutes <= 0 or thread_ts is None:
        return None
    try:
        return conversations.store.thread(
            team_id=body.get("team_id"), channel_id=str(event.get("channel")), thread_ts=thread_ts
        )
    except StorageUnavailable:  # no follow-ups while the database is away (logged once)
        return None
    except StorageError as exc:
        logger.warning("could not look up a thread: %s", exc)
        return None


def _warn_privately(
    client: WebClient, event: dict[str, Any], reply: Reply, logger: logging.Logger
) -> None:
    """A credential in a channel message: tell only its author (nothing in the channel)."""
    send(
        client.chat_postEphemeral,
        logger,
        "warn about a credential",
        channel=event.get("channel"),
        user=event.get("user"),
        thread_ts=thread_of(event),
        **reply.message,
    )


# ---------------------------------------------------------------- listeners


def _first_delivery(deps: Deps, body: dict[str, Any], event: dict[str, Any], context: Any) -> bool:
    """The first delivery of this message? Decided in the ack when it claimed the message
    durably (bot/slack/reliability/claims.py), else claimed here."""
    claimed = claimed_in_ack(context)
    return first_delivery(deps.dedup, body, event) if claimed is None else claimed


def handle_thread_followup(
    event: dict[str, Any],
    body: dict[str, Any],
    say: Say,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """A reply in a channel thread: answered if the bot answered there and it is a question."""
    # The Bolt matcher's own check, again: a replayed claim or a direct call must not answer a
    # bot (another bot's "does it cost much?" would start two bots talking) or an edit.
    if not is_followup_question(event, body, context):
        return
    deps = deps_of(context)
    text = event.get("text") or ""
    bot_user_id = bot_user_id_of(context, body)
    thread = live_thread(deps, body, event, logger)
    if thread is None:
        return  # not a thread the bot answered in (or its window has ended)
    if not _first_delivery(deps, body, event, context):
        logger.debug("duplicate delivery of %s ignored", body.get("event_id"))
        return
    where = event_where(FOLLOWUP_SURFACE, body, event)
    question = strip_bot_mention(text, bot_user_id)
    if guard.find_secrets(question[:MAX_SCANNED_CHARS]):
        _warn_privately(client, event, build_reply(deps, question, where, logger), logger)
        return
    reply = build_reply(
        deps,
        question,
        where,
        logger,
        context_topic=thread.topic_id,
        # Only topics: the matcher's own decision for follow-ups says when; an "I don't
        # know" to a message nobody addressed to the bot is noise.
        min_confidence=0.0,
    )
    if reply.silent:
        logger.debug("follow-up in a thread not answered: not confident enough")
        return
    if send(say, logger, "answer a follow-up", thread_ts=thread.thread_ts, **reply.message):
        remember_thread(deps, where, thread.thread_ts, reply, logger)


def handle_auto_answer(
    event: dict[str, Any],
    body: dict[str, Any],
    say: Say,
    client: WebClient,
    context: BoltContext,
    logger: logging.Logger,
) -> None:
    """A new message in a channel: answered in a thread if the channel has auto-answer on and
    the answer is confident enough; otherwise nothing at all."""
    if not is_channel_question(event, body, context):
        return  # the Bolt matcher's check, again (as for follow-ups)
    deps = deps_of(context)
    text = event.get("text") or ""
    conversations = conversations_of(deps)
    try:
        on = conversations.store.autoanswer(
            team_id=body.get("team_id"), channel_id=str(event.get("channel"))
        )
    except StorageUnavailable:  # silent while the database is away (logged once)
        return
    except StorageError as exc:
        logger.warning("could not read auto-answer for a channel: %s", exc)
        return
    if not on or not _first_delivery(deps, body, event, context):
        return
    where = event_where(AUTO_SURFACE, body, event)
    if guard.find_secrets(text[:MAX_SCANNED_CHARS]):
        _warn_privately(client, event, build_reply(deps, text, where, logger), logger)
        return
    threshold = conversations.settings.autoanswer_threshold
    reply = build_reply(deps, text, where, logger, min_confidence=threshold)
    if reply.silent:
        logger.info("auto-answer: not answered (confidence below %.2f)", threshold)
        return
    thread_ts = str(event.get("ts"))
    message = with_auto_answer_note(reply.message)
    remember_thread(deps, where, thread_ts, reply, logger)  # before posting, as for mentions
    send(say, logger, "auto-answer", thread_ts=thread_ts, **message)
