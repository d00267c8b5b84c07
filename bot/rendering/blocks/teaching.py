"""Teaching in Slack: the admins' report with "Answer with…" topic menus, corrections of
"Not helpful" answers, the DM to people whose question was taught, and the hand-off of a
question to the security team (the experts' message, their modal, the reply in the thread).

Questions reach these builders already guarded by the Slack layer: `None` stands for a
question that must not be quoted (it held something shaped like a key).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering.blocks.answers import render_blocks
from bot.rendering.blocks.elements import (
    MAX_FALLBACK_TEXT,
    MAX_MESSAGE_BLOCKS,
    MAX_VIEW_BLOCKS,
    SLACK_USER_ID,
    actions_blocks,
    button_element,
    context_block,
    divider_block,
    fit_blocks,
    fresh_block_id,
    header_block,
    section_block,
)
from bot.rendering.blocks.ids import (
    ACTION_CORRECT,
    ACTION_EXPERT_TOPIC,
    ACTION_EXPERT_WRITE,
    ACTION_TEACH,
    CORRECT_BLOCK_ID,
    EXPERT_ANSWER_ACTION_ID,
    EXPERT_ANSWER_BLOCK_ID,
    HANDOFF_BLOCK_ID,
    MAX_EXPERT_ANSWER_CHARS,
    TEACH_BLOCK_ID,
    VIEW_EXPERT_ANSWER,
    ActionIds,
)
from bot.rendering.mrkdwn import escape_mrkdwn, plain_from_slack, truncate

# Slack's limits for selects (https://api.slack.com/reference/block-kit/block-elements).
# A static select holds at most 100 options in all; beyond that the menus become external
# selects, whose options the bot serves as the admin types (at most 100 per answer too).
MAX_SELECT_OPTIONS = 100
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 150
MAX_OPTION_GROUP_LABEL = 75
MAX_PLACEHOLDER = 150
# Characters typed before Slack asks for options of an external select. Trade: 0 lists the
# first 100 topics as soon as the menu opens (no typing needed), 1+ saves a request per open.
MIN_QUERY_LENGTH = 0
# How much of a question a teaching line quotes. Trade: more context per group, at longer
# sections (the report and Home tab show up to ten groups).
MAX_QUOTED = 200
# Other wordings of a group shown under its example. Trade: more show what will be taught,
# at a longer report.
MAX_WORDINGS_SHOWN = 3
NOT_QUOTED = "(question not shown: it contains something shaped like a key)"
# "Jan 2, 2026": when someone asked; the time of day adds nothing to a DM.
ASKED_FORMAT = "%b %-d, %Y"


def _quote(question: str | None, limit: int = MAX_QUOTED) -> str:
    """A user's question as inert, escaped mrkdwn (show with verbatim), or the not-shown note."""
    if question is None:
        return f"_{NOT_QUOTED}_"
    plain = " ".join(plain_from_slack(question).split())
    return f"“{escape_mrkdwn(truncate(plain, limit))}”"


def _user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id and SLACK_USER_ID.match(user_id) else "someone"


def _option(topic: Topic) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": truncate(topic.name, MAX_OPTION_TEXT)},
        "value": topic.id[:MAX_OPTION_VALUE],
    }


def topic_option_groups(
    kb: KnowledgeBase, query: str = "", limit: int = MAX_SELECT_OPTIONS
) -> list[dict[str, Any]]:
    """Topics as option groups by category, at most `limit` options in all: those whose name,
    id or alias contains `query` (names starting with it first), every topic for ""."""
    words = " ".join(query.lower().split())
    chosen: list[Topic] = []
    if not words:
        chosen = list(kb.topics)
    else:
        starts, contains = [], []
        for topic in kb.topics:
            names = [topic.name.lower(), topic.id, *(a.lower() for a in topic.aliases)]
            if any(n.startswith(words) for n in names):
                starts.append(topic)
            elif any(words in n for n in names):
                contains.append(topic)
        chosen = starts + contains
    chosen = chosen[:limit]
    keep = {t.id for t in chosen}
    groups = []
    for category, topics in kb.by_category().items():
        options = [_option(t) for t in topics if t.id in keep]
        if options:
            label = truncate(category, MAX_OPTION_GROUP_LABEL)
            groups.append({"label": {"type": "plain_text", "text": label}, "options": options})
    return groups


