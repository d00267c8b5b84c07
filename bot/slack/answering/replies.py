"""Helpers shared by listeners: mention stripping, bot checks, safe posting, answering
(with recording and the credential guard)."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import guard
from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.answers import (
    render_blocks,
    render_message,
    secret_warning_blocks,
    secret_warning_text,
)
from bot.rendering.blocks.catalogue import help_message, list_message
from bot.rendering.blocks.elements import MAX_MESSAGE_BLOCKS
from bot.rendering.blocks.ids import ActionIds
from bot.slack.answering.deps import Deps
from bot.slack.reliability.claims import claimed_in_ack
from bot.slack.reliability.dedup import Deduplicator, event_key, message_key
from bot.storage.breaker import describe_error as describe_error
from bot.storage.errors import StorageError, StorageUnavailable

# Where to send someone who pasted a credential: a topic of the knowledge when it has one
# (first id found wins), else a fixed page.
_AWS_KEYS_TOPICS = ("iam", "secrets-manager")
_AWS_KEYS_DOCS = (
    "Rotating AWS access keys",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html"
    "#rotating_access_keys_console",
)
_PRIVATE_KEY_TOPICS = ("acm", "kms")
_PRIVATE_KEY_DOCS = (
    "AWS Certificate Manager",
    "https://docs.aws.amazon.com/acm/latest/userguide/acm-overview.html",
)
_SLACK_TOKEN_DOCS = ("Rotating Slack tokens", "https://api.slack.com/authentication/rotation")
_SLACK_WEBHOOK_DOCS = ("Slack incoming webhooks", "https://api.slack.com/messaging/webhooks")
_GUARD_LINKS: dict[str, tuple[tuple[str, ...], tuple[str, str]]] = {
    guard.ACCESS_KEY_ID: (_AWS_KEYS_TOPICS, _AWS_KEYS_DOCS),
    guard.SECRET_ACCESS_KEY: (_AWS_KEYS_TOPICS, _AWS_KEYS_DOCS),
    guard.SESSION_TOKEN: (_AWS_KEYS_TOPICS, _AWS_KEYS_DOCS),
    guard.PRIVATE_KEY: (_PRIVATE_KEY_TOPICS, _PRIVATE_KEY_DOCS),
    guard.SLACK_TOKEN: ((), _SLACK_TOKEN_DOCS),
    guard.SLACK_WEBHOOK: ((), _SLACK_WEBHOOK_DOCS),
}

# Shown where a reply would quote a question holding something shaped like a key or token.
QUESTION_NOT_QUOTED = "(your question, not repeated: it contains something shaped like a key)"

HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
LIST_WORDS = frozenset({"list", "topics", "ls"})

# Answers worth recording (and rating): small talk, help and empty questions are not.
_RECORDED_KINDS = (AnswerKind.TOPIC, AnswerKind.COMPARISON, AnswerKind.NO_MATCH)

# Longer questions are cut to this before any regex or matching runs: no real question is
# this long, and Slack allows 40,000 characters of anything in a message.
MAX_QUESTION_CHARS = 4000
# Slack caps a message at 40,000 characters; mention stripping and the credential guard see
# all of it (a secret straddling the 4,000-character cut must still be found), bounded here
# so that a forged oversized event cannot make them slow.
MAX_SCANNED_CHARS = 50_000
# Bounded quantifiers: "<@UBOT|" repeated 6,000 times must not cost quadratic time.
_MENTION_LABEL = r"(?:\|[^<>]{0,80})?>"
_LEADING_MENTION = re.compile(r"^\s*<@[UW][A-Z0-9]{1,30}" + _MENTION_LABEL)

# Message subtypes that are still a person asking something: a message with a file attached,
# and a thread reply also sent to the channel. Every other subtype (bot_message,
# message_changed, message_deleted, channel_join, …) is ignored.
HUMAN_SUBTYPES = frozenset({"file_share", "thread_broadcast"})


def strip_bot_mention(text: str, bot_user_id: str | None) -> str:
    """`text` without the bot's own mention(s), so they do not influence matching."""
    text = text[:MAX_SCANNED_CHARS]
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}{_MENTION_LABEL}", " ", text)
    else:
        text = _LEADING_MENTION.sub(" ", text)
    return " ".join(text.split())


def bot_user_id_of(context: Any, body: dict[str, Any]) -> str | None:
    """The bot's user id: from auth.test once known, else from the event's authorizations."""
    if context.bot_user_id:
        return context.bot_user_id
    for authorization in body.get("authorizations") or []:
        if isinstance(authorization, dict) and authorization.get("is_bot"):
            user_id = authorization.get("user_id")
            return str(user_id) if user_id else None
    return None


