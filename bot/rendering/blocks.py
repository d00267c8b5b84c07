"""Render answers as Slack Block Kit: plain dicts, no Slack SDK.

Every mrkdwn string built here is escaped (user text and knowledge text alike), and every
Block Kit limit is enforced by trimming, so Slack never rejects a message we build.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering import phrases
from bot.rendering.mrkdwn import escape_mrkdwn, truncate
from bot.rendering.text import render_text

# Action ids. Slack wants action ids unique within a message, so buttons carry
# "<constant>:<n>"; listeners match on the prefix (see `action_id_pattern`).
ACTION_SHOW_TOPIC = "awssec_show_topic"  # value: a topic id
ACTION_SHARE = "awssec_share"  # value: `encode_answer(answer)`
ACTION_OPEN_DOCS = "awssec_open_docs"  # a URL button; Slack still sends an action to ack

SLASH_COMMAND = "/awssec"

# Block Kit limits (https://api.slack.com/reference/block-kit).
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTIONS_ELEMENTS = 25
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FALLBACK_TEXT = 3000
MAX_ECHOED_QUESTION = 300
MAX_RELATED_BUTTONS = 5

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def action_id_pattern(action: str) -> re.Pattern[str]:
    """Matches the action ids built from `action` (`awssec_share`, `awssec_show_topic:3`)."""
    return re.compile(rf"^{re.escape(action)}(?::\d+)?$")


# ---------------------------------------------------------------- block builders


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER), "emoji": True},
    }


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, MAX_SECTION)}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(mrkdwn, MAX_CONTEXT_TEXT)}],
    }


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


class _Ids:
    """Hands out message-unique action ids."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, action: str) -> str:
        self._n += 1
        return f"{action}:{self._n}"


def _button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    url: str | None = None,
    style: str | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": truncate(text, MAX_BUTTON_TEXT), "emoji": True},
        "action_id": action_id,
    }
    if value is not None:
        button["value"] = value[:MAX_BUTTON_VALUE]
    if url is not None:
        button["url"] = url
    if style is not None:
        button["style"] = style
    return button