def uses_external_select(kb: KnowledgeBase) -> bool:
    """Too many topics for one static select: the menus load their options as one types."""
    return len(kb) > MAX_SELECT_OPTIONS


def topic_select(kb: KnowledgeBase, action_id: str, placeholder: str) -> dict[str, Any]:
    """A topic menu: a static select grouped by category while the topics fit Slack's 100
    options, else an external select served by the options listener."""
    text = {"type": "plain_text", "text": truncate(placeholder, MAX_PLACEHOLDER)}
    if uses_external_select(kb):
        return {
            "type": "external_select",
            "action_id": action_id,
            "placeholder": text,
            "min_query_length": MIN_QUERY_LENGTH,
        }
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": text,
        "option_groups": topic_option_groups(kb),
    }


def _block_id(prefix: str, reference: str | int) -> str:
    # A fresh suffix per rendering: Slack may keep showing an old block when an update
    # reuses its id.
    return fresh_block_id(f"{prefix}:{reference}")


# --- the admins' teaching section -------------------------------------------------------------


@dataclass(frozen=True)
class GroupLine:
    """One missed-question group as the teaching section shows it."""

    group_key: str
    count: int
    example: str | None  # None: not quoted (secret-shaped)
    wordings: tuple[str | None, ...] = ()
    taught_topic: str | None = None
    taught_by: str | None = None


@dataclass(frozen=True)
class VoteLine:
    """One "Not helpful" vote as the teaching section shows it."""

    answer_id: int
    question: str | None
    topic_ids: tuple[str, ...]
    voter_id: str | None
    corrected_topic: str | None = None
    corrected_by: str | None = None


def _topic_name(kb: KnowledgeBase, topic_id: str) -> str:
    topic = kb.get(topic_id)
    return topic.name if topic is not None else topic_id


def teaching_blocks(
    kb: KnowledgeBase,
    groups: Sequence[GroupLine],
    votes: Sequence[VoteLine],
    ids: ActionIds,
    *,
    period: str,
) -> list[dict[str, Any]]:
    """The report's teaching part: each missed group with "Answer with…", each "Not helpful"
    vote with "the right topic is…" (or what it was taught as)."""
    blocks: list[dict[str, Any]] = [
        header_block("Teach awssec"),
        context_block(
            escape_mrkdwn(
                f"Missed questions and “Not helpful” votes, {period}. Choosing a topic teaches "
                "the bot every wording of the group and tells the people who asked."
            )
        ),
    ]
    if not groups:
        blocks.append(section_block("_No missed questions._"))
    for group in groups:
        line = f"*{group.count} ×* {_quote(group.example)}"
        others = [w for w in group.wordings if w != group.example][:MAX_WORDINGS_SHOWN]
        if others:
            line += "\n" + "\n".join(f"• {_quote(w, 80)}" for w in others)
        if group.taught_topic is not None:
            name = escape_mrkdwn(_topic_name(kb, group.taught_topic))
            line += f"\n:white_check_mark: Taught as *{name}* by {_user(group.taught_by)}"
        block = section_block(line, verbatim=True)
        block["block_id"] = _block_id(TEACH_BLOCK_ID, group.group_key)
        block["accessory"] = topic_select(
            kb, ids(ACTION_TEACH), "Teach another topic…" if group.taught_topic else "Answer with…"
        )
        blocks.append(block)
    blocks.append(divider_block())
    blocks.append(section_block("*Latest “Not helpful” votes*"))
    if not votes:
        blocks.append(section_block("_No “Not helpful” votes._"))
    for vote in votes:
        answered = ", ".join(escape_mrkdwn(_topic_name(kb, t)) for t in vote.topic_ids) or "-"
        voter = _user(vote.voter_id)
        line = f"{_quote(vote.question)}\nanswered *{answered}*; {voter} said not helpful"
        if vote.corrected_topic is not None:
            name = escape_mrkdwn(_topic_name(kb, vote.corrected_topic))
            line += f"\n:white_check_mark: Corrected to *{name}* by {_user(vote.corrected_by)}"
        block = section_block(line, verbatim=True)
        block["block_id"] = _block_id(CORRECT_BLOCK_ID, vote.answer_id)
        block["accessory"] = topic_select(kb, ids(ACTION_CORRECT), "The right topic is…")
        blocks.append(block)
    return blocks


