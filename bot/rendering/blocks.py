"""Render answers as Slack Block Kit: plain dicts, no Slack SDK.

Every mrkdwn string built here is escaped (user text and knowledge text alike), and every
Block Kit limit is enforced by trimming, so Slack never rejects a message we build.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering import phrases
from bot.rendering.mrkdwn import escape_mrkdwn, plain_from_slack, truncate
from bot.rendering.text import render_text

# Action ids. Slack wants action ids unique within a message, so buttons carry
# "<constant>:<n>"; listeners match on the prefix (see `action_id_pattern`).
ACTION_SHOW_TOPIC = "awssec_show_topic"  # value: a topic id
ACTION_SHARE = "awssec_share"  # value: `encode_answer(answer)`
ACTION_OPEN_DOCS = "awssec_open_docs"  # a URL button; Slack still sends an action to ack
ACTION_FEEDBACK_HELPFUL = "awssec_feedback_helpful"  # value: the recorded answer's id
ACTION_FEEDBACK_NOT_HELPFUL = "awssec_feedback_not_helpful"  # value: the recorded answer's id

# Block id prefixes of the feedback area, so a vote can swap it in place and keep the rest.
# Each rendering adds a fresh suffix ("awssec_feedback:3f9c…"): Slack wants a new block_id
# for every iteration of a message, and may keep showing the old block when an update
# reuses one. Match blocks with `is_feedback_block` / `is_feedback_note`, never by equality.
FEEDBACK_BLOCK_ID = "awssec_feedback"
FEEDBACK_NOTE_BLOCK_ID = "awssec_feedback_note"
# Hex digits of the fresh suffix: 48 random bits, so two renderings of one message never
# collide in practice, while the id stays far below Slack's 255-character limit.
_BLOCK_ID_SUFFIX_CHARS = 12
# The "Not helpful" comment modal.
VIEW_FEEDBACK_COMMENT = "awssec_feedback_comment"
COMMENT_BLOCK_ID = "awssec_comment"
COMMENT_ACTION_ID = "comment"
MAX_COMMENT_CHARS = 2000

SLASH_COMMAND = "/awssec"

# Block Kit limits (https://api.slack.com/reference/block-kit).
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT_TEXT = 2000
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000  # Slack's limit; counted here in UTF-8 bytes, the stricter reading
MAX_ACTIONS_ELEMENTS = 25
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_FALLBACK_TEXT = 3000
MAX_ECHOED_QUESTION = 300
MAX_RELATED_BUTTONS = 5
# "Reviewed Nov 2026": month and year say how fresh the facts are; the day adds nothing.
REVIEWED_FORMAT = "Reviewed %b %Y"

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


def _mrkdwn(text: str, limit: int, verbatim: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "mrkdwn", "text": truncate(text, limit)}
    if verbatim:
        # Text quoting a user: Slack must not auto-link URLs or channel names, or turn a
        # plain "@here" into a ping. Explicit <@U…> mentions we write still work.
        obj["verbatim"] = True
    return obj


def _section(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(mrkdwn, MAX_SECTION, verbatim)}


def _context(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(mrkdwn, MAX_CONTEXT_TEXT, verbatim)]}


def _divider() -> dict[str, Any]:
    return {"type": "divider"}


def _fresh_block_id(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex[:_BLOCK_ID_SUFFIX_CHARS]}"


def _block_id_prefix(block: dict[str, Any]) -> str:
    return str(block.get("block_id") or "").partition(":")[0]


def is_feedback_block(block: dict[str, Any]) -> bool:
    """The 👍/👎 (or "Change to …") actions block of an answer, whichever rendering it is."""
    return _block_id_prefix(block) == FEEDBACK_BLOCK_ID


def is_feedback_note(block: dict[str, Any]) -> bool:
    """The "Thanks! Marked …" context block that `feedback_thanks_blocks` puts in."""
    return _block_id_prefix(block) == FEEDBACK_NOTE_BLOCK_ID


def utf8_prefix(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` whose UTF-8 encoding fits in `max_bytes` (whole
    characters only)."""
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def _utf8_len(text: str) -> int:
    return len(text.encode())


class ActionIds:
    """Hands out message-unique action ids; share one across everything in a message."""

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
        button["value"] = utf8_prefix(value, MAX_BUTTON_VALUE)
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


def _topic_button(topic: Topic, ids: ActionIds) -> dict[str, Any]:
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


