"""An answer as a Slack message: topic, comparison, "did you mean", "I don't know", and the
credential warning shown instead when a question holds a secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering import phrases
from bot.rendering.blocks.catalogue import render_help_blocks
from bot.rendering.blocks.elements import (
    MAX_BUTTON_TEXT,
    MAX_ECHOED_QUESTION,
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_RELATED_BUTTONS,
    SLACK_USER_ID,
    actions_blocks,
    bullet_chunks,
    button_element,
    context_block,
    divider_block,
    fit_blocks,
    header_block,
    section_block,
)
from bot.rendering.blocks.feedback import feedback_blocks
from bot.rendering.blocks.ids import (
    ACTION_ASK_EXPERTS,
    ACTION_OPEN_DOCS,
    ACTION_SHARE,
    ACTION_SHOW_TOPIC,
    SLASH_COMMAND,
    ActionIds,
    encode_answer,
)
from bot.rendering.mrkdwn import escape_mrkdwn, plain_from_slack, truncate
from bot.rendering.text import render_text, stale_label

# "Reviewed Nov 2026": month and year say how fresh the facts are; the day adds nothing.
REVIEWED_FORMAT = "Reviewed %b %Y"


def topic_button(topic: Topic, ids: ActionIds) -> dict[str, Any]:
    return button_element(topic.name, ids(ACTION_SHOW_TOPIC), value=topic.id)


def topic_blocks(topic: Topic, ids: ActionIds, kb: KnowledgeBase | None = None) -> list[dict]:
    """One topic: name, summary, key facts, docs button and related-topic buttons."""
    blocks: list[dict[str, Any]] = [
        header_block(topic.name),
        context_block(_topic_context(topic)),
        section_block(escape_mrkdwn(topic.summary)),
    ]
    for index, chunk in enumerate(bullet_chunks(topic.facts)):
        blocks.append(section_block(f"*Key facts*\n{chunk}" if index == 0 else chunk))
    buttons = [
        button_element("Official docs", ids(ACTION_OPEN_DOCS), url=topic.url, style="primary")
    ]
    for related_id in topic.related[:MAX_RELATED_BUTTONS]:
        related = kb.get(related_id) if kb else None
        if related is not None:
            buttons.append(topic_button(related, ids))
        elif kb is None:
            label = related_id.replace("-", " ")
            buttons.append(button_element(label, ids(ACTION_SHOW_TOPIC), value=related_id))
    blocks += actions_blocks(buttons)
    return blocks


def reviewed_label(reviewed: dt.date | None) -> str | None:
    """ "Reviewed Nov 2026", or None when the topic has no review date."""
    return reviewed.strftime(REVIEWED_FORMAT) if reviewed is not None else None


def _topic_context(topic: Topic) -> str:
    """The line under a topic's name: its category and, when known, when it was reviewed."""
    parts = [f"_{escape_mrkdwn(topic.category)}_"]
    stale = stale_label(topic)
    reviewed = reviewed_label(topic.reviewed)
    if stale:
        parts.append(f":warning: {escape_mrkdwn(stale)}")
    elif reviewed:
        parts.append(escape_mrkdwn(reviewed))
    return " · ".join(parts)


def _did_you_mean(topics: tuple[Topic, ...], ids: ActionIds, prompt: str) -> list[dict]:
    return [section_block(f"{prompt}…?"), *actions_blocks([topic_button(t, ids) for t in topics])]


def _echo(question: str) -> str:
    """The user's question (as Slack sent it: escaped, with <@U…>-style sequences), made
    inert plain text, short, and escaped once for mrkdwn. Show it with `verbatim`."""
    plain = " ".join(plain_from_slack(question).split())
    return escape_mrkdwn(truncate(plain, MAX_ECHOED_QUESTION))


def _asked_by(user_id: str, question: str) -> str:
    return f"<@{user_id}> asked: “{_echo(question)}”"