def report_with_teaching(
    summary_blocks: list[dict[str, Any]], teaching: list[dict[str, Any]], text: str
) -> dict[str, Any]:
    """`/awssec report`: the summary, then the teaching part, within one message's blocks."""
    blocks = fit_blocks([*summary_blocks, divider_block(), *teaching], [], MAX_MESSAGE_BLOCKS)
    return {"text": text, "blocks": blocks}


def home_with_teaching(
    home: dict[str, Any], teaching: list[dict[str, Any]], note: str | None = None
) -> dict[str, Any]:
    """An admin's App Home: the teaching part first (with a notice, if any), then the
    catalogue, trimmed to a view's 100 blocks."""
    top = [section_block(f":warning: {escape_mrkdwn(note)}")] if note else []
    blocks = [*top, *teaching, divider_block(), *home.get("blocks", [])]
    return {**home, "blocks": fit_blocks(blocks, [], MAX_VIEW_BLOCKS)}


def notice_modal(text: str, title: str = "awssec") -> dict[str, Any]:
    """A small modal telling whoever clicked in the App Home what happened."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": truncate(title, 24)},
        "close": {"type": "plain_text", "text": "OK"},
        "blocks": [section_block(escape_mrkdwn(text))],
    }


def taught_note(kb: KnowledgeBase, topic_id: str, learned: int, told: int) -> str:
    """What the admin is told after choosing a topic for a group."""
    name = _topic_name(kb, topic_id)
    if learned:
        what = f"Taught {learned} wording{'s' if learned != 1 else ''} as {name}."
    else:
        what = f"Already taught as {name}: nothing new to learn."
    if told:
        what += f" Told {told} {'person' if told == 1 else 'people'} who asked."
    return what


# --- the DM to people whose question was taught -----------------------------------------------


def _topic_answer(topic: Topic, kb: KnowledgeBase, ids: ActionIds) -> list[dict[str, Any]]:
    answer = Answer(question=topic.name, kind=AnswerKind.TOPIC, topics=(topic,), confidence=1.0)
    return render_blocks(answer, kb=kb, ids=ids)


def asker_message(
    topic: Topic, kb: KnowledgeBase, question: str | None, asked_at: dt.datetime
) -> dict[str, Any]:
    """ "You asked … on …; here is the answer", with the topic's answer."""
    ids = ActionIds()
    when = asked_at.strftime(ASKED_FORMAT)
    intro = f"You asked {_quote(question)} on {escape_mrkdwn(when)}; here is the answer."
    blocks = [section_block(intro, verbatim=True), *_topic_answer(topic, kb, ids)]
    text = f"You asked on {when}; here is the answer: {topic.name}"
    return {
        "text": truncate(escape_mrkdwn(text), MAX_FALLBACK_TEXT),
        "blocks": fit_blocks(blocks, [], MAX_MESSAGE_BLOCKS),
    }


# --- the hand-off to the security team --------------------------------------------------------


def handoff_message(
    kb: KnowledgeBase,
    *,
    handoff_id: int,
    question: str | None,
    asker_id: str | None,
    clicked_by: str | None,
    channel_id: str | None,
    permalink: str | None,
    group_id: str | None,
    private: bool = False,
) -> dict[str, Any]:
    """The question as posted in the experts channel, with the two ways to answer it."""
    ping = f"<!subteam^{group_id}> " if group_id else ""
    where = f" in <#{channel_id}>" if channel_id and channel_id[:1] in "CG" else ""
    lines = [f"{ping}:raising_hand: {_user(asker_id)} asked{where}:", f">{_quote(question)}"]
    if clicked_by and clicked_by != asker_id:
        lines.append(f"(handed over by {_user(clicked_by)})")
    if private:
        lines.append("_Asked privately: the answer goes to them as a direct message._")
    elif permalink and permalink.startswith(("https://", "http://")):
        lines.append(f"<{permalink}|View the original message>")
    ids = ActionIds()
    controls = {
        "type": "actions",
        "block_id": _block_id(HANDOFF_BLOCK_ID, handoff_id),
        "elements": [
            topic_select(kb, ids(ACTION_EXPERT_TOPIC), "Answer with topic…"),
            button_element("Write an answer", ids(ACTION_EXPERT_WRITE), value=str(int(handoff_id))),
        ],
    }
    return {
        "text": truncate("A question for the security team", MAX_FALLBACK_TEXT),
        "blocks": [section_block("\n".join(lines), verbatim=True), controls],
    }


