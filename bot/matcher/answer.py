"""What the matcher returns: the topics a question is about, and how sure it is."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.knowledge.model import Topic


class AnswerKind(StrEnum):
    TOPIC = "topic"  # one confident topic (maybe with "did you mean" suggestions)
    COMPARISON = "comparison"  # "X vs Y": two or more topics, all answered
    NO_MATCH = "no_match"  # nothing confident; `suggestions` may hold close topics
    SMALL_TALK = "small_talk"  # greetings, thanks, help: `small_talk` names which
    EMPTY = "empty"  # nothing left after stripping markup and filler


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    kind: AnswerKind
    topics: tuple[Topic, ...] = ()  # topics the answer covers, best first
    suggestions: tuple[Topic, ...] = ()  # offered as "did you mean"
    confidence: float = 0.0  # 0..1
    small_talk: str | None = None  # "greeting" | "thanks" | "help" for SMALL_TALK

    @property
    def topic_ids(self) -> list[str]:
        return [t.id for t in self.topics]

    @property
    def suggestion_ids(self) -> list[str]:
        return [t.id for t in self.suggestions]

    @property
    def answered(self) -> bool:
        return bool(self.topics)
