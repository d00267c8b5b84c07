"""Block Kit building blocks and Slack's limits: every text is escaped and trimmed here,
so Slack never rejects a message built from them."""

from __future__ import annotations

import re
import uuid
from typing import Any

from bot.rendering.mrkdwn import escape_mrkdwn, truncate

# Hex digits of the fresh suffix: 48 random bits, so two renderings of one message never
# collide in practice, while the id stays far below Slack's 255-character limit.
_BLOCK_ID_SUFFIX_CHARS = 12
# A Slack user id, safe to put in a <@…> mention.
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")

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


def header_block(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER), "emoji": True},
    }


def mrkdwn_text(text: str, limit: int, verbatim: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "mrkdwn", "text": truncate(text, limit)}
    if verbatim:
        # Text quoting a user: Slack must not auto-link URLs or channel names, or turn a
        # plain "@here" into a ping. Explicit <@U…> mentions we write still work.
        obj["verbatim"] = True
    return obj


def section_block(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn_text(mrkdwn, MAX_SECTION, verbatim)}


def context_block(mrkdwn: str, *, verbatim: bool = False) -> dict[str, Any]:
    return {"type": "context", "elements": [mrkdwn_text(mrkdwn, MAX_CONTEXT_TEXT, verbatim)]}


def divider_block() -> dict[str, Any]:
    return {"type": "divider"}


def fresh_block_id(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex[:_BLOCK_ID_SUFFIX_CHARS]}"


def block_id_prefix(block: dict[str, Any]) -> str:
    return str(block.get("block_id") or "").partition(":")[0]


def utf8_prefix(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` whose UTF-8 encoding fits in `max_bytes` (whole
    characters only)."""
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def utf8_len(text: str) -> int:
    return len(text.encode())


def button_element(
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


def actions_blocks(elements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Buttons as actions blocks, split so none holds more than Slack allows."""
    return [
        {"type": "actions", "elements": elements[i : i + MAX_ACTIONS_ELEMENTS]}
        for i in range(0, len(elements), MAX_ACTIONS_ELEMENTS)
    ]


def bullet_chunks(items: tuple[str, ...] | list[str]) -> list[str]:
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


def fit_blocks(
    blocks: list[dict[str, Any]], footer: list[dict[str, Any]], limit: int
) -> list[dict]:
    """`blocks` + `footer`, dropping blocks from the end of `blocks` to stay within `limit`."""
    room = limit - len(footer)
    if len(blocks) > room:
        blocks = [*blocks[: room - 1], context_block("_…trimmed to fit in one Slack message._")]
    return blocks + footer