def is_human_message(event: dict[str, Any]) -> bool:
    """A new message from a person: no bot, no edit/delete/join (those carry a subtype)."""
    subtype = event.get("subtype")
    return not (
        event.get("bot_id")
        or event.get("bot_profile")
        or (subtype and subtype not in HUMAN_SUBTYPES)
        or event.get("edited")
        or event.get("hidden")
    )


def first_delivery(dedup: Deduplicator, body: dict[str, Any], event: dict[str, Any]) -> bool:
    """True only for the first delivery of this message (retries and double events lose).

    One key per message: its channel and ts, which a Slack retry (same event id) and the
    `message.im` twin of a DM mention (another event id) share. Claiming one key is a single
    atomic insert, so two racing deliveries can never both lose (as they could when each
    won one of two keys). The event id is the key only for events without channel and ts.
    """
    if event.get("channel") and event.get("ts"):
        key = message_key(str(event["channel"]), str(event["ts"]))
    elif body.get("event_id"):
        key = event_key(str(body["event_id"]))
    else:
        return True
    return dedup.claim(key)


def new_question(
    deps: Deps, body: dict[str, Any], event: dict[str, Any], context: Any, logger: logging.Logger
) -> str | None:
    """The question of a message event, without the bot's mention; None for a re-delivery."""
    # Mentions and DMs are claimed in their ack (durably, bot/slack/reliability/claims.py).
    claimed = claimed_in_ack(context)
    if not (first_delivery(deps.dedup, body, event) if claimed is None else claimed):
        logger.debug("duplicate delivery of %s ignored", body.get("event_id"))
        return None
    return strip_bot_mention(event.get("text") or "", bot_user_id_of(context, body))


def send(post: Callable[..., Any], logger: logging.Logger, what: str, **kwargs: Any) -> bool:
    """Call a Slack posting function; log a final failure (after retries) and carry on."""
    try:
        post(**kwargs)
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else None
        status = exc.response.status_code if exc.response is not None else "?"
        logger.error("Slack API call failed (%s): HTTP %s %s", what, status, error)
        return False
    except OSError as exc:  # URLError, timeouts, refused connections
        logger.error("Slack API call failed (%s): %s", what, exc)
        return False
    return True


@dataclass(frozen=True)
class Where:
    """Who asked where, from Slack's payload (ids only)."""

    surface: str  # mention, dm, slash, topic_button, share
    team_id: str | None
    user_id: str | None
    channel_id: str | None
    # The Enterprise Grid organisation (None outside Grid): with team_id, which install.
    enterprise_id: str | None = None


def enterprise_of(body: dict[str, Any]) -> str | None:
    """The Enterprise Grid id of a payload (events, commands, interactivity), else None.

    Where Slack puts it: `enterprise.id` (interactivity), `enterprise_id` (events, slash
    commands), `team.enterprise_id` (views), the event's first authorization.
    """
    enterprise, team = body.get("enterprise"), body.get("team")
    authorizations = body.get("authorizations")
    first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
    candidates = (
        enterprise.get("id") if isinstance(enterprise, dict) else None,
        body.get("enterprise_id"),
        team.get("enterprise_id") if isinstance(team, dict) else None,
        first.get("enterprise_id") if isinstance(first, dict) else None,
    )
    return next((value for value in candidates if isinstance(value, str) and value), None)


def event_where(surface: str, body: dict[str, Any], event: dict[str, Any]) -> Where:
    """Who asked where, for a message or mention event (team and enterprise included)."""
    return Where(
        surface,
        body.get("team_id"),
        event.get("user"),
        event.get("channel"),
        enterprise_of(body),
    )


def clicked_where(body: dict[str, Any], surface: str) -> Where:
    """Who clicked a button, and in which channel, from an interactivity payload."""
    user = body.get("user") or {}
    channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get(
        "id"
    )
    team = (body.get("team") or {}).get("id") or user.get("team_id")
    return Where(surface, team, user.get("id"), channel, enterprise_of(body))


def record_answer(
    deps: Deps, answer: Answer, where: Where, logger: logging.Logger, question: str | None = None
) -> int | None:
    """Record `answer` (a miss when it has no topics); its id, or None when not recorded.

    Storage trouble is logged and swallowed: the reply is sent whatever the database does.
    While the database is unavailable the store's breaker refuses at once (logged once per
    outage), so a failing or hung database does not slow every reply down.
    """
    if deps.store is None or answer.kind not in _RECORDED_KINDS:
        return None
    try:
        return deps.store.record_answer(
            question=answer.question if question is None else question,
            topic_ids=answer.topic_ids,
            suggestion_ids=answer.suggestion_ids,
            confidence=answer.confidence,
            team_id=where.team_id,
            user_id=where.user_id,
            channel_id=where.channel_id,
            surface=where.surface,
            enterprise_id=where.enterprise_id,
        )
    except StorageUnavailable:  # never lose the reply because of storage; logged once
        return None
    except StorageError as exc:  # this record was refused (logged once by the store)
        logger.debug("answer not recorded (%s): %s", where.surface, exc)
        return None
    except Exception as exc:  # not the store's own error: still the reply goes out
        logger.error("could not record an answer (%s): %s", where.surface, describe_error(exc))
        return None


