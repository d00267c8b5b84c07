"""The knowledge base's data types: plain, immutable, with no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

# Topics drawn from the study notes vs. topics added beyond them.
SOURCE_NOTES = "notes"
SOURCE_BEYOND_NOTES = "beyond-notes"


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: str
    aliases: tuple[str, ...]
    category: str
    summary: str
    facts: tuple[str, ...]
    questions: tuple[str, ...]
    related: tuple[str, ...]
    url: str
    keywords: tuple[str, ...] = ()
    source: str = SOURCE_NOTES
    # The day the facts were last checked against the AWS documentation.
    reviewed: dt.date | None = None
    # Where the topic was defined, for error messages and `awssec check`.
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class OutOfScopeArea:
    """Questions the bot must refuse, grouped by what they are about ("S3 storage classes
    and lifecycle"): AWS operations that share words with a security topic, other clouds,
    chatter. The matcher refuses a question that reads more like one of these than like any
    topic (docs/matching.md, "Out-of-scope areas")."""

    name: str
    questions: tuple[str, ...]
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class KnowledgeBase:
    topics: tuple[Topic, ...]
    # term -> phrases it stands for, e.g. "pii" -> ("personally identifiable information",)
    synonyms: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Names of AWS services with no topic: a question naming one is about something the
    # knowledge does not cover (an out-of-scope signal for the matcher).
    services: tuple[str, ...] = ()
    # Cloud and edge providers other than AWS ("azure", "cloudflare"): a question about one
    # of their products is refused (the matcher's reading says when it is).
    other_clouds: tuple[str, ...] = ()
    # Other vendors' products ("zoom", "wiz", "veeam"), read exactly as other_clouds are.
    other_vendors: tuple[str, ...] = ()
    # What the knowledge deliberately does not answer, with example questions.
    out_of_scope: tuple[OutOfScopeArea, ...] = ()
    # Short content hash: tells which knowledge a running bot is serving.
    version: str = ""
    _by_id: Mapping[str, Topic] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {t.id: t for t in self.topics})

    def get(self, topic_id: str) -> Topic | None:
        return self._by_id.get(topic_id)

    def __len__(self) -> int:
        return len(self.topics)

    def by_category(self) -> dict[str, list[Topic]]:
        """Topics grouped by category, categories and topics sorted by name."""
        groups: dict[str, list[Topic]] = {}
        for topic in sorted(self.topics, key=lambda t: t.name.lower()):
            groups.setdefault(topic.category, []).append(topic)
        return dict(sorted(groups.items()))
