"""The feedback area of an answer (👍/👎, thanks, "Change to …") and the "Not helpful"
comment modal."""

from __future__ import annotations

import json
from typing import Any

from bot.rendering.blocks.elements import (
    MAX_MESSAGE_BLOCKS,
    SLACK_USER_ID,
    button_element,
    context_block,
    fit_blocks,
    fresh_block_id,
    section_block,
)
from bot.rendering.blocks.ids import (
    ACTION_FEEDBACK_HELPFUL,
    ACTION_FEEDBACK_NOT_HELPFUL,
    COMMENT_ACTION_ID,
    COMMENT_BLOCK_ID,
    FEEDBACK_BLOCK_ID,
    FEEDBACK_NOTE_BLOCK_ID,
    MAX_COMMENT_CHARS,
    VIEW_FEEDBACK_COMMENT,
    is_feedback_block,
    is_feedback_note,
)
from bot.rendering.mrkdwn import escape_mrkdwn


def feedback_blocks(answer_id: int) -> list[dict[str, Any]]:
    """The "Helpful" / "Not helpful" buttons under an answer (value: the answer id)."""
    value = str(int(answer_id))
    return [
        {
            "type": "actions",
            "block_id": fresh_block_id(FEEDBACK_BLOCK_ID),
            "elements": [
                button_element("👍 Helpful", ACTION_FEEDBACK_HELPFUL, value=value),
                button_element("👎 Not helpful", ACTION_FEEDBACK_NOT_HELPFUL, value=value),
            ],
        }
    ]


def feedback_thanks_blocks(answer_id: int, user_id: str | None, helpful: bool) -> list[dict]:
    """What replaces the feedback buttons after a vote: thanks, and a button to change it."""
    who = f", <@{user_id}>" if user_id and SLACK_USER_ID.match(user_id) else ""
    verdict = "helpful" if helpful else "not helpful"
    other, action = (
        ("not helpful", ACTION_FEEDBACK_NOT_HELPFUL)
        if helpful
        else ("helpful", ACTION_FEEDBACK_HELPFUL)
    )
    note = context_block(f"Thanks{who}! Marked {verdict}.")
    note["block_id"] = fresh_block_id(FEEDBACK_NOTE_BLOCK_ID)
    change = {
        "type": "actions",
        "block_id": fresh_block_id(FEEDBACK_BLOCK_ID),
        "elements": [button_element(f"Change to {other}", action, value=str(int(answer_id)))],
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
        out = fit_blocks(out, replacement, MAX_MESSAGE_BLOCKS)
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
            section_block("Thanks for telling me. What were you looking for? (optional)"),
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
            context_block("Please don't paste credentials or other secrets here."),
        ],
    }


def feedback_notice_modal(text: str) -> dict[str, Any]:
    """What the comment modal turns into when the vote behind it could not be recorded."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not helpful"},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [section_block(escape_mrkdwn(text))],
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