def _actions(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Buttons as actions blocks, split so none holds more than Slack allows."""
    return [
        {"type": "actions", "elements": elements[i : i + MAX_ACTIONS_ELEMENTS]}
        for i in range(0, len(elements), MAX_ACTIONS_ELEMENTS)
    ]


def _topic_button(topic: Topic, ids: _Ids) -> dict[str, Any]:
    return _button(topic.name, ids(ACTION_SHOW_TOPIC), value=topic.id)


def _bullets(items: tuple[str, ...] | list[str]) -> list[str]:
    """Bulleted mrkdwn, packed into as few section-sized chunks as possible."""
    chunks: list[str] = []
    current = ""
    for item in items:
        line = truncate(f"• {escape_mrkdwn(item)}", MAX_SECTION)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _fit(blocks: list[dict[str, Any]], footer: list[dict[str, Any]], limit: int) -> list[dict]:
    """`blocks` + `footer`, dropping blocks from the end of `blocks` to stay within `limit`."""
    room = limit - len(footer)
    if len(blocks) > room:
        blocks = [*blocks[: room - 1], _context("_…trimmed to fit in one Slack message._")]
    return blocks + footer


# ---------------------------------------------------------------- answers


def topic_blocks(topic: Topic, ids: _Ids, kb: KnowledgeBase | None = None) -> list[dict]:
    """One topic: name, summary, key facts, docs button and related-topic buttons."""
    blocks: list[dict[str, Any]] = [
        _header(topic.name),
        _context(f"_{escape_mrkdwn(topic.category)}_"),
        _section(escape_mrkdwn(topic.summary)),
    ]
    for index, chunk in enumerate(_bullets(topic.facts)):
        blocks.append(_section(f"*Key facts*\n{chunk}" if index == 0 else chunk))
    buttons = [_button("Official docs", ids(ACTION_OPEN_DOCS), url=topic.url, style="primary")]
    for related_id in topic.related[:MAX_RELATED_BUTTONS]:
        related = kb.get(related_id) if kb else None
        if related is not None:
            buttons.append(_topic_button(related, ids))
        elif kb is None:
            label = related_id.replace("-", " ")
            buttons.append(_button(label, ids(ACTION_SHOW_TOPIC), value=related_id))
    blocks += _actions(buttons)
    return blocks


def _did_you_mean(topics: tuple[Topic, ...], ids: _Ids, prompt: str) -> list[dict]:
    return [_section(f"{prompt}…?"), *_actions([_topic_button(t, ids) for t in topics])]


def _echo(question: str) -> str:
    """The user's question, made inert and short, for quoting back."""
    return escape_mrkdwn(truncate(" ".join(question.split()), MAX_ECHOED_QUESTION))


def render_blocks(
    answer: Answer,
    *,
    asked_by: str | None = None,
    shareable: bool = False,
    kb: KnowledgeBase | None = None,
) -> list[dict[str, Any]]:
    """Block Kit for `answer`.

    `asked_by` (a Slack user id from Slack's payload) adds "asked by" with the question;
    `shareable` adds the "Share in channel" button (for ephemeral answers); `kb` resolves
    related topic ids to names.
    """
    ids = _Ids()
    blocks: list[dict[str, Any]] = []
    if asked_by and _USER_ID.match(asked_by):
        blocks.append(_context(f"<@{asked_by}> asked: “{_echo(answer.question)}”"))

    if answer.kind is AnswerKind.SMALL_TALK:
        if answer.small_talk == "help":
            blocks += render_help_blocks()
        else:
            reply = phrases.small_talk_reply(answer.small_talk or "greeting", SLASH_COMMAND)
            blocks.append(_section(escape_mrkdwn(reply)))
    elif answer.kind is AnswerKind.EMPTY:
        blocks.append(_section(escape_mrkdwn(phrases.empty_question_reply())))
    elif answer.kind is AnswerKind.COMPARISON and answer.topics:
        names = " and ".join(t.name for t in answer.topics)
        blocks.append(_section(f"*Comparing {escape_mrkdwn(names)}*"))
        for index, topic in enumerate(answer.topics):
            if index:
                blocks.append(_divider())
            blocks += topic_blocks(topic, ids, kb)
    elif answer.topics:
        blocks += topic_blocks(answer.topics[0], ids, kb)
        if answer.suggestions:
            blocks.append(_divider())
            blocks += _did_you_mean(answer.suggestions, ids, phrases.DID_YOU_MEAN)
    else:
        blocks.append(_section(f"{escape_mrkdwn(phrases.DONT_KNOW)}\n>{_echo(answer.question)}"))
        if answer.suggestions:
            blocks += _did_you_mean(answer.suggestions, ids, phrases.DID_YOU_MEAN)
        hint = phrases.LIST_HINT.format(list_command=f"{SLASH_COMMAND} list")
        blocks.append(_context(escape_mrkdwn(hint)))

    footer: list[dict[str, Any]] = []
    if shareable and answer.kind in (AnswerKind.TOPIC, AnswerKind.COMPARISON) and answer.topics:
        share = _button("Share in channel", ACTION_SHARE, value=encode_answer(answer))
        footer = _actions([share])
    return _fit(blocks, footer, MAX_MESSAGE_BLOCKS)


def render_fallback_text(
    answer: Answer, *, asked_by: str | None = None, kb: KnowledgeBase | None = None
) -> str:
    """The message's `text`: shown in notifications and by clients without Block Kit."""
    text = escape_mrkdwn(render_text(answer, kb, SLASH_COMMAND))
    if asked_by and _USER_ID.match(asked_by):
        text = f"<@{asked_by}> asked: “{_echo(answer.question)}”\n{text}"
    return truncate(text, MAX_FALLBACK_TEXT)


def render_message(
    answer: Answer,
    *,
    asked_by: str | None = None,
    shareable: bool = False,
    kb: KnowledgeBase | None = None,
) -> dict[str, Any]:
    """`text` + `blocks`, ready to pass to chat.postMessage, say() or respond()."""
    return {
        "text": render_fallback_text(answer, asked_by=asked_by, kb=kb),
        "blocks": render_blocks(answer, asked_by=asked_by, shareable=shareable, kb=kb),
    }


# ---------------------------------------------------------------- help, list, home


def render_help_blocks() -> list[dict[str, Any]]:
    return [
        _section(escape_mrkdwn(phrases.help_text(SLASH_COMMAND))),
        _context("You can also mention me in a channel (`@awssec …`) or send me a direct message."),
    ]


def help_message() -> dict[str, Any]:
    return {"text": escape_mrkdwn(phrases.help_text(SLASH_COMMAND)), "blocks": render_help_blocks()}


def _category_sections(kb: KnowledgeBase) -> list[dict[str, Any]]:
    sections = []
    for category, topics in kb.by_category().items():
        names = " · ".join(escape_mrkdwn(t.name) for t in topics)
        sections.append(_section(f"*{escape_mrkdwn(category)}* ({len(topics)})\n{names}"))
    return sections


def render_list_blocks(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """`/awssec list`: every topic, grouped by category."""
    blocks = [_header(f"Topics I know ({len(kb)})"), *_category_sections(kb)]
    hint = f"Ask `{SLASH_COMMAND} <question or topic name>` to see one."
    return _fit(blocks, [_context(hint)], MAX_MESSAGE_BLOCKS)


def list_message(kb: KnowledgeBase) -> dict[str, Any]:
    text = f"{len(kb)} topics: " + ", ".join(t.name for t in kb.topics)
    return {
        "text": truncate(escape_mrkdwn(text), MAX_FALLBACK_TEXT),
        "blocks": render_list_blocks(kb),
    }


def render_catalogue_blocks(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """The App Home tab: how to use the bot, then every topic by category."""
    examples = "\n".join(f"• `@awssec {escape_mrkdwn(q)}`" for q in phrases.EXAMPLE_QUESTIONS)
    blocks: list[dict[str, Any]] = [
        _header("awssec: AWS security answers"),
        _section(
            "Ask me about AWS security and compliance services in plain words.\n"
            "• *In a channel:* mention me, I reply in a thread.\n"
            "• *In a DM:* just ask (the *Messages* tab).\n"
            f"• *Anywhere:* `{SLASH_COMMAND} <question>` answers privately, with a button to "
            f"share it. `{SLASH_COMMAND} list` lists topics, `{SLASH_COMMAND} help` shows help."
        ),
        _section(f"*Try:*\n{examples}"),
        _divider(),
        _header(f"Topics ({len(kb)})"),
        *_category_sections(kb),
    ]
    footer = [_context(f"Knowledge version `{escape_mrkdwn(kb.version or 'unknown')}`")]
    return _fit(blocks, footer, MAX_VIEW_BLOCKS)


def render_home_view(kb: KnowledgeBase) -> dict[str, Any]:
    return {"type": "home", "blocks": render_catalogue_blocks(kb)}


# ---------------------------------------------------------------- share button value


def encode_answer(answer: Answer) -> str:
    """A compact button value from which `decode_answer` rebuilds the same answer."""
    data: dict[str, Any] = {
        "k": str(answer.kind),
        "t": answer.topic_ids,
        "s": answer.suggestion_ids,
        "q": " ".join(answer.question.split()),
    }
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # Shorten the question until the value fits (JSON escaping can make it grow).
    while len(value) > MAX_BUTTON_VALUE and data["q"]:
        data["q"] = data["q"][: -max(1, len(value) - MAX_BUTTON_VALUE)]
        value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return value


def decode_answer(value: str, kb: KnowledgeBase) -> Answer | None:
    """The answer `encode_answer` stored, with topics from `kb`; None if unusable."""
    try:
        data = json.loads(value)
        kind = AnswerKind(data["k"])
        topic_ids = [str(i) for i in data.get("t", [])]
        suggestion_ids = [str(i) for i in data.get("s", [])]
        question = str(data.get("q", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    topics = tuple(t for t in map(kb.get, topic_ids) if t is not None)
    suggestions = tuple(t for t in map(kb.get, suggestion_ids) if t is not None)
    if not topics:
        return None
    return Answer(question=question, kind=kind, topics=topics, suggestions=suggestions)
