"""What listeners need beyond Bolt's own arguments, handed to them through `context`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.config import Settings
from bot.knowledge.model import KnowledgeBase
from bot.matcher.answer import Answer
from bot.slack.reliability.dedup import Deduplicator

if TYPE_CHECKING:
    from bot.storage import Store

CONTEXT_KEY = "awssec"


class AnswerSource(Protocol):
    """What the Slack layer uses of `bot.matcher.service.AnswerService`."""

    @property
    def knowledge(self) -> KnowledgeBase: ...

    def answer(
        self, question: str, *, team_id: str | None = None, context_topic: str | None = None
    ) -> Answer: ...


@dataclass(frozen=True, eq=False)
class Deps:
    service: AnswerSource
    dedup: Deduplicator
    # Where answers, votes and comments are recorded; None records nothing (unit tests).
    store: Store | None = None
    # Slack user ids allowed to see `/awssec report`.
    admins: frozenset[str] = field(default_factory=frozenset)
    # The validated settings (bot/config.py), read once at start-up: listeners take the
    # experts channel, follow-up window, etc. from here, never from the environment.
    settings: Settings = field(default_factory=Settings)

    # Bolt deep-copies `context` for every lazy listener; these are shared, long-lived
    # objects (a matcher index, a lock-guarded cache), so the "copy" is the object itself.
    def __copy__(self) -> Deps:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Deps:
        return self

    def is_admin(self, user_id: str | None, team_id: str | None = None) -> bool:
        """May `user_id` (in `team_id`) see reports and teach the bot?

        AWSSEC_ADMINS holds plain user ids (an admin in every team) and `TEAM:USER` pairs
        (an admin in that team only).
        """
        if not user_id:
            return False
        return user_id in self.admins or (bool(team_id) and f"{team_id}:{user_id}" in self.admins)


def deps_of(context: Any) -> Deps:
    return context[CONTEXT_KEY]