def handoff_answered_message(
    *, question: str | None, asker_id: str | None, expert_id: str, how: str
) -> dict[str, Any]:
    """The experts' message once answered: the controls make way for who answered how."""
    lines = [f":raising_hand: {_user(asker_id)} asked:", f">{_quote(question)}"]
    done = f":white_check_mark: Answered by {_user(expert_id)} {escape_mrkdwn(how)}."
    return {
        "text": "A question for the security team (answered)",
        "blocks": [section_block("\n".join(lines), verbatim=True), context_block(done)],
    }


def expert_topic_reply(
    topic: Topic, kb: KnowledgeBase, *, asker_id: str | None, expert_id: str
) -> dict[str, Any]:
    """The reply in the original thread when an expert answers with a topic."""
    ids = ActionIds()
    intro = f"{_user(asker_id)}, the security team answered your question:"
    blocks = [
        section_block(intro),
        *_topic_answer(topic, kb, ids),
        context_block(f"Answered by {_user(expert_id)}"),
    ]
    text = f"{_user(asker_id)}, the security team answered: {escape_mrkdwn(topic.name)}"
    return {"text": truncate(text, MAX_FALLBACK_TEXT), "blocks": fit_blocks(blocks, [], 50)}


def expert_text_reply(text: str, *, asker_id: str | None, expert_id: str) -> dict[str, Any]:
    """The reply in the original thread with an expert's own (guarded) words."""
    body = escape_mrkdwn(truncate(text.strip(), MAX_EXPERT_ANSWER_CHARS))
    intro = f"{_user(asker_id)}, {_user(expert_id)} from the security team answered:"
    return {
        "text": truncate(f"{intro}\n{body}", MAX_FALLBACK_TEXT),
        "blocks": [
            section_block(intro),
            section_block(body, verbatim=True),
            context_block(f"Answered by {_user(expert_id)} (not reviewed knowledge yet)"),
        ],
    }


def expert_answer_modal(handoff_id: int, question: str | None) -> dict[str, Any]:
    """ "Write an answer": the expert's text goes to the asker's thread and into a draft."""
    return {
        "type": "modal",
        "callback_id": VIEW_EXPERT_ANSWER,
        "private_metadata": json.dumps({"handoff": int(handoff_id)}),
        "title": {"type": "plain_text", "text": "Answer the question"},
        "submit": {"type": "plain_text", "text": "Post answer"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section_block(f"*Question:* {_quote(question)}", verbatim=True),
            {
                "type": "input",
                "block_id": EXPERT_ANSWER_BLOCK_ID,
                "label": {"type": "plain_text", "text": "Your answer"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": EXPERT_ANSWER_ACTION_ID,
                    "multiline": True,
                    "max_length": MAX_EXPERT_ANSWER_CHARS,
                },
                "hint": {
                    "type": "plain_text",
                    "text": "Posted in the asker's thread and saved as a draft for review. "
                    "Never paste keys or passwords.",
                },
            },
        ],
    }


def expert_answer_handoff_id(view: dict[str, Any]) -> int | None:
    """The hand-off a submitted "Write an answer" modal is about."""
    try:
        value = int(json.loads(view.get("private_metadata") or "{}")["handoff"])
    except (ValueError, TypeError, KeyError):
        return None
    return value if value > 0 else None


def expert_answer_text(view: dict[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(EXPERT_ANSWER_BLOCK_ID) or {}
    value = (values.get(EXPERT_ANSWER_ACTION_ID) or {}).get("value")
    return str(value or "").strip()


__all__ = [
    "GroupLine",
    "VoteLine",
    "actions_blocks",
    "asker_message",
    "expert_answer_handoff_id",
    "expert_answer_modal",
    "expert_answer_text",
    "expert_text_reply",
    "expert_topic_reply",
    "handoff_answered_message",
    "handoff_message",
    "home_with_teaching",
    "notice_modal",
    "report_with_teaching",
    "taught_note",
    "teaching_blocks",
    "topic_option_groups",
    "topic_select",
    "uses_external_select",
]