def render_blocks(
    answer: Answer,
    *,
    asked_by: str | None = None,
    shareable: bool = False,
    kb: KnowledgeBase | None = None,
    answer_id: int | None = None,
    ids: ActionIds | None = None,
    ask_experts: bool = False,
) -> list[dict[str, Any]]:
    """Block Kit for `answer`.

    `asked_by` (a Slack user id from Slack's payload) adds "asked by" with the question;
    `shareable` adds the "Share in channel" button (for ephemeral answers); `kb` resolves
    related topic ids to names; `answer_id` (the recorded answer) adds the feedback buttons.
    `ids` numbers the buttons: pass the one used for other blocks of the same message.
    `ask_experts` adds "Ask the security team" to a recorded miss (the caller passes
    whether the hand-off is on: AWSSEC_EXPERTS_CHANNEL, read by bot/config.py).
    """
    ids = ids or ActionIds()
    blocks: list[dict[str, Any]] = []
    if asked_by and SLACK_USER_ID.match(asked_by):
        blocks.append(context_block(_asked_by(asked_by, answer.question), verbatim=True))

    if answer.kind is AnswerKind.SMALL_TALK:
        if answer.small_talk == "help":
            blocks += render_help_blocks()
        else:
            reply = phrases.small_talk_reply(answer.small_talk or "greeting", SLASH_COMMAND)
            blocks.append(section_block(escape_mrkdwn(reply)))
    elif answer.kind is AnswerKind.EMPTY:
        blocks.append(section_block(escape_mrkdwn(phrases.empty_question_reply())))
    elif answer.kind is AnswerKind.COMPARISON and answer.topics:
        names = " and ".join(t.name for t in answer.topics)
        blocks.append(section_block(f"*Comparing {escape_mrkdwn(names)}*"))
        for index, topic in enumerate(answer.topics):
            if index:
                blocks.append(divider_block())
            blocks += topic_blocks(topic, ids, kb)
    elif answer.topics:
        blocks += topic_blocks(answer.topics[0], ids, kb)
        if answer.suggestions:
            blocks.append(divider_block())
            blocks += _did_you_mean(answer.suggestions, ids, phrases.DID_YOU_MEAN)
    else:
        dont_know = f"{escape_mrkdwn(phrases.DONT_KNOW)}\n>{_echo(answer.question)}"
        blocks.append(section_block(dont_know, verbatim=True))
        if answer.suggestions:
            blocks += _did_you_mean(answer.suggestions, ids, phrases.DID_YOU_MEAN)
        hint = phrases.LIST_HINT.format(list_command=f"{SLASH_COMMAND} list")
        blocks.append(context_block(escape_mrkdwn(hint)))
        if answer_id is not None and ask_experts:
            # The value is the recorded miss: the hand-off reads the (guarded) question
            # and who asked from the database, never from the button.
            ask = button_element(
                "Ask the security team", ids(ACTION_ASK_EXPERTS), value=str(int(answer_id))
            )
            blocks += actions_blocks([ask])

    footer: list[dict[str, Any]] = []
    if shareable and answer.kind in (AnswerKind.TOPIC, AnswerKind.COMPARISON) and answer.topics:
        share = button_element("Share in channel", ACTION_SHARE, value=encode_answer(answer))
        footer = actions_blocks([share])
    if answer_id is not None:
        footer += feedback_blocks(answer_id)
    return fit_blocks(blocks, footer, MAX_MESSAGE_BLOCKS)


def render_fallback_text(
    answer: Answer, *, asked_by: str | None = None, kb: KnowledgeBase | None = None
) -> str:
    """The message's `text`: shown in notifications and by clients without Block Kit."""
    text = escape_mrkdwn(render_text(answer, kb, SLASH_COMMAND))
    if asked_by and SLACK_USER_ID.match(asked_by):
        text = f"{_asked_by(asked_by, answer.question)}\n{text}"
    return truncate(text, MAX_FALLBACK_TEXT)


def render_message(
    answer: Answer,
    *,
    asked_by: str | None = None,
    shareable: bool = False,
    kb: KnowledgeBase | None = None,
    answer_id: int | None = None,
    ask_experts: bool = False,
) -> dict[str, Any]:
    """`text` + `blocks`, ready to pass to chat.postMessage, say() or respond()."""
    blocks = render_blocks(
        answer,
        asked_by=asked_by,
        shareable=shareable,
        kb=kb,
        answer_id=answer_id,
        ask_experts=ask_experts,
    )
    return {"text": render_fallback_text(answer, asked_by=asked_by, kb=kb), "blocks": blocks}


# ---------------------------------------------------------------- credential guard


def secret_warning_blocks(
    kinds: list[str], links: list[tuple[str, str]], ids: ActionIds | None = None
) -> list[dict]:
    """The private warning for a question that contained credentials (never the secret).

    Pass the same `ids` to `render_blocks` for an answer appended to the warning."""
    ids = ids or ActionIds()
    what = _join_kinds(kinds)
    lines = [
        f":warning: *Your message contains what looks like {escape_mrkdwn(what)}.*",
        "Treat it as compromised: rotate or revoke it right away, and delete your message "
        "(I can't delete it for you). I haven't repeated it anywhere and I stored your "
        "question only with it removed.",
    ]
    blocks: list[dict[str, Any]] = [section_block("\n".join(lines))]
    buttons = [
        button_element(truncate(label, MAX_BUTTON_TEXT), ids(ACTION_OPEN_DOCS), url=url)
        for label, url in links
    ]
    if buttons:
        blocks += actions_blocks(buttons)
    return blocks


def secret_warning_text(kinds: list[str], links: list[tuple[str, str]]) -> str:
    what = _join_kinds(kinds)
    docs = " ".join(f"{label}: {url}" for label, url in links)
    text = (
        f"Your message contains what looks like {what}. Rotate or revoke it right away and "
        f"delete your message. {docs}"
    )
    return truncate(escape_mrkdwn(text), MAX_FALLBACK_TEXT)


def _join_kinds(kinds: list[str]) -> str:
    named = [f"{'an' if k[:1].lower() in 'aeiou' else 'a'} {k}" for k in dict.fromkeys(kinds)]
    if len(named) <= 1:
        return named[0] if named else "a credential"
    return ", ".join(named[:-1]) + " and " + named[-1]
