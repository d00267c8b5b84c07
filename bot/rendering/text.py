"""Render an Answer as plain text: the terminal view and the `text` of every JSON answer."""

from __future__ import annotations

import datetime as dt

from bot import config
from bot.knowledge.model import KnowledgeBase, Topic
from bot.matcher.answer import Answer, AnswerKind
from bot.rendering import phrases

# "Last reviewed Nov 2024 — may be out of date": month and year, like the "Reviewed" label.
STALE_FORMAT = "Last reviewed %b %Y — may be out of date"


def stale_label(topic: Topic, today: dt.date | None = None) -> str | None:
    """The warning for a topic reviewed more than AWSSEC_STALE_DAYS days ago, else None
    (also None for a topic with no review date: `awssec check` warns about those)."""
    if topic.reviewed is None:
        return None
    today = today or dt.date.today()
    if topic.reviewed >= today - dt.timedelta(days=config.stale_days()):
        return None
    return topic.reviewed.strftime(STALE_FORMAT)


def render_topic_text(topic: Topic, names: dict[str, str] | None = None) -> str:
    lines = [f"{topic.name} ({topic.category})", topic.summary, "", "Key facts:"]
    lines += [f"  • {fact}" for fact in topic.facts]
    if topic.related:
        related = [names.get(r, r) if names else r for r in topic.related]
        lines.append(f"Related: {', '.join(related)}")
    lines.append(f"Docs: {topic.url}")
    if topic.reviewed:
        lines.append(stale_label(topic) or phrases.reviewed_label(topic.reviewed))
    return "\n".join(lines)


def render_text(answer: Answer, kb: KnowledgeBase | None = None, command: str = "awssec") -> str:
    """The whole answer as plain text; `kb` lets related ids show as service names."""
    names = {t.id: t.name for t in kb.topics} if kb else None
    if answer.kind is AnswerKind.SMALL_TALK:
        return phrases.small_talk_reply(answer.small_talk or "greeting", command)
    if answer.kind is AnswerKind.EMPTY:
        return phrases.empty_question_reply()
    if answer.kind is AnswerKind.COMPARISON:
        title = "Comparing " + " and ".join(t.name for t in answer.topics) + ":"
        parts = [render_topic_text(t, names) for t in answer.topics]
        return "\n\n".join([title, *parts])
    if answer.topics:
        text = render_topic_text(answer.topics[0], names)
        if answer.suggestions:
            text += f"\n\n{phrases.DID_YOU_MEAN}: {_names(answer.suggestions)}?"
        return text
    lines = [phrases.DONT_KNOW]
    if answer.suggestions:
        lines.append(f"{phrases.CLOSEST} {_names(answer.suggestions)}.")
    lines.append(phrases.LIST_HINT.format(list_command=f"{command} list".strip()))
    return "\n".join(lines)


def render_list_text(kb: KnowledgeBase) -> str:
    """Every topic, grouped by category."""
    lines: list[str] = []
    for category, topics in kb.by_category().items():
        lines.append(f"{category}:")
        lines += [f"  {t.name}  [{t.id}]" for t in topics]
        lines.append("")
    lines.append(f"{len(kb)} topics.")
    return "\n".join(lines)


def _names(topics: tuple[Topic, ...]) -> str:
    return ", ".join(t.name for t in topics)