@dataclass(frozen=True)
class Reply:
    message: dict[str, Any]  # text + blocks
    # True when the question held a credential: show it only to the asker (ephemeral).
    private: bool = False
    # What the matcher answered (None for help, lists and credential warnings).
    answer: Answer | None = None
    # True when nothing is to be posted: below `min_confidence` (nothing recorded either).
    silent: bool = False


def build_reply(
    deps: Deps,
    question: str,
    where: Where,
    logger: logging.Logger,
    *,
    shareable: bool = False,
    context_topic: str | None = None,
    min_confidence: float | None = None,
) -> Reply:
    """Answer `question`, record it, and render it with feedback buttons.

    A question holding a credential gets a private warning instead (and the answer to the
    rest of the question); the credential is never echoed, stored or logged.
    `context_topic`: the topic of the conversation (a thread's follow-ups). With
    `min_confidence` (messages nobody addressed to the bot: follow-ups, auto-answer) only a
    topic answered at that confidence or more is posted; anything else is `silent`.
    """
    # The guard reads the whole message before anything is cut.
    findings = guard.find_secrets(question[:MAX_SCANNED_CHARS])
    if findings:
        return _guarded_reply(deps, question[:MAX_SCANNED_CHARS], findings, where, logger)
    question = question[:MAX_QUESTION_CHARS]
    kb = deps.service.knowledge
    word = question.strip().lower()
    # The words `/awssec` understands work in a mention or a DM too ("@awssec list").
    if word in LIST_WORDS:
        return Reply(list_message(kb))
    if word in HELP_WORDS:
        return Reply(help_message())
    # team_id: the learned questions taught to that workspace (and to every one) apply.
    answer = deps.service.answer(question, team_id=where.team_id, context_topic=context_topic)
    if min_confidence is not None and (not answer.answered or answer.confidence < min_confidence):
        return Reply({}, answer=answer, silent=True)
    answer_id = record_answer(deps, answer, where, logger)
    if guard.looks_secret_shaped(question):
        # Replies quote the question ("I don't know" and the shared "asked: …"): never a
        # key-like run, even one the guard cannot name.
        answer = dataclasses.replace(answer, question=QUESTION_NOT_QUOTED)
    message = render_message(
        answer,
        kb=kb,
        shareable=shareable,
        answer_id=answer_id,
        ask_experts=deps.settings.experts_enabled,
    )
    return Reply(message, answer=answer)


def _guarded_reply(
    deps: Deps,
    question: str,
    findings: list[guard.SecretFinding],
    where: Where,
    logger: logging.Logger,
) -> Reply:
    kinds = [f.kind for f in findings]
    kb = deps.service.knowledge
    links = guard_links(kinds, kb)
    # Match on the question with the secrets cut out ("[REDACTED AWS access key id]" would
    # itself look like a question about access keys); store the redacted wording.
    stripped, pos = [], 0
    for finding in findings:
        stripped.append(question[pos : finding.start])
        pos = finding.end
    stripped.append(question[pos:])
    answer = deps.service.answer(
        " ".join(" ".join(stripped).split())[:MAX_QUESTION_CHARS], team_id=where.team_id
    )
    redacted = guard.redact(question)[:MAX_QUESTION_CHARS]
    record_answer(deps, answer, where, logger, question=redacted)
    logger.warning(
        "credential guard: %s in a question (%s); warned the asker privately, nothing echoed",
        ", ".join(dict.fromkeys(kinds)),
        where.surface,
    )
    # One numbering for the whole message: Slack rejects repeated action ids.
    ids = ActionIds()
    blocks = secret_warning_blocks(kinds, links, ids)
    if answer.answered:
        room = MAX_MESSAGE_BLOCKS - len(blocks) - 1
        answer_blocks = render_blocks(answer, kb=kb, ids=ids)
        if len(answer_blocks) <= room:
            blocks += [{"type": "divider"}, *answer_blocks]
    return Reply({"text": secret_warning_text(kinds, links), "blocks": blocks}, private=True)


def guard_links(kinds: list[str], kb: KnowledgeBase) -> list[tuple[str, str]]:
    """(label, url) of the docs on rotating each kind of credential, without repeats."""
    links: dict[str, str] = {}
    for kind in kinds:
        topic_ids, fallback = _GUARD_LINKS.get(kind, ((), _AWS_KEYS_DOCS))
        topic = next((t for t in map(kb.get, topic_ids) if t is not None), None)
        label, url = (topic.name, topic.url) if topic is not None else fallback
        links.setdefault(url, label)
    return [(label, url) for url, label in links.items()]