def topic_blocks(topic: Topic, ids: ActionIds, kb: KnowledgeBase | None = None) -> list[dict]:
    """One topic: name, summary, key facts, docs button and related-topic buttons."""
    blocks: list[dict[str, Any]] = [
        _header(topic.name),
        _context(_topic_context(topic)),
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


def reviewed_label(reviewed: dt.date | None) -> str | None:
    """ "Reviewed Nov 2026", or None when the topic has no review date."""
    return reviewed.strftime(REVIEWED_FORMAT) if reviewed is not None else None


def _topic_context(topic: Topic) -> str:
    """The line under a topic's name: its category and, when known, when it was reviewed."""
    parts = [f"_{escape_mrkdwn(topic.category)}_"]
    reviewed = reviewed_label(topic.reviewed)
    if reviewed:
        parts.append(escape_mrkdwn(reviewed))
    return " · ".join(parts)


def _did_you_mean(topics: tuple[Topic, ...], ids: ActionIds, prompt: str) -> list[dict]:
    return [_section(f"{prompt}…?"), *_actions([_topic_button(t, ids) for t in topics])]


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
) -> list[dict[str, Any]]:
    """Block Kit for `answer`.

    `asked_by` (a Slack user id from Slack's payload) adds "asked by" with the question;
    `shareable` adds the "Share in channel" button (for ephemeral answers); `kb` resolves
    related topic ids to names; `answer_id` (the recorded answer) adds the feedback buttons.
    `ids` numbers the buttons: pass the one used for other blocks of the same message.
    """
    ids = ids or ActionIds()
    blocks: list[dict[str, Any]] = []
    if asked_by and _USER_ID.match(asked_by):
        blocks.append(_context(_asked_by(asked_by, answer.question), verbatim=True))

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
        dont_know = f"{escape_mrkdwn(phrases.DONT_KNOW)}\n>{_echo(answer.question)}"
        blocks.append(_section(dont_know, verbatim=True))
        if answer.suggestions:
            blocks += _did_you_mean(answer.suggestions, ids, phrases.DID_YOU_MEAN)
        hint = phrases.LIST_HINT.format(list_command=f"{SLASH_COMMAND} list")
        blocks.append(_context(escape_mrkdwn(hint)))

    footer: list[dict[str, Any]] = []
    if shareable and answer.kind in (AnswerKind.TOPIC, AnswerKind.COMPARISON) and answer.topics:
        share = _button("Share in channel", ACTION_SHARE, value=encode_answer(answer))
        footer = _actions([share])
    if answer_id is not None:
        footer += feedback_blocks(answer_id)
    return _fit(blocks, footer, MAX_MESSAGE_BLOCKS)


def render_fallback_text(
    answer: Answer, *, asked_by: str | None = None, kb: KnowledgeBase | None = None
) -> str:
    """The message's `text`: shown in notifications and by clients without Block Kit."""
    text = escape_mrkdwn(render_text(answer, kb, SLASH_COMMAND))
    if asked_by and _USER_ID.match(asked_by):
        text = f"{_asked_by(asked_by, answer.question)}\n{text}"
    return truncate(text, MAX_FALLBACK_TEXT)


def render_message(
    answer: Answer,
    *,
    asked_by: str | None = None,
    shareable: bool = False,
    kb: KnowledgeBase | None = None,
    answer_id: int | None = None,
) -> dict[str, Any]:
    """`text` + `blocks`, ready to pass to chat.postMessage, say() or respond()."""
    blocks = render_blocks(
        answer, asked_by=asked_by, shareable=shareable, kb=kb, answer_id=answer_id
    )
    return {"text": render_fallback_text(answer, asked_by=asked_by, kb=kb), "blocks": blocks}


# ---------------------------------------------------------------- feedback


def feedback_blocks(answer_id: int) -> list[dict[str, Any]]:
    """The "Helpful" / "Not helpful" buttons under an answer (value: the answer id)."""
    value = str(int(answer_id))
    return [
        {
            "type": "actions",
            "block_id": _fresh_block_id(FEEDBACK_BLOCK_ID),
            "elements": [
                _button("👍 Helpful", ACTION_FEEDBACK_HELPFUL, value=value),
                _button("👎 Not helpful", ACTION_FEEDBACK_NOT_HELPFUL, value=value),
            ],
        }
    ]


def feedback_thanks_blocks(answer_id: int, user_id: str | None, helpful: bool) -> list[dict]:
    """What replaces the feedback buttons after a vote: thanks, and a button to change it."""
    who = f", <@{user_id}>" if user_id and _USER_ID.match(user_id) else ""
    verdict = "helpful" if helpful else "not helpful"
    other, action = (
        ("not helpful", ACTION_FEEDBACK_NOT_HELPFUL)
        if helpful
        else ("helpful", ACTION_FEEDBACK_HELPFUL)
    )
    note = _context(f"Thanks{who}! Marked {verdict}.")
    note["block_id"] = _fresh_block_id(FEEDBACK_NOTE_BLOCK_ID)
    change = {
        "type": "actions",
        "block_id": _fresh_block_id(FEEDBACK_BLOCK_ID),
        "elements": [_button(f"Change to {other}", action, value=str(int(answer_id)))],
    }
    return [note, change]


