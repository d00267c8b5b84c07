"""Block Kit for conversations: the note on an answer nobody asked the bot for."""

from __future__ import annotations

from typing import Any

from bot.rendering.blocks.elements import MAX_MESSAGE_BLOCKS

AUTO_ANSWER_NOTE = "Answered automatically because this channel has auto-answer on"


def with_auto_answer_note(message: dict[str, Any]) -> dict[str, Any]:
    """`message` (text + blocks) saying it was posted automatically, first thing after the
    header, so readers know nobody summoned the bot (the feedback buttons stay)."""
    note = {"type": "context", "elements": [{"type": "mrkdwn", "text": f"_{AUTO_ANSWER_NOTE}_"}]}
    blocks = list(message.get("blocks") or [])
    if len(blocks) >= MAX_MESSAGE_BLOCKS:
        # No room for a block (Slack would reject the message): a row of facts gives way.
        blocks = blocks[:1] + blocks[2:]
    at = 1 if blocks and blocks[0].get("type") == "header" else 0
    blocks.insert(at, note)
    text = f"{message.get('text', '')}\n({AUTO_ANSWER_NOTE}.)".strip()
    return {**message, "text": text, "blocks": blocks}
