"""Action ids, block ids and button values: what listeners match on and decode.

Action ids carry a per-message suffix (`action_id_pattern` matches them); block ids get a
fresh suffix per rendering. The "Share in channel" button value encodes a whole answer."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.elements import MAX_BUTTON_VALUE, block_id_prefix, utf8_len

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
# The "Not helpful" comment modal.
VIEW_FEEDBACK_COMMENT = "awssec_feedback_comment"
COMMENT_BLOCK_ID = "awssec_comment"
COMMENT_ACTION_ID = "comment"
MAX_COMMENT_CHARS = 2000

# Teaching (bot/rendering/blocks/teaching.py). The topic menus carry what they teach in their
# block id: "<prefix>:<reference>:<fresh suffix>" (read it back with `block_reference`); the
# chosen topic id is the selected option's value.
ACTION_TEACH = "awssec_teach"  # "Answer with…" on a missed group; block: TEACH_BLOCK_ID
ACTION_CORRECT = "awssec_correct"  # "the right topic is…" on a vote; block: CORRECT_BLOCK_ID
ACTION_ASK_EXPERTS = "awssec_ask_experts"  # button on a miss; value: the recorded answer's id
ACTION_EXPERT_TOPIC = "awssec_expert_topic"  # "Answer with topic…"; block: HANDOFF_BLOCK_ID
ACTION_EXPERT_WRITE = "awssec_expert_write"  # "Write an answer"; value: the hand-off id
TEACH_BLOCK_ID = "awssec_teach"  # reference: a group key
CORRECT_BLOCK_ID = "awssec_correct"  # reference: the recorded answer's id
HANDOFF_BLOCK_ID = "awssec_handoff"  # reference: the hand-off id
# The expert's "Write an answer" modal (private_metadata: the hand-off id).
VIEW_EXPERT_ANSWER = "awssec_expert_answer"
EXPERT_ANSWER_BLOCK_ID = "awssec_expert_answer_text"
EXPERT_ANSWER_ACTION_ID = "answer"
MAX_EXPERT_ANSWER_CHARS = 3000

SLASH_COMMAND = "/awssec"


def block_reference(block_id: str | None, prefix: str) -> str | None:
    """The reference in a teaching block id ("awssec_teach:<key>:<suffix>" → "<key>")."""
    parts = str(block_id or "").split(":")
    if len(parts) >= 2 and parts[0] == prefix and parts[1]:
        return parts[1]
    return None


def action_id_pattern(action: str) -> re.Pattern[str]:
    """Matches the action ids built from `action` (`awssec_share`, `awssec_show_topic:3`)."""
    return re.compile(rf"^{re.escape(action)}(?::\d+)?$")


class ActionIds:
    """Hands out message-unique action ids; share one across everything in a message."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self, action: str) -> str:
        self._n += 1
        return f"{action}:{self._n}"


def is_feedback_block(block: dict[str, Any]) -> bool:
    """The 👍/👎 (or "Change to …") actions block of an answer, whichever rendering it is."""
    return block_id_prefix(block) == FEEDBACK_BLOCK_ID


def is_feedback_note(block: dict[str, Any]) -> bool:
    """The "Thanks! Marked …" context block that `feedback_thanks_blocks` puts in."""
    return block_id_prefix(block) == FEEDBACK_NOTE_BLOCK_ID


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
    if utf8_len(value) <= MAX_BUTTON_VALUE:
        return value
    # JSON escaping can make the question grow (`"` → `\"`) and non-ASCII characters take
    # 2-4 bytes, so find the longest prefix that fits by bisection instead of cutting by the
    # excess (which could drop it all).
    low, high = 0, len(question)  # encoded(low) fits (if anything does), encoded(high) not
    while high - low > 1:
        middle = (low + high) // 2
        if utf8_len(encoded(middle)) <= MAX_BUTTON_VALUE:
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