def replace_feedback(
    blocks: list[dict[str, Any]], replacement: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`blocks` with the feedback area (buttons or thanks) swapped for `replacement`.

    The other blocks are kept as they are; with no feedback area, `replacement` is appended.
    """
    out: list[dict[str, Any]] = []
    placed = False
    for block in blocks:
        if is_feedback_block(block) or is_feedback_note(block):
            if not placed:
                out += replacement
                placed = True
            continue
        out.append(block)
    if not placed:
        out = _fit(out, replacement, MAX_MESSAGE_BLOCKS)
    return out


def comment_modal(answer_id: int) -> dict[str, Any]:
    """The optional comment asked for after "Not helpful" (answer id in private_metadata)."""
    return {
        "type": "modal",
        "callback_id": VIEW_FEEDBACK_COMMENT,
        "private_metadata": json.dumps({"answer_id": int(answer_id)}),
        "title": {"type": "plain_text", "text": "Not helpful"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            _section("Thanks for telling me. What were you looking for? (optional)"),
            {
                "type": "input",
                "block_id": COMMENT_BLOCK_ID,
                "optional": True,
                "label": {"type": "plain_text", "text": "Comment"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_ACTION_ID,
                    "multiline": True,
                    "max_length": MAX_COMMENT_CHARS,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "e.g. I wanted to know how to rotate KMS keys",
                    },
                },
            },
            _context("Please don't paste credentials or other secrets here."),
        ],
    }


def feedback_notice_modal(text: str) -> dict[str, Any]:
    """What the comment modal turns into when the vote behind it could not be recorded."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not helpful"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [_section(escape_mrkdwn(text))],
    }


def comment_answer_id(view: dict[str, Any]) -> int | None:
    """The answer id `comment_modal` stored in the view, or None if unusable."""
    try:
        answer_id = json.loads(view.get("private_metadata") or "")["answer_id"]
        return int(answer_id)
    except (ValueError, KeyError, TypeError):
        return None


def comment_text(view: dict[str, Any]) -> str:
    """The submitted comment ("" when left empty)."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(COMMENT_BLOCK_ID) or {}).get(COMMENT_ACTION_ID) or {}
    return str(field.get("value") or "").strip()


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
    blocks: list[dict[str, Any]] = [_section("\n".join(lines))]
    buttons = [
        _button(truncate(label, MAX_BUTTON_TEXT), ids(ACTION_OPEN_DOCS), url=url)
        for label, url in links
    ]
    if buttons:
        blocks += _actions(buttons)
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


# ---------------------------------------------------------------- reports


def report_message(summary: str) -> dict[str, Any]:
    """`/awssec report`: the plain-text summary, shown verbatim (no mrkdwn)."""
    chunks, current = [], ""
    for line in summary.splitlines():
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION and current:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    blocks = [
        {"type": "section", "text": {"type": "plain_text", "text": truncate(c, MAX_SECTION)}}
        for c in chunks
    ]
    return {
        "text": truncate(escape_mrkdwn(summary), MAX_FALLBACK_TEXT),
        "blocks": _fit(blocks, [], MAX_MESSAGE_BLOCKS),
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
    hint = escape_mrkdwn(f"Ask `{SLASH_COMMAND} <question or topic name>` to see one.")
    return _fit(blocks, [_context(hint)], MAX_MESSAGE_BLOCKS)


def list_message(kb: KnowledgeBase) -> dict[str, Any]:
    text = f"{len(kb)} topics: " + ", ".join(t.name for t in kb.topics)
    return {
        "text": truncate(escape_mrkdwn(text), MAX_FALLBACK_TEXT),
        "blocks": render_list_blocks(kb),
    }


_HOME_USAGE = (
    "Ask me about AWS security and compliance services in plain words.\n"
    "• *In a channel:* mention me, I reply in a thread.\n"
    "• *In a DM:* just ask (the *Messages* tab).\n"
    f"• *Anywhere:* `{SLASH_COMMAND} <question>` answers privately, with a button to "
    f"share it. `{SLASH_COMMAND} list` lists topics, `{SLASH_COMMAND} help` shows help."
)


def render_catalogue_blocks(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """The App Home tab: how to use the bot, then every topic by category."""
    examples = "\n".join(f"• `@awssec {escape_mrkdwn(q)}`" for q in phrases.EXAMPLE_QUESTIONS)
    blocks: list[dict[str, Any]] = [
        _header("awssec: AWS security answers"),
        # Escaped as a whole: "<question>" unescaped would render as a broken link.
        _section(escape_mrkdwn(_HOME_USAGE)),
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
    question = data["q"]

    def encoded(length: int) -> str:
        return json.dumps(
            {**data, "q": question[:length]}, separators=(",", ":"), ensure_ascii=False
        )

    value = encoded(len(question))
    if _utf8_len(value) <= MAX_BUTTON_VALUE:
        return value
    # JSON escaping can make the question grow (`"` → `\"`) and non-ASCII characters take
    # 2-4 bytes, so find the longest prefix that fits by bisection instead of cutting by the
    # excess (which could drop it all).
    low, high = 0, len(question)  # encoded(low) fits (if anything does), encoded(high) not
    while high - low > 1:
        middle = (low + high) // 2
        if _utf8_len(encoded(middle)) <= MAX_BUTTON_VALUE:
            low = middle
        else:
            high = middle
    return encoded(low)


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
