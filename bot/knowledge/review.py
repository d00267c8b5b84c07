"""Checks that keep the knowledge healthy but do not stop it loading: warnings, staleness."""

from __future__ import annotations

import datetime as dt

from bot.knowledge.model import KnowledgeBase, Topic
from bot.knowledge.problems import Problem

# Fewer example questions than this and the matcher has too little to learn a topic's
# wording from (and cross-validation too little to test it). More costs writers' time.
MIN_EXAMPLE_QUESTIONS = 12


def knowledge_warnings(kb: KnowledgeBase) -> list[Problem]:
    """Per topic: too few example questions, no `reviewed` date."""
    warnings = []
    for topic in kb.topics:
        if len(topic.questions) < MIN_EXAMPLE_QUESTIONS:
            warnings.append(
                Problem(
                    topic.file,
                    topic.line,
                    f"warning: topic '{topic.id}' has {len(topic.questions)} example questions "
                    f"(at least {MIN_EXAMPLE_QUESTIONS} recommended)",
                )
            )
        if topic.reviewed is None:
            warnings.append(
                Problem(
                    topic.file,
                    topic.line,
                    f"warning: topic '{topic.id}' has no 'reviewed: YYYY-MM-DD' date",
                )
            )
    return sorted(warnings)


def stale_topics(kb: KnowledgeBase, days: int, today: dt.date | None = None) -> list[Topic]:
    """Topics whose facts were last checked more than `days` days ago (or never), oldest first."""
    today = today or dt.date.today()
    cutoff = today - dt.timedelta(days=days)
    stale = [t for t in kb.topics if t.reviewed is None or t.reviewed < cutoff]
    return sorted(stale, key=lambda t: (t.reviewed or dt.date.min, t.id))
